package yamldoc

import (
	"strings"
	"testing"
)

// TestDiagnosticsShown: a flood of problems reads as the first MaxShown
// and a count, as an error too (the journal records errors as text).
func TestDiagnosticsShown(t *testing.T) {
	var ds Diagnostics
	for i := 1; i <= MaxShown; i++ {
		ds.Add(Pos{File: "m.yaml", Line: i, Col: 1}, "", "problem %d", i)
	}
	if shown, more := ds.Shown(); len(shown) != MaxShown || more != 0 {
		t.Errorf("%d problems: Shown = %d, %d more", MaxShown, len(shown), more)
	}
	if n := strings.Count(ds.Error(), "\n") + 1; n != MaxShown {
		t.Errorf("%d problems: Error has %d lines", MaxShown, n)
	}
	for i := MaxShown + 1; i <= 1000; i++ {
		ds.Add(Pos{File: "m.yaml", Line: i, Col: 1}, "", "problem %d", i)
	}
	shown, more := ds.Shown()
	if len(shown) != MaxShown || more != 1000-MaxShown || shown[0].Message != "problem 1" {
		t.Errorf("1000 problems: Shown = %d from %q, %d more", len(shown), shown[0].Message, more)
	}
	lines := strings.Split(ds.Error(), "\n")
	if len(lines) != MaxShown+1 || lines[MaxShown] != "980 more problems not shown" {
		t.Errorf("1000 problems: Error has %d lines, the last %q", len(lines), lines[len(lines)-1])
	}
}
