package schema_test

import (
	"encoding/json"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"github.com/santhosh-tekuri/jsonschema/v5"

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
	}{{"manifest", schemas.Manifest}, {"fusemap", schemas.Fusemap}} {
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
	for _, dir := range []string{"examples", "fusemap/maps", "manifest/testdata", "fusemap/testdata"} {
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

// unescapeLines reads a hostile case's .esc file: each line the inside of
// a Go string.
func unescapeLines(t testing.TB, data []byte) []byte {
	var out []byte
	for _, line := range strings.SplitAfter(string(data), "\n") {
		body, nl := strings.CutSuffix(line, "\n")
		u, err := strconv.Unquote(`"` + body + `"`)
		if err != nil {
			t.Fatalf("bad escaped line %q: %v", body, err)
		}
		out = append(out, u...)
		if nl {
			out = append(out, '\n')
		}
	}
	return out
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
				if errs, _ := p.ours.Validate(m); len(errs) > 0 {
					invalid++
				}
				agree(t, name, p.ours, p.doc, p.oracle, m)
			}
		}
	}
	t.Logf("%d documents and %d mutants, each against both schemas; %d validations found errors", docs, mutants, invalid)
	if docs < 150 || mutants < 5000 {
		t.Errorf("only %d documents and %d mutants", docs, mutants)
	}
}

// valuePool is what mutate puts in: every key the schemas name, values
// at and around every limit the schemas set, and values of every type.
func valuePool(ps []pair) (pool struct {
	keys   []string
	values []any
}) {
	keys := map[string]bool{"zzz": true, "": true, "a/b~c": true}
	values := []any{nil, true, false, "", "x", "0x1", "0x123456789", "A", "A_B", "15:0", "40", "a b",
		[]any{}, map[string]any{}, []any{json.Number("1")}, map[string]any{"name": "X"},
		json.Number("0"), json.Number("1"), json.Number("2"), json.Number("1.5"), json.Number("18446744073709551615")}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
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
				case "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties":
					n, _ := strconv.ParseInt(string(e.(json.Number)), 10, 64)
					for _, d := range []int64{-1, 0, 1} {
						if n+d >= 0 {
							values = append(values, json.Number(strconv.FormatInt(n+d, 10)))
						}
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, p := range ps {
		walk(p.doc)
	}
	for k := range keys {
		pool.keys = append(pool.keys, k)
	}
	sort.Strings(pool.keys)
	pool.values = values
	return pool
}

// mutate makes up to n documents, each v with one change: a value
// replaced (by a pool value or by another part of the document), a key
// removed, or a key added.
func mutate(v any, pool struct {
	keys   []string
	values []any
}, rng *rand.Rand, n int) []any {
	var ptrs []string
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		ptrs = append(ptrs, ptr)
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(e, ptr+"/"+yamldoc.EscapePointer(k))
			}
		case []any:
			for i, e := range x {
				walk(e, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(v, "")
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
					keys := sortedKeys(m)
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

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
