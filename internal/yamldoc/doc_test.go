package yamldoc

import "testing"

// TestYAMLErrorLines: the parser's own complaints are placed on the line of
// the construct they are about, as its scanner's are, not the line before.
func TestYAMLErrorLines(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string
	}{
		{"flow mapping never closed", "a: 1\nb:\n  - {x: 1\n  - {x: 2}\n", "m.yaml:3: invalid YAML: did not find expected ',' or '}'"},
		{"flow sequence never closed", "a: 1\nb: [1, 2\nc: 3\n", "m.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{"block mapping broken", "a: 1\nb:\n  c: 1\n d: 2\n", "m.yaml:4: invalid YAML: did not find expected key"},
		{"undefined tag handle", "a: 1\nb: !x!y 1\n", "m.yaml:2: invalid YAML: found undefined tag handle"},
		// Scanner errors were numbered right already.
		{"a key without a colon", "a: 1\nb\nc: 2\n", "m.yaml:2: invalid YAML: could not find expected ':'"},
		{"tab indentation", "a:\n\tb: 1\n", "m.yaml:2: invalid YAML: found character that cannot start any token"},
	} {
		_, ds := Parse("m.yaml", "manifest", []byte(c.in), 1<<20)
		if len(ds) != 1 || ds[0].Pos.String()+": "+ds[0].Message != c.want {
			t.Errorf("%s: %v, want %s", c.name, ds, c.want)
		}
	}
}
