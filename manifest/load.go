// Package manifest loads, validates and resolves fuse manifests: the YAML
// files, one per product SKU, that declare which OTP words a board must have.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/schema"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/schemas"
)

// MaxSize caps a manifest file. The largest real manifest (every word of an
// i.MX8MP) is a few tens of KiB; anything near this is not a manifest.
const MaxSize = 1 << 20

// Manifest is a loaded and validated manifest.
type Manifest struct {
	File        string
	Files       []string // the files read: the bases it extends first, File last
	ValueFiles  []string // the files valueFrom read, as opened, in entry order
	Inputs      []Input  // every file read, with the digest of the bytes used
	Digest      string   // "sha256:" and the hex digest of the file's bytes (of every file's digest, for a chain)
	Variables   []Variable
	VarFields   map[string][]string // by variable: the fields whose entries take it as value
	VarBits     map[string][]Bits   // by variable: the words its entries set (fields and raw)
	VarRaw      map[string][]Bits   // by variable: the words its raw entries set (Bank, Word, Mask; no Value), known without values
	Unresolved  []string            // variables left without a value (Options.Check)
	Name        string
	Description string
	SoC         fusemap.SoC
	Map         *fusemap.Map // the SoC's fuse map, with overlays
	Fuses       []Fuse
	Targets     []Target // Fuses merged by word, in word order
}

// Input is one file loading the manifest read, and the SHA-256 of the
// bytes it used. A release's digests are checked against these: the bytes
// parsed, not the file hashed again, which may have changed in between.
type Input struct {
	Role   string // RoleManifest, RoleBase, RoleValueFrom, RoleOverlay
	Path   string // as opened
	SHA256 string // lower-case hex
}

// The roles of an Input.
const (
	RoleManifest  = "manifest"
	RoleBase      = "extends base"
	RoleValueFrom = "valueFrom file"
	RoleOverlay   = "fuse map overlay"
)

// SameInputs checks that again, the manifest parsed once more (with the
// ledger's values), read exactly the bytes m read: a file changed in
// between would be planned without having been checked.
func (m *Manifest) SameInputs(again *Manifest) error {
	want := make(map[string]string, len(m.Inputs))
	for _, in := range m.Inputs {
		want[in.Path] = in.SHA256
	}
	for _, in := range again.Inputs {
		if sum, ok := want[in.Path]; !ok || sum != in.SHA256 {
			return fmt.Errorf("%s %s changed while otpprov read it (its sha256 is now %s)", in.Role, in.Path, in.SHA256)
		}
	}
	return nil
}

// Fuse is one entry of the manifest's fuses list: a raw bank/word entry,
// or a named field of the fuse map.
type Fuse struct {
	Name  string // the entry's label, or the field's name
	Field string // the field it names; "" for a raw entry
	Bits  []Bits // the words it sets, one per part of the field
	Pos   Pos
}

// Bits is what one entry wants of one word: the bits of Mask read as Value.
type Bits struct {
	Bank, Word  int
	Value, Mask uint32
	Secret      bool // the value came from a secret variable
}

// Load reads and validates a manifest file against the embedded fuse maps.
func Load(path string) (*Manifest, error) { return LoadWith(path, fusemap.Load) }

// MapSource returns the fuse map a manifest's soc names: the embedded map,
// or the map with a board vendor's overlays applied.
type MapSource func(soc string) (*fusemap.Map, error)

// Parse validates manifest bytes against the embedded fuse maps; file names
// them in diagnostics. Every problem found is returned at once.
func Parse(file string, b []byte) (*Manifest, error) { return ParseWith(file, b, fusemap.Load) }

// LoadWith reads and validates a manifest file against maps.
func LoadWith(path string, maps MapSource) (*Manifest, error) {
	b, err := inputfile.Read(path, MaxSize)
	if err != nil {
		return nil, err
	}
	return ParseWith(path, b, maps)
}

// ParseWith validates manifest bytes, resolving named fields with maps.
func ParseWith(file string, b []byte, maps MapSource) (*Manifest, error) {
	return ParseOpts(file, b, Options{Maps: maps})
}

// Options are what a manifest is resolved with besides its files.
type Options struct {
	Maps MapSource // default fusemap.Load
	// Vars are the per-unit values given by the operator, by name, already
	// merged by precedence (--var over --var-file over OTPPROV_VAR_name).
	Vars map[string]VarValue
	// Check validates a manifest without a unit: a variable with no value
	// is not an error, and the entries using it make no targets.
	Check bool
}

// LoadOpts reads and validates a manifest file.
func LoadOpts(path string, o Options) (*Manifest, error) {
	b, err := inputfile.Read(path, MaxSize)
	if err != nil {
		return nil, err
	}
	return ParseOpts(path, b, o)
}

// ParseOpts validates a manifest, the manifests it extends, and the
// variables it declares; every problem in any of them is returned at once.
func ParseOpts(file string, b []byte, o Options) (*Manifest, error) {
	if o.Maps == nil {
		o.Maps = fusemap.Load
	}
	chain, diags := readChain(file, b)
	if len(chain) == 0 {
		return nil, diags
	}
	vars, vdiags := resolveVars(chain, o.Vars, o.Check)
	diags = append(diags, vdiags...)
	m := &Manifest{File: file}
	soc, socPos := "", Pos{}
	for _, l := range chain {
		root, _ := l.Value.(map[string]any)
		if s, ok := root["soc"].(string); ok {
			if soc != "" && s != soc {
				diags.Add(l.PosOf("/soc"), "a manifest and the ones it extends are for one SoC", "soc %s differs from soc %s at %s", s, soc, socPos)
			}
			soc, socPos = s, l.PosOf("/soc")
		}
		if md, ok := root["metadata"].(map[string]any); ok {
			m.Name, _ = md["name"].(string)
			m.Description, _ = md["description"].(string)
		}
		m.Files = append(m.Files, l.File)
	}
	fm, err := o.Maps(soc) // an unknown soc the schema reports
	if err != nil && fusemap.Known(soc) {
		// An overlay that cannot be read or does not apply: its problems
		// are in the overlay, at their own places.
		var ds Diagnostics
		var fe *inputfile.Error
		switch {
		case errors.As(err, &ds):
			diags = append(diags, ds...)
		case errors.As(err, &fe):
			diags.Add(Pos{File: fe.Path}, inputfile.Hint(fe), "%v", fe.Err)
		default:
			diags.Add(socPos, "", "%v", err)
		}
	}
	if fm != nil {
		m.Map, m.SoC = fm, fm.SoC
	}
	for i, l := range chain {
		role := RoleBase
		if i == len(chain)-1 {
			role = RoleManifest
		}
		m.Inputs = append(m.Inputs, Input{Role: role, Path: l.File, SHA256: hex.EncodeToString(l.digest[:])})
	}
	if fm != nil {
		for i, f := range fm.Overlays {
			m.Inputs = append(m.Inputs, Input{Role: RoleOverlay, Path: f, SHA256: fm.OverlayDigests[i]})
		}
	}
	h := sha256.New()
	for _, l := range chain {
		t := &tree{Doc: l.Doc, maps: o.Maps, secret: map[string]bool{}, fileVar: map[string]bool{}}
		diags = append(diags, vars.substitute(t)...)
		diags = append(diags, t.validateSchema()...)
		m.Fuses = append(m.Fuses, t.decodeFuses(fm, &diags)...)
		m.ValueFiles = append(m.ValueFiles, t.valueFiles...)
		m.Inputs = append(m.Inputs, t.valueInputs...)
		h.Write(l.digest[:])
	}
	diags = append(diags, vars.unused()...)
	m.Variables = vars.list()
	m.VarFields = vars.fieldsOf()
	m.VarBits = vars.bitsOf(m.Fuses)
	m.VarRaw = vars.rawOf()
	m.Unresolved = vars.unresolved
	targets, conflicts := m.resolve()
	diags = append(diags, conflicts...)
	m.Targets = targets
	if len(chain) == 1 {
		m.Digest = "sha256:" + hex.EncodeToString(chain[0].digest[:])
	} else {
		// A chain's digest covers every file's, base first.
		m.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	return m, nil
}

// tree is a parsed manifest on its way to a Manifest.
type tree struct {
	*yamldoc.Doc
	maps MapSource
	// secret holds the entries (by pointer) whose value came from a
	// secret variable.
	secret map[string]bool
	// fileVar holds the entries (by pointer) whose valueFrom.file came
	// from a file variable: a path the operator gave, or a default that
	// was checked where it was declared.
	fileVar map[string]bool
	// valueFiles are the files valueFrom read: --out must not replace one.
	valueFiles  []string
	valueInputs []Input
}

var (
	schemaOnce     sync.Once
	manifestSchema *schema.Schema
	schemaErr      error
)

func (t *tree) validateSchema() Diagnostics {
	schemaOnce.Do(func() { manifestSchema, schemaErr = schemas.CompileManifest() })
	if schemaErr != nil {
		// The schema is embedded and tested: this is a build defect.
		return Diagnostics{{Pos: Pos{File: t.File}, Message: "internal error: manifest schema: " + schemaErr.Error()}}
	}
	ds := t.Validate(manifestSchema, t.schemaDiag)
	for i, d := range ds {
		if d.Message == `unknown key "device" in the manifest` {
			ds[i].Hint = "a manifest never chooses the device: the operator does, with --device or OTPPROV_DEVICE"
		}
	}
	return ds
}

var (
	rawKey  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/fuses/\d+/(bank|word|mask|name)$`) })
	varDecl = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/variables/([^/]+)$`) })
)

// schemaDiag words the schema errors that have a manifest-specific story;
// the rest get yamldoc's generic wording.
func (t *tree) schemaDiag(e yamldoc.SchemaError) (Diagnostics, bool) {
	var ds Diagnostics
	loc := e.Ptr
	switch e.Keyword {
	case "false":
		if rawKey().MatchString(loc) {
			ds.Add(t.KeyPos[loc], "a field entry takes field and value (or valueFrom); bank, word, mask and name belong to raw entries",
				"%s is not allowed with field", e.Where)
			return ds, true
		}
		if strings.HasSuffix(loc, "/valueFrom") {
			ds.Add(t.KeyPos[loc], "valueFrom reads a named field's value from a file: add field, or write value", "%s needs field", e.Where)
			return ds, true
		}
	case "minimum", "maximum", "pattern":
		if strings.HasSuffix(loc, "/value") || strings.HasSuffix(loc, "/mask") {
			ds.Add(e.Pos, `write a number (15, 0x0f) or a quoted hex string ("0x0000000f")`, "%s must be a 32-bit word", e.Where)
			return ds, true
		}
		if strings.HasSuffix(loc, "/metadata/name") {
			ds.Add(e.Pos, "", "%s: use letters, digits, '.', '_' and '-', at most 63, starting with a letter or digit", e.Where)
			return ds, true
		}
		if m := varDecl().FindStringSubmatch(loc); m != nil && e.Keyword == "pattern" {
			ds.Add(t.KeyPos[loc], "", "variable name %s: use letters, digits and '_', at most 64, not starting with a digit",
				yamldoc.Clip(yamldoc.UnescapePointer(m[1])))
			return ds, true
		}
		if strings.HasSuffix(loc, "/field") {
			hint := "`otpprov fusemap show SOC` lists the fields"
			if s := t.suggestField(loc); s != "" {
				hint = s
			}
			ds.Add(e.Pos, hint, "%s: a field name is upper case letters, digits and '_'", e.Where)
			return ds, true
		}
	case "const", "enum":
		switch loc {
		case "/soc":
			name, _ := t.At(loc).(string)
			ds.Add(e.Pos, fusemap.DidYouMean(fusemap.SuggestSoC(name)), "%s: unknown soc (supported: %s)", e.Where, strings.Join(fusemap.Names(), ", "))
		case "/apiVersion":
			ds.Add(e.Pos, "", "%s: must be otpprov/v1", e.Where)
		case "/kind":
			ds.Add(e.Pos, "", "%s: must be FuseManifest", e.Where)
		default:
			return nil, false
		}
		return ds, true
	case "minItems":
		ds.Add(e.Pos, "", "%s: list at least one fuse", e.Where)
		return ds, true
	}
	return nil, false
}

// suggestField is the "did you mean" hint for the field name at loc, from
// the document's SoC map: "" when the SoC is unknown or nothing is close.
func (t *tree) suggestField(loc string) string {
	name, _ := t.At(loc).(string)
	soc, _ := t.At("/soc").(string)
	if t.maps == nil || !fusemap.Known(soc) {
		return ""
	}
	fm, err := t.maps(soc)
	if err != nil {
		return ""
	}
	return fusemap.DidYouMean(fm.SuggestField(name))
}

// decodeFuses decodes the document's entries and checks what the schema
// cannot: geometry, masks, field values. It decodes what it can even when
// other parts are wrong, so that one run reports every problem.
func (t *tree) decodeFuses(fm *fusemap.Map, diags *Diagnostics) []Fuse {
	var out []Fuse
	root, _ := t.Value.(map[string]any)
	fuses, _ := root["fuses"].([]any)
	for i := range fuses {
		ptr := fmt.Sprintf("/fuses/%d", i)
		obj, _ := t.At(ptr).(map[string]any)
		var f Fuse
		var ok bool
		if _, named := obj["field"]; named {
			f, ok = t.decodeField(ptr, obj, fm, diags)
		} else {
			// Without a SoC the entries' values and masks are still checked.
			f, ok = t.decodeRaw(ptr, obj, fm, diags)
		}
		if t.secret[ptr] {
			for i := range f.Bits {
				f.Bits[i].Secret = true
			}
		}
		if ok {
			out = append(out, f)
		}
	}
	return out
}

// decodeRaw reads a bank/word entry.
func (t *tree) decodeRaw(ptr string, obj map[string]any, fm *fusemap.Map, diags *Diagnostics) (Fuse, bool) {
	bank, okB := index(obj["bank"])
	word, okW := index(obj["word"])
	value, okV := u32(obj["value"])
	mask, okM := uint32(0xffffffff), true
	if _, set := obj["mask"]; set {
		mask, okM = u32(obj["mask"])
	}
	if !okB || !okW || !okV || !okM {
		return Fuse{}, false // the schema reported it
	}
	f := Fuse{Pos: t.PosOf(ptr)}
	f.Name, _ = obj["name"].(string)
	b := Bits{Bank: int(bank), Word: int(word), Value: value, Mask: mask}
	f.Bits = []Bits{b}
	ok := fm != nil // without a SoC, bank and word cannot be checked
	if fm != nil {
		if b.Bank >= fm.Banks() {
			diags.Add(t.PosOf(ptr+"/bank"), "", "bank %d is outside %s, which has banks 0..%d", b.Bank, fm.Name, fm.Banks()-1)
			ok = false
		}
		if b.Word >= fm.WordsPerBank {
			diags.Add(t.PosOf(ptr+"/word"), "", "word %d is outside a %s bank, which has words 0..%d", b.Word, fm.Name, fm.WordsPerBank-1)
			ok = false
		}
		if ok {
			ok = t.checkWord(f.Pos, fm, b, diags)
		}
		if ok {
			if err := nxpBits(fm, b.Bank, b.Word, mask); err != nil {
				diags.Add(f.Pos, "remove the entry", "%v", err)
				ok = false
			}
		}
	}
	if mask == 0 {
		diags.Add(t.PosOf(ptr+"/mask"), "remove the entry, or set the bits it should check", "mask 0x00000000 selects no bits")
		ok = false
	}
	if extra := value &^ mask; extra != 0 {
		if t.secret[ptr] || fm != nil && b.Bank < fm.Banks() && fm.SecretBits(b.Bank, b.Word) != 0 {
			diags.Add(t.PosOf(ptr+"/value"), "widen the mask", "the secret value has bits outside mask 0x%08x", mask)
		} else {
			diags.Add(t.PosOf(ptr+"/value"), "widen the mask or clear those bits in the value",
				"value 0x%08x has bits outside mask 0x%08x: 0x%08x (bits %s)", value, mask, extra, BitList(extra))
		}
		ok = false
	}
	return f, ok
}

// checkWord refuses a word the driver cannot write or read correctly.
func (t *tree) checkWord(pos Pos, fm *fusemap.Map, b Bits, diags *Diagnostics) bool {
	if err := driverCannot(fm, b.Bank, b.Word); err != nil {
		diags.Add(pos, "", "%v", err)
		return false
	}
	return true
}

// driverCannot says why the driver cannot write or read back bank/word of
// fm correctly, or nil.
func driverCannot(fm *fusemap.Map, bank, word int) error {
	switch {
	case !fm.Writable(fm.WriteIndex(bank, word)):
		return fmt.Errorf("bank %d word %d cannot be programmed through nvmem: %s", bank, word, fm.WriteHazard)
	case !fm.Readable(bank, word):
		return fmt.Errorf("bank %d word %d cannot be read through nvmem on %s, so it cannot be planned or verified", bank, word, fm.Name)
	}
	return nil
}

// nxpBits refuses mask bits of bank/word that belong to the part's
// identity field or to a factory field (tester words, calibration, the
// tester lock), or returns nil: a raw entry must not reach what a named
// one may not.
func nxpBits(fm *fusemap.Map, bank, word int, mask uint32) error {
	// The identity first: a tester word that holds it is named by it.
	for _, g := range fm.FieldsAt(bank, word) {
		if g.Identity && g.MaskIn(bank, word)&mask != 0 {
			return fmt.Errorf("bank %d word %d is %s, which NXP programs: it identifies the part and is never written", bank, word, g.Name)
		}
	}
	g, in := factoryIn(fm, bank, word, mask)
	if in == 0 {
		return nil
	}
	err := fmt.Errorf("bank %d word %d mask 0x%08x is %s, programmed by NXP at test (factory): a manifest never writes it", bank, word, in, g.Name)
	if rest := mask &^ in; rest != 0 {
		err = fmt.Errorf("%w; leave its bits out of the mask: 0x%08x", err, rest)
	}
	return err
}

// factoryIn returns the bits of mask at bank/word that NXP's factory
// fields hold, and one such field to name.
func factoryIn(fm *fusemap.Map, bank, word int, mask uint32) (*fusemap.Field, uint32) {
	var first *fusemap.Field
	var bits uint32
	for _, g := range fm.FieldsAt(bank, word) {
		if in := g.MaskIn(bank, word) & mask; g.Factory && in != 0 {
			if first == nil {
				first = g
			}
			bits |= in
		}
	}
	return first, bits
}

// CheckTarget applies the rules every manifest entry passes to a target
// that comes from elsewhere: a saved plan is a file, and its checksum is
// no signature. It says what is wrong with t on fm, or returns nil.
func CheckTarget(fm *fusemap.Map, t Target) error {
	switch {
	case t.Bank < 0 || t.Bank >= fm.Banks() || t.Word < 0 || t.Word >= fm.WordsPerBank:
		return fmt.Errorf("bank %d word %d is outside %s, which has banks 0..%d of words 0..%d", t.Bank, t.Word, fm.Name, fm.Banks()-1, fm.WordsPerBank-1)
	case t.Index != fm.ReadIndex(t.Bank, t.Word) || t.WriteIndex != fm.WriteIndex(t.Bank, t.Word):
		return fmt.Errorf("bank %d word %d is not word %d (written at %d) on %s", t.Bank, t.Word, t.Index, t.WriteIndex, fm.Name)
	case t.Mask == 0:
		return fmt.Errorf("bank %d word %d: mask 0x00000000 selects no bits", t.Bank, t.Word)
	case t.Value&^t.Mask != 0 && t.Secret != 0:
		return fmt.Errorf("bank %d word %d: the secret value has bits outside mask 0x%08x", t.Bank, t.Word, t.Mask)
	case t.Value&^t.Mask != 0:
		return fmt.Errorf("bank %d word %d: value 0x%08x has bits outside mask 0x%08x", t.Bank, t.Word, t.Value, t.Mask)
	}
	if err := driverCannot(fm, t.Bank, t.Word); err != nil {
		return err
	}
	return nxpBits(fm, t.Bank, t.Word, t.Mask)
}

// hexWord is the schema's pattern for a 32-bit word written as a string.
var hexWord = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^0[xX][0-9a-fA-F]{1,8}$`) })

// u32 reads a 32-bit word as the schema allows it: a number or a "0x"
// string of at most 8 digits. Anything else the schema has reported, so it
// is not decoded: a value the schema refused is not checked a second time.
func u32(v any) (uint32, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseUint(string(x), 10, 32)
		return uint32(n), err == nil
	case string:
		if !hexWord().MatchString(x) {
			return 0, false
		}
		n, err := strconv.ParseUint(x[2:], 16, 32)
		return uint32(n), err == nil
	}
	return 0, false
}

// index reads a bank or word number: the schema allows integers only.
func index(v any) (uint32, bool) {
	if x, ok := v.(json.Number); ok {
		n, err := strconv.ParseUint(string(x), 10, 32)
		return uint32(n), err == nil
	}
	return 0, false
}

// BitList names the set bits of v, highest first: "31,7,3..0".
func BitList(v uint32) string {
	var parts []string
	for hi := 31; hi >= 0; hi-- {
		if v&(1<<hi) == 0 {
			continue
		}
		lo := hi
		for lo > 0 && v&(1<<(lo-1)) != 0 {
			lo--
		}
		if lo == hi {
			parts = append(parts, strconv.Itoa(hi))
		} else {
			parts = append(parts, fmt.Sprintf("%d..%d", hi, lo))
		}
		hi = lo
	}
	return strings.Join(parts, ",")
}
