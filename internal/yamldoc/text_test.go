package yamldoc

import (
	"strings"
	"testing"
)

// TestCheckText: each kind of non-text is refused at its line and column,
// counted as the YAML parser counts them, so that the position matches
// the YAML parser's for every later problem.
func TestCheckText(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string // "" when the text is fine
	}{
		{"plain", "a: 1\nb: [2, 3]\n", ""},
		{"tabs, CRLF, a BOM, UTF-8", "\ufeffa: caf\u00e9\r\n\tb: \"x\"\r\n", ""},
		{"NUL", "a: 1\nname: m\x00\n", "m.yaml:2:8: manifest contains a NUL byte: not a text file"},
		{"NUL after CRLF", "a: 1\r\nb: 2\r\n\x00", "m.yaml:3:1: manifest contains a NUL byte"},
		{"NUL after a BOM", "\ufeffa\x00", "m.yaml:1:2: manifest contains a NUL byte"},
		{"NUL after a lone CR", "a: 1\rb\x00", "m.yaml:2:2: manifest contains a NUL byte"},
		{"columns are characters", "d: \u00e9\u00e9\x01", "m.yaml:1:6: manifest contains control character U+0001"},
		{"DEL", "\x7fELF", "m.yaml:1:1: manifest contains control character U+007F"},
		{"C1 control", "a: \u0085", "m.yaml:1:4: manifest contains control character U+0085"},
		{"line separator", "a: 1\u2028b: 2", "m.yaml:1:5: manifest contains control character U+2028"},
		{"Latin-1", "description: caf\xe9 board", "m.yaml:1:17: manifest is not UTF-8 text (byte 0xe9)"},
		{"UTF-16 LE", "\xff\xfea\x00:\x00", "m.yaml: manifest is UTF-16 text"},
		{"UTF-16 BE", "\xfe\xff\x00a\x00:", "m.yaml: manifest is UTF-16 text"},
	} {
		d := checkText("m.yaml", "manifest", []byte(c.in))
		switch {
		case c.want == "" && d != nil:
			t.Errorf("%s: refused: %s: %s", c.name, d.Pos, d.Message)
		case c.want != "" && d == nil:
			t.Errorf("%s: accepted, want %q", c.name, c.want)
		case d != nil && !strings.HasPrefix(d.Pos.String()+": "+d.Message, c.want):
			t.Errorf("%s: %s: %s, want %q", c.name, d.Pos, d.Message, c.want)
		}
	}
}
