package schema_test

// The oracle: github.com/santhosh-tekuri/jsonschema/v5, a full JSON Schema
// validator, which otpprov used at run time before internal/schema. The
// tests hold our validator to it: on every document, both must find the
// same leaf errors. The binary never links it (cmd/otpprov tests that).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/otpprov/otpprov/internal/schema"
)

// oracleCompile compiles a schema document with the oracle, for draft
// 2020-12: compiling validates the document against the meta-schema.
func oracleCompile(doc []byte) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	const url = "urn:otpprov:test"
	if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// A leaf is one leaf error: where it is, as a line of text, so that two
// validators' findings compare as sorted lists and a difference reads
// plainly; then the oracle's message, or our parameters, which are
// compared leaf by leaf once the lines agree.
//
// The oracle's leaves are normalised by these rules, each a difference of
// form, not of finding:
//   - its instance locations are URI fragments, each key percent-encoded
//     ("<<x" is %3C%3Cx): they are decoded;
//   - it drops an empty key from an instance location ("" under
//     variables is reported at /variables), so ours are compared with
//     their empty keys dropped too;
//   - a false schema is named by its location ("not allowed"): it is the
//     keyword "false";
//   - dependentRequired is located at its list's entry (/maxWord/0): the
//     keyword is dependentRequired.
type leaf struct {
	line string
	msg  string       // the oracle's
	e    schema.Error // ours
}

func oracleLeaves(t testing.TB, s *jsonschema.Schema, v any) []leaf {
	t.Helper()
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("oracle: %v", err)
	}
	var out []leaf
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		sloc := e.AbsoluteKeywordLocation[strings.IndexByte(e.AbsoluteKeywordLocation, '#')+1:]
		segs := strings.Split(sloc, "/")
		kw := segs[len(segs)-1]
		switch {
		case e.Message == "not allowed":
			kw = "false"
		case len(segs) >= 3 && segs[len(segs)-3] == "dependentRequired":
			kw = "dependentRequired"
		}
		out = append(out, leaf{line: leafLine(kw, decodeFragment(t, e.InstanceLocation), decodeFragment(t, sloc), e.KeywordLocation), msg: e.Message})
	}
	walk(ve)
	sortLeaves(out)
	return out
}

// ourLeaves are our validator's leaves in the oracle's form.
func ourLeaves(t testing.TB, s *schema.Schema, v any) []leaf {
	t.Helper()
	errs, err := s.Validate(v)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var out []leaf
	for _, e := range errs {
		out = append(out, leaf{line: leafLine(e.Keyword, dropEmptyKeys(e.Instance), e.Schema, e.Path), e: e})
	}
	sortLeaves(out)
	return out
}

func sortLeaves(l []leaf) {
	slices.SortFunc(l, func(a, b leaf) int { return strings.Compare(a.line, b.line) })
}

var (
	typeMsg       = regexp.MustCompile(`^expected (.+), but got (\w+)$`)
	digits        = regexp.MustCompile(`\d+`)
	countKeywords = map[string]bool{"minItems": true, "maxItems": true, "minLength": true, "maxLength": true, "minProperties": true, "maxProperties": true}
)

// sameParams checks our parameters of a leaf against the oracle's message
// for it, and against the schema and the document (schemaDoc, v).
func sameParams(t testing.TB, name string, ours schema.Error, msg string, schemaDoc, v any) {
	t.Helper()
	bad := func(what string, got any) {
		t.Errorf("%s: %s at %q: %s %v, the oracle says %q", name, ours.Keyword, ours.Instance, what, got, msg)
	}
	switch k := ours.Keyword; {
	case k == "type":
		m := typeMsg.FindStringSubmatch(msg)
		if m == nil || strings.Join(ours.Types, " or ") != m[1] || ours.Got != m[2] {
			bad("types", fmt.Sprint(ours.Types, " got ", ours.Got))
		}
	case countKeywords[k]:
		if n := digits.FindAllString(msg, -1); len(n) != 2 || ours.Limit != n[0] || strconv.Itoa(ours.Count) != n[1] {
			bad("limit and count", fmt.Sprint(ours.Limit, " ", ours.Count))
		}
	case k == "oneOf":
		if fmt.Sprint(digits.FindAllString(msg, -1)) != fmt.Sprint(ours.Matched) {
			bad("matched", ours.Matched)
		}
	case k == "required":
		// The oracle lists them in the schema's order.
		if msg != "missing properties: "+strings.Join(oracleQuoted(ours.Keys), ", ") {
			bad("keys", ours.Keys)
		}
	case k == "dependentRequired":
		if len(ours.Keys) != 1 || msg != fmt.Sprintf("property %s is required, if %s property exists", oracleQuote(ours.Keys[0]), oracleQuote(ours.Key)) {
			bad("keys", fmt.Sprint(ours.Keys, " for ", ours.Key))
		}
	case k == "additionalProperties":
		// The oracle lists them in map order, and its quoting cannot
		// always be read back (a name ending in \ looks like an escaped
		// '): each of ours must be in its list, which must be as long.
		// That they are all the unknown keys, the document tells.
		list := strings.TrimSuffix(strings.TrimPrefix(msg, "additionalProperties "), " not allowed")
		quoted := oracleQuoted(ours.Keys)
		for _, q := range quoted {
			if !strings.Contains(list, q) {
				bad("keys", ours.Keys)
			}
		}
		if len(list) != len(strings.Join(quoted, ", ")) {
			bad("keys", ours.Keys)
		}
		if want := unknownKeys(t, schemaDoc, ours.Schema, v, ours.Instance); !slices.Equal(ours.Keys, want) {
			t.Errorf("%s: additionalProperties at %q: keys %q, the document has %q", name, ours.Instance, ours.Keys, want)
		}
	}
	checkRestated(t, schemaDoc, ours)
}

// unknownKeys lists, sorted, the keys of the object at inst that the
// schema holding the additionalProperties keyword at sloc does not name
// in its properties (none of our schemas has patternProperties).
func unknownKeys(t testing.TB, schemaDoc any, sloc string, v any, inst string) []string {
	t.Helper()
	parent, _ := lookup(schemaDoc, strings.TrimSuffix(sloc, "/additionalProperties"))
	props, _ := parent.(map[string]any)["properties"].(map[string]any)
	obj, ok := lookup(v, inst)
	if !ok {
		t.Fatalf("no value at %q", inst)
	}
	var out []string
	for k := range obj.(map[string]any) {
		if _, named := props[k]; !named {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// oracleQuote is how the oracle quotes a name in a message: Go's %q, then
// \" unescaped and ' escaped, between single quotes.
func oracleQuote(s string) string {
	q := strconv.Quote(s)
	q = strings.ReplaceAll(q, `\"`, `"`)
	q = strings.ReplaceAll(q, `'`, `\'`)
	return "'" + q[1:len(q)-1] + "'"
}

func oracleQuoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = oracleQuote(n)
	}
	return out
}

func leafLine(kw, inst, sloc, path string) string {
	return fmt.Sprintf("%s at %q (schema %s, path %s)", kw, inst, sloc, path)
}

// checkRestated checks the parameters of e that the schema gives.
func checkRestated(t testing.TB, doc any, e schema.Error) {
	t.Helper()
	at := func(ptr string) any {
		v, ok := lookup(doc, ptr)
		if !ok {
			t.Fatalf("%s: schema location %s is not in the schema", e.Keyword, ptr)
		}
		return v
	}
	switch e.Keyword {
	case "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties":
		want, _ := new(big.Rat).SetString(fmt.Sprint(at(e.Schema)))
		got, ok := new(big.Rat).SetString(e.Limit)
		if !ok || want == nil || got.Cmp(want) != 0 {
			t.Errorf("%s at %s: limit %q, the schema says %v", e.Keyword, e.Instance, e.Limit, at(e.Schema))
		}
	case "pattern":
		if e.Pattern != at(e.Schema) {
			t.Errorf("pattern at %s: %q, the schema says %v", e.Instance, e.Pattern, at(e.Schema))
		}
	case "enum", "const":
		want := at(e.Schema)
		if e.Keyword == "const" {
			want = []any{want}
		}
		if fmt.Sprint(e.Allowed) != fmt.Sprint(want) {
			t.Errorf("%s at %s: allowed %v, the schema says %v", e.Keyword, e.Instance, e.Allowed, want)
		}
	}
}

// lookup follows a JSON pointer in a decoded JSON document.
func lookup(doc any, ptr string) (any, bool) {
	if ptr == "" {
		return doc, true
	}
	v := doc
	for _, seg := range strings.Split(ptr[1:], "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// decodeFragment undoes the oracle's percent-encoding of each segment.
func decodeFragment(t testing.TB, loc string) string {
	t.Helper()
	segs := strings.Split(loc, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			t.Fatalf("oracle location %q: %v", loc, err)
		}
		segs[i] = u
	}
	return strings.Join(segs, "/")
}

// dropEmptyKeys removes the empty segments of a pointer: the oracle's
// locations lack them (see oracleLeaves).
func dropEmptyKeys(ptr string) string {
	for strings.Contains(ptr, "//") {
		ptr = strings.ReplaceAll(ptr, "//", "/")
	}
	return strings.TrimSuffix(ptr, "/")
}

// agree checks that both validators find the same leaves in v, with the
// same parameters. It returns our errors.
func agree(t testing.TB, name string, ours *schema.Schema, schemaDoc any, theirs *jsonschema.Schema, v any) []schema.Error {
	t.Helper()
	got, want := ourLeaves(t, ours, v), oracleLeaves(t, theirs, v)
	var errs []schema.Error
	for _, l := range got {
		errs = append(errs, l.e)
	}
	lines := func(l []leaf) []string {
		var out []string
		for _, x := range l {
			out = append(out, x.line)
		}
		return out
	}
	if !slices.Equal(lines(got), lines(want)) {
		t.Errorf("%s: the validators disagree\nours:\n  %s\noracle:\n  %s\ndocument: %s",
			name, strings.Join(lines(got), "\n  "), strings.Join(lines(want), "\n  "), clip(v))
		return errs
	}
	for i := range got {
		sameParams(t, name, got[i].e, want[i].msg, schemaDoc, v)
	}
	return errs
}

func clip(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

func decodeJSON(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}
