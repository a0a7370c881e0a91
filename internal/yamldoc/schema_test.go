package yamldoc

import (
	"fmt"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/internal/schema"
)

// The generic wording of each keyword, at its place: an unknown or
// forbidden key at the key, anything else at the value.
func TestValidateGenericWording(t *testing.T) {
	s, err := schema.Compile([]byte(`{
		"type": "object",
		"required": ["need", "also"],
		"additionalProperties": false,
		"properties": {
			"need": true, "also": true,
			"n": {"type": "integer", "minimum": 2, "maximum": 7},
			"s": {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^[a-z]+$"},
			"t": {"type": ["integer", "string", "boolean"]},
			"c": {"const": "v1"},
			"e": {"enum": ["a", "b", 4]},
			"l": {"type": "array", "minItems": 2, "maxItems": 3},
			"o": {"type": "object", "minProperties": 2, "maxProperties": 3,
				"properties": {"gone": false, "x": true, "y": true}, "dependentRequired": {"x": ["y"]}},
			"m": {"type": "object", "required": ["k"]},
			"no": {"not": {"required": ["a"]}},
			"one": {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
			"len": {"minLength": 4}
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	src := `n: 9
s: ""
t: {a: 1}
c: v2
e: c
l: [1]
o: {gone: 1, x: 1}
m: {}
no: {a: 1}
one: {a: 1, b: 2}
len: abc
"": 1
bad key: 1
x: [1, 2, 3, 4]
`
	d, diags := Parse("f.yaml", "thing", []byte(src), 1<<20)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	got := d.Validate(s, nil)
	var lines []string
	for _, g := range got.Sorted() {
		lines = append(lines, fmt.Sprintf("%d:%d: %s", g.Pos.Line, g.Pos.Col, g.Message))
	}
	want := []string{
		`1:1: the thing: missing keys "need", "also"`,
		`1:4: n must be at most 7`,
		`2:4: s must not be empty`,
		`2:4: s must match the regular expression ^[a-z]+$`,
		`3:4: t must be an integer, a string or a boolean, not a mapping`,
		`4:4: c must be "v1"`,
		`5:4: e must be one of "a", "b" or 4`,
		`6:4: l must have at least 2 entries, not 1`,
		`7:4: o: "x" needs "y" as well`,
		`7:5: o.gone is not allowed here`,
		`8:4: m: missing key "k"`,
		`9:5: no: these keys do not go together`,
		`10:6: one fits more than one of the forms it may take`,
		`11:6: len must be at least 4 characters long, not 3`,
		`12:1: unknown key "" in the thing`,
		`13:1: unknown key "bad key" in the thing`,
		`14:1: unknown key "x" in the thing`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestDescribe(t *testing.T) {
	d := &Doc{Kind: "manifest"}
	for ptr, want := range map[string]string{
		"":                             "the manifest",
		"/fuses/2/mask":                "fuses[2].mask",
		"/variables/":                  `variables.""`,
		"/a~1b/c~0d":                   "a/b.c~d",
		"/" + strings.Repeat("k", 100): strings.Repeat("k", 40) + "... (100 characters)",
	} {
		if got := d.Describe(ptr); got != want {
			t.Errorf("Describe(%q) = %q, want %q", ptr, got, want)
		}
	}
}
