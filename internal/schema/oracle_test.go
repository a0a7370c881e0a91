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

// A leaf is one leaf error as a line of text, so that two validators'
// findings compare as sorted lists and a difference reads plainly.
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
func oracleLeaves(t testing.TB, s *jsonschema.Schema, v any) []string {
	t.Helper()
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("oracle: %v", err)
	}
	var out []string
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
		var params string
		switch {
		case e.Message == "not allowed":
			kw = "false"
		case len(segs) >= 3 && segs[len(segs)-3] == "dependentRequired":
			kw = "dependentRequired"
			names := quotedNames(e.Message) // property 'need' is required, if 'key' property exists
			params = fmt.Sprintf("key=%s keys=%s", names[1], names[:1])
		case kw == "required" || kw == "additionalProperties":
			names := quotedNames(e.Message)
			slices.Sort(names)
			params = fmt.Sprintf("keys=%s", names)
		case kw == "type":
			// expected integer or string, but got object
			m := typeMsg.FindStringSubmatch(e.Message)
			if m == nil {
				t.Fatalf("oracle: unexpected type message %q", e.Message)
			}
			params = fmt.Sprintf("types=%s got=%s", strings.Split(m[1], " or "), m[2])
		case kw == "oneOf":
			params = fmt.Sprintf("matched=%s", regexp.MustCompile(`\d+`).FindAllString(e.Message, -1))
		case countKeywords[kw]:
			// minimum 2 properties allowed, but found 1 properties
			n := regexp.MustCompile(`\d+`).FindAllString(e.Message, -1)
			if len(n) != 2 {
				t.Fatalf("oracle: unexpected %s message %q", kw, e.Message)
			}
			params = fmt.Sprintf("limit=%s count=%s", n[0], n[1])
		}
		out = append(out, leafLine(kw, decodeFragment(t, e.InstanceLocation), decodeFragment(t, sloc), e.KeywordLocation, params))
	}
	walk(ve)
	slices.Sort(out)
	return out
}

var (
	typeMsg       = regexp.MustCompile(`^expected (.+), but got (\w+)$`)
	countKeywords = map[string]bool{"minItems": true, "maxItems": true, "minLength": true, "maxLength": true, "minProperties": true, "maxProperties": true}
)

// ourLeaves are our validator's leaves in the oracle's form; it also
// checks that every parameter that restates the schema (a limit, a
// pattern, the allowed values) is what the schema says at Schema.
func ourLeaves(t testing.TB, s *schema.Schema, schemaDoc any, v any) []string {
	t.Helper()
	errs, err := s.Validate(v)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var out []string
	for _, e := range errs {
		var params string
		switch e.Keyword {
		case "dependentRequired":
			params = fmt.Sprintf("key=%s keys=%s", e.Key, e.Keys)
		case "required", "additionalProperties":
			keys := slices.Clone(e.Keys)
			slices.Sort(keys)
			params = fmt.Sprintf("keys=%s", keys)
		case "type":
			params = fmt.Sprintf("types=%s got=%s", e.Types, e.Got)
		case "oneOf":
			params = fmt.Sprintf("matched=%d", e.Matched)
		default:
			if countKeywords[e.Keyword] {
				params = fmt.Sprintf("limit=%s count=%d", e.Limit, e.Count)
			}
		}
		checkRestated(t, schemaDoc, e)
		out = append(out, leafLine(e.Keyword, dropEmptyKeys(e.Instance), e.Schema, e.Path, params))
	}
	slices.Sort(out)
	return out
}

func leafLine(kw, inst, sloc, path, params string) string {
	return fmt.Sprintf("%s at %q (schema %s, path %s) %s", kw, inst, sloc, path, params)
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

var quotedName = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)

// quotedNames reads the names the oracle quotes in a message: Go %q
// without its double quotes, with ' escaped as \'.
func quotedNames(msg string) []string {
	var out []string
	for _, m := range quotedName.FindAllStringSubmatch(msg, -1) {
		s := strings.ReplaceAll(m[1], `\'`, `'`)
		s = strings.ReplaceAll(s, `"`, `\"`)
		if u, err := strconv.Unquote(`"` + s + `"`); err == nil {
			s = u
		}
		out = append(out, s)
	}
	return out
}

// agree checks that both validators find the same leaves in v.
func agree(t testing.TB, name string, ours *schema.Schema, doc any, theirs *jsonschema.Schema, v any) {
	t.Helper()
	got, want := ourLeaves(t, ours, doc, v), oracleLeaves(t, theirs, v)
	if !slices.Equal(got, want) {
		t.Errorf("%s: the validators disagree\nours:\n  %s\noracle:\n  %s\ndocument: %s",
			name, strings.Join(got, "\n  "), strings.Join(want, "\n  "), clip(v))
	}
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
