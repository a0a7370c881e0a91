package schema_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/otpprov/otpprov/internal/escfile"
	"github.com/otpprov/otpprov/internal/schema"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/schemas"
)

// A pair is one embedded schema, compiled by both validators.
type pair struct {
	name   string
	ours   *schema.Schema
	doc    any // the schema document, for checkRestated
	oracle *jsonschema.Schema
}

func pairs(t testing.TB) []pair {
	t.Helper()
	var out []pair
	for _, s := range []struct {
		name string
		doc  []byte
	}{{"manifest", schemas.Manifest}, {"fusemap", schemas.Fusemap}, {"pools", schemas.Pools}, {"release", schemas.Release}} {
		ours, err := schema.Compile(s.doc)
		if err != nil {
			t.Fatalf("%s schema: %v", s.name, err)
		}
		oracle, err := oracleCompile(s.doc)
		if err != nil {
			t.Fatalf("%s schema, oracle: %v", s.name, err)
		}
		out = append(out, pair{s.name, ours, decodeJSON(t, string(s.doc)), oracle})
	}
	return out
}

// A sample is one YAML document of the corpus.
type sample struct {
	name string
	b    []byte
}

// corpus is every YAML document under the repository's testdata: the
// examples, the embedded maps, the packages' testdata (fuzz corpora
// included) and the files of the hostile-input cases.
func corpus(t testing.TB) []sample {
	t.Helper()
	root := "../.."
	var out []sample
	add := func(name string, b []byte) { out = append(out, sample{name, b}) }
	for _, dir := range []string{"examples", "fusemap/maps", "manifest/testdata", "fusemap/testdata", "ledger/testdata", "release/testdata"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !isYAML(p) {
				return err
			}
			b, err := os.ReadFile(p)
			add(p, b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cases, _ := filepath.Glob(filepath.Join(root, "cmd/otpprov/testdata/hostile/*.txtar"))
	for _, c := range cases {
		a, err := txtar.ParseFile(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range a.Files {
			name, data := f.Name, f.Data
			if n, ok := strings.CutSuffix(name, ".esc"); ok {
				name, data = n, unescapeLines(t, data)
			}
			if isYAML(name) {
				add(c+":"+name, data)
			}
		}
	}
	// The fuzz corpora of every target (the parsers' crashers are YAML
	// too), this package's own included.
	fuzz, _ := filepath.Glob(filepath.Join(root, "*/testdata/fuzz/*/*"))
	more, _ := filepath.Glob(filepath.Join(root, "*/*/testdata/fuzz/*/*"))
	for _, f := range append(fuzz, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range fuzzValues(string(b)) {
			add(f+"#"+strconv.Itoa(i), []byte(v))
		}
	}
	if len(out) < 150 {
		t.Fatalf("only %d documents in the corpus: has testdata moved?", len(out))
	}
	return out
}

func isYAML(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// unescapeLines reads a hostile case's .esc file.
func unescapeLines(t testing.TB, data []byte) []byte {
	b, err := escfile.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fuzzValues reads the []byte and string values of a "go test fuzz v1"
// file.
func fuzzValues(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, pre := range []string{"[]byte(", "string("} {
			if q, ok := strings.CutPrefix(line, pre); ok {
				if u, err := strconv.Unquote(strings.TrimSuffix(q, ")")); err == nil {
					out = append(out, u)
				}
			}
		}
	}
	return out
}

func parse(name string, b []byte) any {
	d, _ := yamldoc.Parse(name, "document", b, 1<<20)
	if d == nil {
		return nil
	}
	return d.Value
}

// TestSchemaAgreesOnCorpus: on every document of the corpus, and on
// mutations of each, both validators find the same leaf errors against
// both schemas.
func TestSchemaAgreesOnCorpus(t *testing.T) {
	ps := pairs(t)
	docs, mutants, invalid := 0, 0, 0
	pool := valuePool(ps)
	hit := map[string]map[string]bool{} // schema -> keyword locations that failed
	for _, s := range corpus(t) {
		v := parse(s.name, s.b)
		if v == nil {
			continue
		}
		docs++
		vs := []any{v}
		if len(s.b) < 64<<10 {
			vs = append(vs, mutate(v, pool, rand.New(rand.NewSource(int64(len(s.b)))), 50)...)
		}
		mutants += len(vs) - 1
		for i, m := range vs {
			for _, p := range ps {
				name := s.name + " (" + p.name + ")"
				if i > 0 {
					name += " mutant " + strconv.Itoa(i)
				}
				errs := agree(t, name, p.ours, p.doc, p.oracle, m)
				if len(errs) > 0 {
					invalid++
				}
				if hit[p.name] == nil {
					hit[p.name] = map[string]bool{}
				}
				for _, e := range errs {
					hit[p.name][e.Schema] = true
				}
			}
		}
	}
	// Small documents with every structure both schemas describe, each
	// changed in every way the pool allows, one change at a time.
	for i, tmpl := range templates {
		v := parse("template.yaml", []byte(tmpl))
		if v == nil {
			t.Fatalf("template %d does not parse", i)
		}
		for j, m := range exhaustive(v, pool) {
			mutants++
			for _, p := range ps {
				errs := agree(t, fmt.Sprintf("template %d mutant %d (%s)", i, j, p.name), p.ours, p.doc, p.oracle, m)
				if len(errs) > 0 {
					invalid++
				}
				for _, e := range errs {
					hit[p.name][e.Schema] = true
				}
			}
		}
	}
	t.Logf("%d documents and %d mutants, each against both schemas; %d validations found errors", docs, mutants, invalid)
	// Every assertion of both schemas must have failed somewhere, or the
	// agreement on it was never tested.
	for _, p := range ps {
		for _, loc := range assertions(p.doc, "") {
			if !hit[p.name][loc] && !unreachable[p.name+" "+loc] {
				t.Errorf("%s schema: no document fails %s", p.name, loc)
			}
		}
	}
	if docs < 150 || mutants < 5000 {
		t.Errorf("only %d documents and %d mutants", docs, mutants)
	}
}

// valuesAndKeys is what mutations put in.
type valuesAndKeys struct {
	keys   []string
	values []any
	sized  map[string][]any // by property name: values around its size limits
}

// valuePool is what mutate puts in: every key the schemas name, values
// at and around every limit the schemas set, and values of every type.
func valuePool(ps []pair) (pool valuesAndKeys) {
	keys := map[string]bool{"zzz": true, "": true, "a/b~c": true}
	values := []any{nil, true, false, "", "x", "0x1", "0x123456789", "A", "A_B", "15:0", "40", "a b",
		[]any{}, map[string]any{}, []any{json.Number("1")}, map[string]any{"name": "X"}, []any{"A"},
		json.Number("0"), json.Number("1"), json.Number("2"), json.Number("1.5"), json.Number("18446744073709551615"),
		json.Number("-1"), // yamldoc refuses negative numbers, but the validators must still agree
		[]any{map[string]any{"bank": json.Number("1"), "word": json.Number("1")}}}
	pool.sized = map[string][]any{}
	// prop is the property whose schema v is (or is inside, for items).
	var walk func(v any, prop string)
	walk = func(v any, prop string) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				e := x[k]
				switch k {
				case "properties", "dependentSchemas", "dependentRequired":
					for name := range e.(map[string]any) {
						keys[name] = true
					}
				case "required":
					for _, name := range e.([]any) {
						keys[name.(string)] = true
					}
				case "enum":
					values = append(values, e.([]any)...)
				case "const":
					values = append(values, e)
				case "minimum", "maximum":
					n, _ := strconv.ParseInt(string(e.(json.Number)), 10, 64)
					for _, d := range []int64{-1, 0, 1} {
						values = append(values, json.Number(strconv.FormatInt(n+d, 10)))
					}
				case "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties":
					// A value of each size around the limit, for the
					// property that has it: big ones anywhere else would
					// only cost time.
					n, _ := strconv.Atoi(string(e.(json.Number)))
					for _, size := range []int{n - 1, n, n + 1} {
						if size < 0 {
							continue
						}
						var sized any = strings.Repeat("a", size)
						switch {
						case strings.HasSuffix(k, "Items"):
							list := make([]any, size)
							for i := range list {
								list[i] = "A"
							}
							sized = list
						case strings.HasSuffix(k, "Properties"):
							obj := map[string]any{}
							for i := 0; i < size; i++ {
								obj["k"+strconv.Itoa(i)] = true
							}
							sized = obj
						}
						pool.sized[prop] = append(pool.sized[prop], sized)
					}
				}
				if k == "properties" || k == "$defs" || k == "dependentSchemas" {
					for _, name := range slices.Sorted(maps.Keys(e.(map[string]any))) {
						walk(e.(map[string]any)[name], name)
					}
					continue
				}
				walk(e, prop)
			}
		case []any:
			for _, e := range x {
				walk(e, prop)
			}
		}
	}
	for _, p := range ps {
		walk(p.doc, "")
	}
	for k := range keys {
		pool.keys = append(pool.keys, k)
	}
	sort.Strings(pool.keys)
	// Once each: the limits repeat (0, 1023, 4294967295...).
	seen := map[string]bool{}
	for _, v := range values {
		key := fmt.Sprintf("%T %v", v, v)
		if !seen[key] {
			seen[key] = true
			pool.values = append(pool.values, v)
		}
	}
	return pool
}

// pointers lists the JSON pointer of every value in v, depth first: v's
// own ("") first, keys in sorted order.
func pointers(v any) []string {
	var ptrs []string
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		ptrs = append(ptrs, ptr)
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(x[k], ptr+"/"+yamldoc.EscapePointer(k))
			}
		case []any:
			for i, e := range x {
				walk(e, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(v, "")
	return ptrs
}

// mutate makes up to n documents, each v with one change: a value
// replaced (by a pool value or by another part of the document), a key
// removed, or a key added.
func mutate(v any, pool valuesAndKeys, rng *rand.Rand, n int) []any {
	ptrs := pointers(v)
	sort.Strings(ptrs)
	var out []any
	for i := 0; i < n; i++ {
		ptr := ptrs[rng.Intn(len(ptrs))]
		var change func(any) any
		switch rng.Intn(4) {
		case 0: // a pool value
			nv := pool.values[rng.Intn(len(pool.values))]
			change = func(any) any { return nv }
		case 1: // another part of the document: a right shape in a wrong place
			other := at(v, ptrs[rng.Intn(len(ptrs))])
			change = func(any) any { return deepCopy(other) }
		case 2: // a key removed
			change = func(old any) any {
				if m, ok := old.(map[string]any); ok && len(m) > 0 {
					keys := slices.Sorted(maps.Keys(m))
					delete(m, keys[rng.Intn(len(keys))])
				}
				return old
			}
		default: // a key added
			k, nv := pool.keys[rng.Intn(len(pool.keys))], pool.values[rng.Intn(len(pool.values))]
			change = func(old any) any {
				if m, ok := old.(map[string]any); ok {
					m[k] = nv
				}
				return old
			}
		}
		out = append(out, edit(deepCopy(v), ptr, change))
	}
	return out
}

func at(v any, ptr string) any {
	d := &yamldoc.Doc{Value: v}
	return d.At(ptr)
}

// edit replaces the value at ptr by change(value).
func edit(v any, ptr string, change func(any) any) any {
	if ptr == "" {
		return change(v)
	}
	i := strings.LastIndex(ptr, "/")
	parent, last := at(v, ptr[:i]), yamldoc.UnescapePointer(ptr[i+1:])
	switch p := parent.(type) {
	case map[string]any:
		p[last] = change(p[last])
	case []any:
		n, _ := strconv.Atoi(last)
		p[n] = change(p[n])
	}
	return v
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// FuzzSchemaAgrees: on any YAML document, both validators find the same
// leaf errors, against the manifest schema and the fuse map schema alike
// (every input is checked against both).
func FuzzSchemaAgrees(f *testing.F) {
	for _, s := range corpus(f) {
		if len(s.b) < 64<<10 {
			f.Add(s.b)
		}
	}
	ps := pairs(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		v := parse("fuzz.yaml", b)
		if v == nil {
			return
		}
		for _, p := range ps {
			agree(t, p.name, p.ours, p.doc, p.oracle, v)
		}
	})
}

// The cost, per process, of checking a manifest: compile the schema, then
// validate the example board's manifest; and the oracle's, for scale.
func BenchmarkCompileValidate(b *testing.B) {
	src, err := os.ReadFile("../../examples/imx8mm/board.yaml")
	if err != nil {
		b.Fatal(err)
	}
	v := parse("board.yaml", src)
	b.Run("ours", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := schema.Compile(schemas.Manifest)
			if err != nil {
				b.Fatal(err)
			}
			if errs, err := s.Validate(v); err != nil || len(errs) > 0 {
				b.Fatal(err, errs)
			}
		}
	})
	b.Run("oracle", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s, err := oracleCompile(schemas.Manifest)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Validate(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// assertions lists the locations of a schema document's keywords that can
// fail (a false schema is one itself), skipping annotations and the
// keywords that only apply others.
func assertions(v any, loc string) []string {
	var out []string
	switch x := v.(type) {
	case bool:
		if !x {
			out = append(out, loc)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			kloc := loc + "/" + k
			switch k {
			case "properties", "$defs", "dependentSchemas":
				for _, name := range slices.Sorted(maps.Keys(x[k].(map[string]any))) {
					out = append(out, assertions(x[k].(map[string]any)[name], kloc+"/"+name)...)
				}
			case "allOf", "anyOf", "oneOf":
				for i, sub := range x[k].([]any) {
					out = append(out, assertions(sub, kloc+"/"+strconv.Itoa(i))...)
				}
				if k == "oneOf" {
					out = append(out, kloc) // two branches that match
				}
			case "items", "additionalProperties", "propertyNames", "unevaluatedProperties", "then", "else":
				if b, ok := x[k].(bool); ok && !b && k == "additionalProperties" {
					out = append(out, kloc) // one error on the object
					continue
				}
				out = append(out, assertions(x[k], kloc)...)
			case "not":
				out = append(out, kloc) // the not itself; its inside never reports
			case "dependentRequired":
				for _, name := range slices.Sorted(maps.Keys(x[k].(map[string]any))) {
					for i := range x[k].(map[string]any)[name].([]any) {
						out = append(out, kloc+"/"+name+"/"+strconv.Itoa(i))
					}
				}
			case "type", "const", "enum", "required", "minimum", "maximum", "pattern",
				"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties":
				out = append(out, kloc)
			}
		}
	}
	return out
}

// unreachable are the assertions no document can fail, and why.
var unreachable = map[string]bool{
	// A field's two forms exclude each other (bank and word without parts,
	// or parts without them), so no field matches both.
	"fusemap /$defs/field/oneOf": true,
}

// templates hold every structure of the schemas, small, for exhaustive
// mutation: a manifest, a fuse map, an overlay, a pools file and a
// release.
var templates = []string{`apiVersion: otpprov/v1
kind: FuseManifest
metadata: {name: m, description: d}
extends: base.yaml
soc: imx8mm
variables:
  mac: {type: mac, description: d, secret: true}
  key: {type: hex, bytes: 4, default: "01020304"}
  n: {type: u32, default: 1}
fuses:
  - {name: r, bank: 1, word: 2, value: 0x5, mask: "0xff"}
  - {field: MAC_ADDR, value: "${mac}"}
  - {field: SRK_HASH, valueFrom: {file: f.bin}}
`, `apiVersion: otpprov/v1
kind: FuseMap
soc: imx8mm
description: d
sources: [s]
geometry:
  words: 8
  wordsPerBank: 4
  bytes: 32
  readOffsets: [{fromBank: 1, shiftWords: 2}]
writes: {maxWord: 4, maxWordReason: r}
fields:
  - {name: A, bank: 0, word: 1, bits: "3:0", encoding: uint, description: d, generalPurpose: true, identity: false, secret: false, factory: false}
  - {name: B, bank: 1, word: 0, words: 2}
  - {name: C, parts: [{bank: 0, word: 2, bits: 1}, {bank: 0, word: 3}]}
  - name: L
    bank: 0
    word: 0
    bits: 7
    lock: {protects: [A], write: 0, override: 1, read: 2}
    security: {effect: e, closes: true, requires: [B]}
`, `apiVersion: otpprov/v1
kind: FuseMapOverlay
soc: imx8mm
writes: {refused: r}
rename: {OLD: NEW}
fields:
  - {name: X, bank: 0, word: 1, bits: 2}
`, `apiVersion: otpprov/v1
kind: IdentityPools
metadata: {name: p, description: d}
pools:
  eth: {type: mac, description: d, ranges: ["00:04:9f:30:00:00-00:04:9f:3f:ff:ff"], perUnit: 2, reuse: false, lowWater: 100}
  serial: {type: u32, ranges: ["1000000-1999999"]}
`, `apiVersion: otpprov/v1
kind: Release
metadata: {name: r, description: d}
notBefore: "2026-12-05T00:00:00Z"
notAfter: "2027-12-05T00:00:00+01:00"
socs: [imx8mm]
manifests: [board.yaml]
files:
  - {path: board.yaml, sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}
`}

// exhaustive makes every document that differs from v by one change: each
// value replaced by each pool value, each key removed, each pool key
// added (with a few values) to each object.
func exhaustive(v any, pool valuesAndKeys) []any {
	var out []any
	for _, ptr := range pointers(v) {
		values := pool.values
		segs := strings.Split(ptr, "/")
		values = append(values, pool.sized[segs[len(segs)-1]]...)
		if len(segs) > 1 {
			values = append(values, pool.sized[segs[len(segs)-2]]...) // a list's items
		}
		for _, nv := range values {
			out = append(out, edit(deepCopy(v), ptr, func(any) any { return deepCopy(nv) }))
		}
		if m, ok := at(v, ptr).(map[string]any); ok {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				out = append(out, edit(deepCopy(v), ptr, func(old any) any { delete(old.(map[string]any), k); return old }))
			}
			for _, k := range pool.keys {
				for _, nv := range []any{json.Number("1"), "A"} {
					out = append(out, edit(deepCopy(v), ptr, func(old any) any { old.(map[string]any)[k] = nv; return old }))
				}
			}
		}
	}
	return out
}
