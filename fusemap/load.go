package fusemap

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/schema"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/schemas"
)

// MaxSize caps a fuse map or overlay file; the largest map is a few KiB.
const MaxSize = 1 << 20

var (
	cacheMu sync.Mutex
	cache   = map[string]*Map{}
)

// Names lists the SoCs with a built-in map, sorted.
func Names() []string {
	names := make([]string, 0, len(generated))
	for n := range generated {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

//go:generate go test -run ^TestGeneratedMaps$ -update

// Load returns the built-in map of a SoC. Maps are built once and shared.
// They come from maps_gen.go, maps/*.yaml decoded at build time (the YAML
// itself is not in the binary): a plan is a whole process per board, and
// parsing the YAML took longer than the rest of the plan
// (TestGeneratedMaps keeps the two equal).
func Load(name string) (*Map, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if m := cache[name]; m != nil {
		return m, nil
	}
	gen := generated[name]
	if gen == nil {
		return nil, fmt.Errorf("unknown soc %s (supported: %s)", yamldoc.Quote(name), strings.Join(Names(), ", "))
	}
	m := gen()
	if ds := m.index(); len(ds) > 0 {
		// The maps are built in and tested: this is a build defect.
		return nil, fmt.Errorf("internal error: built-in fuse map %s: %w", name, ds.Sorted())
	}
	cache[name] = m
	return m, nil
}

// Parse reads a full fuse map (kind FuseMap).
func Parse(file string, b []byte) (*Map, error) {
	d, err := decode(file, b, "FuseMap", true)
	if err != nil {
		return nil, err
	}
	return d.m, nil
}

var (
	schemaOnce sync.Once
	mapSchema  *schema.Schema
	schemaErr  error
)

// decoded is a validated fuse map or overlay file.
type decoded struct {
	m      *Map
	socPos yamldoc.Pos
	rename map[string]string
	renPos map[string]yamldoc.Pos
	// redefine: the overlay's redefine list, with where each name is.
	redefine []string
	redefPos map[string]yamldoc.Pos
}

// decode reads a fuse map or overlay; validate is false only for the
// embedded maps, which the tests validate.
func decode(file string, b []byte, kind string, validate bool) (*decoded, error) {
	doc, diags := yamldoc.Parse(file, "fuse map", b, MaxSize)
	if doc == nil {
		return nil, diags
	}
	if validate {
		schemaOnce.Do(func() { mapSchema, schemaErr = schemas.CompileFusemap() })
		if schemaErr != nil {
			return nil, fmt.Errorf("internal error: fuse map schema: %w", schemaErr)
		}
		diags = append(diags, doc.Validate(mapSchema, fieldShape(doc))...)
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	root := doc.Value.(map[string]any)
	if k := root["kind"]; k != kind {
		return nil, yamldoc.Diagnostics{{Pos: doc.PosOf("/kind"), Message: fmt.Sprintf("kind is %v, expected %s", k, kind)}}
	}
	d := &decoded{m: &Map{File: file}, rename: map[string]string{}, renPos: map[string]yamldoc.Pos{}}
	m := d.m
	m.Name, _ = root["soc"].(string)
	d.socPos = doc.PosOf("/soc")
	m.Description, _ = root["description"].(string)
	for _, s := range list(root["sources"]) {
		m.Sources = append(m.Sources, s.(string))
	}
	if id, ok := root["identify"].(map[string]any); ok {
		for _, s := range list(id["compatible"]) {
			m.Compatible = append(m.Compatible, s.(string))
		}
		for _, s := range list(id["socId"]) {
			m.SoCIDs = append(m.SoCIDs, s.(string))
		}
	}
	if g, ok := root["geometry"].(map[string]any); ok {
		m.Words, m.WordsPerBank = num(g["words"]), num(g["wordsPerBank"])
		if num(g["bytes"]) != 4*m.Words {
			diags.Add(doc.PosOf("/geometry/bytes"), "", "geometry.bytes must be 4 x words = %d", 4*m.Words)
		}
		if m.Words%m.WordsPerBank != 0 {
			diags.Add(doc.PosOf("/geometry/words"), "", "geometry.words must be a whole number of banks")
		}
		for i, r := range list(g["readOffsets"]) {
			sh := Shift{FromBank: num(r.(map[string]any)["fromBank"]), Words: num(r.(map[string]any)["shiftWords"])}
			if n := len(m.ReadShifts); n > 0 && (sh.FromBank <= m.ReadShifts[n-1].FromBank || sh.Words <= m.ReadShifts[n-1].Words) {
				diags.Add(doc.PosOf(fmt.Sprintf("/geometry/readOffsets/%d", i)), "", "readOffsets must grow: each entry a later bank and a larger shift")
			}
			m.ReadShifts = append(m.ReadShifts, sh)
		}
		m.WritableWords = m.Words
	}
	if w, ok := root["writes"].(map[string]any); ok {
		if r, ok := w["refused"].(string); ok {
			m.WritableWords, m.WriteHazard = 0, r
		} else if _, ok := w["maxWord"]; ok {
			m.WritableWords = num(w["maxWord"])
			m.WriteHazard, _ = w["maxWordReason"].(string)
		}
	}
	if r, ok := root["rename"].(map[string]any); ok {
		for old, nw := range r {
			d.rename[old] = nw.(string)
			d.renPos[old] = doc.PosOf("/rename/" + yamldoc.EscapePointer(old))
		}
	}
	for i, n := range list(root["redefine"]) {
		if d.redefPos == nil {
			d.redefPos = map[string]yamldoc.Pos{}
		}
		d.redefine = append(d.redefine, n.(string))
		d.redefPos[n.(string)] = doc.PosOf(fmt.Sprintf("/redefine/%d", i))
	}
	for i, f := range list(root["fields"]) {
		m.Fields = append(m.Fields, decodeField(doc, fmt.Sprintf("/fields/%d", i), f.(map[string]any)))
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	if kind == "FuseMap" {
		if ds := m.index(); len(ds) > 0 {
			return nil, ds.Sorted()
		}
	}
	return d, nil
}

var fieldPtr = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/fields/\d+$`) })

// fieldShape words the errors of the schema's "bank and word, or parts"
// rule once per field: its leaves alone read "not failed" or name a key
// the field should not have at all.
func fieldShape(doc *yamldoc.Doc) func(yamldoc.SchemaError) (yamldoc.Diagnostics, bool) {
	done := map[string]bool{}
	return func(e yamldoc.SchemaError) (yamldoc.Diagnostics, bool) {
		if strings.HasSuffix(e.Ptr, "/bits") && (e.Keyword == "pattern" || e.Keyword == "maximum") {
			var ds yamldoc.Diagnostics
			ds.Add(e.Pos, "", `%s: write "MSB:LSB" or one bit, each 0..31 ("25", "15:0")`, e.Where)
			return ds, true
		}
		// A missing name is its own problem; the rest of "required" and
		// every "not" come from the shape rule.
		shape := e.Keyword == "not" || e.Keyword == "required" && !slices.Contains(e.Leaf.Keys, "name")
		o, ok := doc.At(e.Ptr).(map[string]any)
		if !shape || !ok || !fieldPtr().MatchString(e.Ptr) {
			return nil, false
		}
		has := func(k string) bool { _, ok := o[k]; return ok }
		var msg string
		switch {
		case has("parts") && (has("bank") || has("word") || has("bits") || has("words")):
			msg = "give either bank and word (with bits or words) or parts, not both"
		case has("words") && has("bits"):
			msg = "words (whole words) and bits do not go together"
		case !has("parts") && !(has("bank") && has("word")):
			msg = "give bank and word, or parts"
		default:
			return nil, false
		}
		var ds yamldoc.Diagnostics
		if !done[e.Ptr] {
			done[e.Ptr] = true
			ds.Add(e.Pos, "", "%s: %s", e.Where, msg)
		}
		return ds, true
	}
}

func decodeField(doc *yamldoc.Doc, ptr string, o map[string]any) *Field {
	f := &Field{Pos: doc.PosOf(ptr), Encoding: Uint}
	f.Name, _ = o["name"].(string)
	f.Description, _ = o["description"].(string)
	if e, ok := o["encoding"].(string); ok {
		f.Encoding = Encoding(e)
	}
	f.GeneralPurpose, _ = o["generalPurpose"].(bool)
	f.Identity, _ = o["identity"].(bool)
	f.Secret, _ = o["secret"].(bool)
	f.Factory, _ = o["factory"].(bool)
	f.PerUnit, _ = o["perUnit"].(bool)
	if ps, ok := o["parts"].([]any); ok {
		for _, p := range ps {
			f.Parts = append(f.Parts, part(p.(map[string]any)))
		}
	} else {
		f.Parts = append(f.Parts, part(o))
		if n, ok := o["words"]; ok {
			f.span = num(n) // expanded by index, which knows the bank size
		}
	}
	if l, ok := o["lock"].(map[string]any); ok {
		f.Lock = &Lock{Write: bit(l["write"]), Override: bit(l["override"]), Read: bit(l["read"])}
		for _, n := range list(l["protects"]) {
			f.Lock.Protects = append(f.Lock.Protects, n.(string))
		}
	}
	if v, ok := o["pattern"]; ok {
		f.Pattern = &Pattern{Value: unum(v)}
		if fb, ok := o["factoryBits"]; ok {
			f.Pattern.Factory = unum(fb)
		}
	}
	if s, ok := o["security"].(map[string]any); ok {
		f.Security = &Security{}
		f.Security.Effect, _ = s["effect"].(string)
		f.Security.Closes, _ = s["closes"].(bool)
		for _, n := range list(s["requires"]) {
			f.Security.Requires = append(f.Security.Requires, n.(string))
		}
	}
	return f
}

// part reads bank, word and bits; without bits it is the whole word.
func part(o map[string]any) Part {
	p := Part{Bank: num(o["bank"]), Word: num(o["word"]), Width: 32}
	var spec string
	switch b := o["bits"].(type) {
	case json.Number:
		spec = string(b)
	case string:
		spec = b
	default:
		return p
	}
	hi, lo, found := strings.Cut(spec, ":")
	if !found {
		lo = hi
	}
	h, _ := strconv.Atoi(hi)
	l, _ := strconv.Atoi(lo)
	if h < l {
		h, l = l, h
	}
	p.Lsb, p.Width = l, h-l+1
	return p
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// num reads a schema-checked integer.
func num(v any) int {
	n, _ := v.(json.Number)
	i, _ := strconv.Atoi(string(n))
	return i
}

// unum reads a schema-checked unsigned integer.
func unum(v any) uint64 {
	n, _ := v.(json.Number)
	u, _ := strconv.ParseUint(string(n), 10, 64)
	return u
}

func bit(v any) int {
	if v == nil {
		return NoBit
	}
	return num(v)
}

// LoadOverlay reads an overlay file.
func LoadOverlay(path string) (*Overlay, error) {
	b, err := inputfile.Read(path, MaxSize)
	if err != nil {
		return nil, err
	}
	return ParseOverlay(path, b)
}

// Known reports whether name is a SoC with an embedded map.
func Known(name string) bool {
	for _, n := range Names() {
		if n == name {
			return true
		}
	}
	return false
}
