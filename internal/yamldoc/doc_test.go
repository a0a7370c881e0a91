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

// TestControlCharacters: a value or key that YAML decodes to text holding
// a character that acts on a terminal is refused where it stands, whatever
// put it there (an escape, a raw tab, a block scalar's line breaks), and
// its value is left out for the schema. Numbers, booleans and text
// without such characters pass.
func TestControlCharacters(t *testing.T) {
	in := "a: \"x\\ey\"\n" + // an escape
		"\"k\\r\": 1\n" + // a key
		"b: |\n  two\n  lines\n" + // a block scalar
		"c: 'tab\there'\n" + // a raw tab
		"d: \"\\u202e\"\n" + // a bidi override
		"e: fine é ×\n" + "f: 0x10\n" + "g: true\n"
	d, ds := Parse("m.yaml", "manifest", []byte(in), 1<<20)
	want := []string{
		"m.yaml:1:4: a value holds control character U+001B",
		"m.yaml:2:1: a key holds control character U+000D",
		"m.yaml:3:4: a value holds control character U+000A",
		"m.yaml:6:4: a value holds control character U+0009",
		"m.yaml:7:4: a value holds control character U+202E",
	}
	if len(ds) != len(want) {
		t.Fatalf("diagnostics %v, want %d", ds, len(want))
	}
	for i, w := range want {
		if got := ds[i].Pos.String() + ": " + ds[i].Message; len(got) < len(w) || got[:len(w)] != w {
			t.Errorf("diagnostic %d: %s, want %s...", i, got, w)
		}
	}
	obj := d.Value.(map[string]any)
	for _, k := range []string{"a", "b", "c", "d"} {
		if obj[k] != nil || !d.Refused["/"+k] {
			t.Errorf("%s: %v kept, refused %v", k, obj[k], d.Refused["/"+k])
		}
	}
	if obj["e"] != "fine é ×" || obj["f"] == nil || obj["g"] != true {
		t.Errorf("clean values changed: %v", obj)
	}
}
