package yamldoc

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"00:04:9f:01:02:03", `"00:04:9f:01:02:03"`},
		{"5\n", `"5\n"`},
		{strings.Repeat("a", 64), `"` + strings.Repeat("a", 64) + `"`},
		{strings.Repeat("a", 65), `"` + strings.Repeat("a", 40) + `..." (65 characters)`},
		{strings.Repeat("9", 200000), `"` + strings.Repeat("9", 40) + `..." (200000 characters)`},
		// Cut between characters, never inside one.
		{strings.Repeat("é", 100), `"` + strings.Repeat("é", 40) + `..." (100 characters)`},
		{strings.Repeat("\x00", 100), `"` + strings.Repeat(`\x00`, 40) + `..." (100 characters)`},
	} {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%.20q...) = %.80s, want %.80s", c.in, got, c.want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"serial", "serial"},
		{strings.Repeat("v", 64), strings.Repeat("v", 64)},
		{strings.Repeat("v", 200000), strings.Repeat("v", 40) + "... (200000 characters)"},
	} {
		if got := Clip(c.in); got != c.want {
			t.Errorf("Clip(%.20q...) = %.80s, want %.80s", c.in, got, c.want)
		}
	}
}
