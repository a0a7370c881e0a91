package applier

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// recorder is the bus between the tool and the emulated controller: it
// notes every read and write as the driver would see it.
type recorder struct {
	*nvmem.OTP
	ops []string
}

func (r *recorder) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.OTP.ReadAt(p, off)
	r.ops = append(r.ops, fmt.Sprintf("read @%d: %d%s", off, n, eof(err)))
	return n, err
}

func (r *recorder) WriteAt(p []byte, off int64) (int, error) {
	n, err := r.OTP.WriteAt(p, off)
	r.ops = append(r.ops, fmt.Sprintf("write @%d: %d", off, n))
	return n, err
}

func eof(err error) string {
	if err == io.EOF {
		return " EOF"
	}
	return ""
}

// fullRead is a whole read of the i.MX8MM's 1024 bytes: the data, then
// the read that finds the end (the size is what the read returns; sysfs
// gives no size to trust).
var fullRead = []string{"read @0: 1024", "read @1024: 0 EOF"}

// TestApplyMinimalIO: a plan is made from one full read; apply then does,
// per programmed word, one 4-byte write at its write offset and one
// 4-byte read at its read offset, and one final full read for the
// report. Nothing else reaches the device.
func TestApplyMinimalIO(t *testing.T) {
	for _, words := range []int{1, 8, 40} {
		t.Run(fmt.Sprintf("%dwords", words), func(t *testing.T) {
			bus := &recorder{OTP: nvmem.NewOTP(imx8mm.Words)}
			dev := nvmem.NewDevice("emulator", bus)
			var targets []manifest.Target
			for k := 0; len(targets) < words; k++ {
				bank, word := 14+k/4, k%4 // GP and further user words, none a lock
				targets = append(targets, manifest.NewTarget(imx8mm.SoC, bank, word, uint32(k+1), 0xffffffff))
			}
			b, err := dev.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			p, err := planner.Make(planner.Source{Name: "io"}, imx8mm, nvmem.Words(b), targets)
			if err != nil || p.Rejected() || p.Summary().Program != words {
				t.Fatalf("plan: %v, %+v", err, p.Summary())
			}
			res, err := Apply(context.Background(), dev, p)
			if err != nil || !res.OK() {
				t.Fatalf("apply: %v, %+v", err, res)
			}
			want := slices.Clone(fullRead)
			for _, c := range p.Writes() {
				want = append(want, fmt.Sprintf("write @%d: 4", c.WriteOffset()), fmt.Sprintf("read @%d: 4", c.Offset()))
			}
			want = append(want, fullRead...)
			if !slices.Equal(bus.ops, want) {
				t.Errorf("device I/O:\n%q\nwant:\n%q", bus.ops, want)
			}
			if bus.Reads != 4+words || bus.Writes != words {
				t.Errorf("emulator counters: %d reads, %d writes; want %d, %d", bus.Reads, bus.Writes, 4+words, words)
			}
		})
	}
}
