package shquote

import (
	"os/exec"
	"strings"
	"testing"
)

// Each word comes back from a real shell as it went in.
func TestArgRoundTripsThroughSh(t *testing.T) {
	words := []string{"plain", "sim:/tmp/board", "", "with space", "it's", `a"b`, "$HOME", "a;b", "`x`", "*", "~", "a\\b", "-n", "tab\there", "new\nline", "é"}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	script := "for a in " + Join(words...) + "; do printf '%s\\0' \"$a\"; done"
	out, err := exec.Command(sh, "-c", script).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(words) {
		t.Fatalf("sh saw %d words %q, want %d", len(got), got, len(words))
	}
	for i := range words {
		if got[i] != words[i] {
			t.Errorf("word %d: sh saw %q, want %q (quoted %s)", i, got[i], words[i], Arg(words[i]))
		}
	}
	if Arg("/sys/bus/nvmem/devices/imx-ocotp0/nvmem") != "/sys/bus/nvmem/devices/imx-ocotp0/nvmem" {
		t.Error("a plain path is quoted")
	}
}
