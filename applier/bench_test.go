package applier

import (
	"context"
	"testing"

	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// BenchmarkApply: 8 words burned and read back on a blank emulated
// i.MX8MM, with the final full read. Each iteration gets a fresh blank
// device (fuses burn once); making it is part of the measured time.
func BenchmarkApply(b *testing.B) {
	var targets []manifest.Target
	for k := 0; k < 8; k++ {
		targets = append(targets, manifest.NewTarget(imx8mm.SoC, 14+k/4, k%4, uint32(0x100+k), 0xffffffff))
	}
	p, err := planner.Make(planner.Source{Name: "bench"}, imx8mm, make([]uint32, imx8mm.Words), targets)
	if err != nil || p.Summary().Program != 8 {
		b.Fatalf("plan: %v", err)
	}
	for i := 0; i < b.N; i++ {
		dev := nvmem.NewDevice("emulator", nvmem.NewOTP(imx8mm.Words))
		res, err := Apply(context.Background(), dev, p)
		if err != nil || !res.OK() {
			b.Fatalf("%v %+v", err, res)
		}
	}
}
