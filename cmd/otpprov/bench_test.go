package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkPlanCommand is a whole plan command in-process, as main runs
// it: the process's env (stdout buffered, on /dev/null) and the final
// flush, against an image of the Digi board. It measures what the output
// path costs a run: it is written against terminal, run and Flush as
// they were before internal/output, so that the same file benchmarks both
// (with digiImage taking a *testing.T there).
func BenchmarkPlanCommand(b *testing.B) {
	img := digiImage(b)
	path := filepath.Join(b.TempDir(), "board.img")
	if err := os.WriteFile(path, img.Bytes, 0o644); err != nil {
		b.Fatal(err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	manifest := filepath.Join("..", "..", "examples", "imx8mm", "board.yaml")
	for _, bc := range []struct {
		name string
		args []string
	}{
		{"text", []string{"plan", "--device-kind", "image", "--soc", "imx8mm", "--device", path, manifest}},
		{"json", []string{"plan", "--json", "--device-kind", "image", "--soc", "imx8mm", "--device", path, manifest}},
		{"sh", []string{"plan", "--format", "sh", "--device-kind", "image", "--soc", "imx8mm", "--device", path, manifest}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				e := terminal(devnull, devnull, devnull)
				if code := run(context.Background(), append([]string{"otpprov"}, bc.args...), e); code != exitOK {
					b.Fatalf("exit %d", code)
				}
				e.Flush()
			}
		})
	}
}
