package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestRun: the words land little-endian at WORD*4 and nowhere else; a
// malformed argument or a read-back that differs is an error.
func TestRun(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "nvmem")
	if err := os.WriteFile(dev, make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{dev, "37=12345678", "0=0x000000ff"}); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 1024)
	copy(want[148:], []byte{0x78, 0x56, 0x34, 0x12})
	want[0] = 0xff
	if got, _ := os.ReadFile(dev); !bytes.Equal(got, want) {
		t.Errorf("device after floor: % x", got[:160])
	}
	for _, args := range [][]string{{dev}, {dev, "37"}, {dev, "x=1"}, {dev, "1=zz"}, {filepath.Join(t.TempDir(), "none"), "1=1"}} {
		if err := run(args); err == nil {
			t.Errorf("floor %q: no error", args)
		}
	}
}
