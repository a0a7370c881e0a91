// Package importer writes a manifest that reproduces the burned state of a
// device: `otpprov import`. Planned against the board it was read from, the
// manifest is a no-op; applied to a blank board of the same SoC, it burns
// the same fuses, except what a product's manifest must never carry: the
// part's identity, NXP's factory fuses, secrets, and what cannot be read or
// programmed through nvmem.
//
// How the bits of a word are assigned to entries:
//
//   - Skipped bits are never in any entry: the bits of the identity field
//     (and so of any field that shares them), of factory fields and of
//     secret fields, and every bit of a word that is read-protected
//     (0xBADABADA) or that the driver cannot program.
//   - A field whose value differs on every unit (fusemap.Field.Varies: a
//     MAC address, a field the map marks perUnit) is never a literal: a
//     golden board's MAC, copied into a manifest applied across a line,
//     would give every unit the same. When it is set and a variable can
//     hold it, its entry's value is a variable named after it (MAC_ADDR0:
//     ${mac_addr0}); otherwise its bits are skipped and a note says why.
//   - A leaf field is one that contains no other field of the map in any of
//     its words (of two fields with the same bits, the narrower one overall,
//     then the first in the map, is the leaf). Every non-blank leaf that
//     has no skipped bit, lies in words that are exported (and selected),
//     and whose value a manifest can give (a MAC with the multicast bit
//     cannot be) is one field entry: its value states every bit of the
//     field, 0 bits included.
//   - What is left of a word goes into one raw entry: the bits of leaves that
//     could not be a field entry (when they are not all 0), and the bits no
//     leaf names (when one of them is 1). Its mask is all of those bits, 0s
//     included, and its value the word's bits there: on a board whose
//     unnamed bits differ (NXP's own data, which the map may not name) the
//     plan is a conflict rather than a silent burn of this board's 1 bits.
//
// So every set bit of an exported word is in exactly one entry, and no entry
// wants a 1 where the device has a 0.
package importer

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// Options says what to import.
type Options struct {
	Name   string   // metadata.name of the manifest (default "imported-<soc>")
	Fields []string // only these fields (by name); empty = every field
	Source string   // what was read, for the header comment (device path or dump file)
}

// manifestName is the manifest schema's pattern for metadata.name.
var manifestName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`) })

// Variable is a per-unit field the manifest gives as a variable.
type Variable struct {
	Name  string // the manifest variable: the field's name in lower case
	Field string
	Type  manifest.VarType
	Value string // the value on the board read, as --var takes it
}

// Result says what the import wrote besides the manifest's text.
type Result struct {
	// Variables are the per-unit fields written as variables, in entry
	// order: each unit needs its own value.
	Variables []Variable
}

// Manifest writes a manifest (YAML) that reproduces the burned state of a
// device. state is the device as read: one word per nvmem read index, with
// 0xBADABADA for read-protected words. Nothing is written when it fails.
func Manifest(w io.Writer, m *fusemap.Map, state []uint32, opts Options) (Result, error) {
	if m == nil {
		return Result{}, fmt.Errorf("import: no fuse map")
	}
	if len(state) != m.Words {
		return Result{}, fmt.Errorf("import: the device has %d words (%d bytes) but %s has %d (%d bytes)",
			len(state), 4*len(state), m.Name, m.Words, m.Bytes())
	}
	name := opts.Name
	if name == "" {
		name = "imported-" + m.Name
	}
	if !manifestName().MatchString(name) {
		return Result{}, fmt.Errorf("import: manifest name %q: use letters, digits, '.', '_' and '-', at most 63, starting with a letter or digit", name)
	}
	im := newImport(m, state)
	if err := im.selectFields(opts.Fields); err != nil {
		return Result{}, err
	}
	im.assign()
	if len(im.entries) == 0 {
		return Result{}, im.nothing()
	}
	var b bytes.Buffer
	im.render(&b, name, opts.Source)
	if _, err := w.Write(b.Bytes()); err != nil {
		return Result{}, err
	}
	return Result{Variables: im.variables()}, nil
}

// variables lists the variable entries, in entry order.
func (im *importer) variables() []Variable {
	var out []Variable
	for _, e := range im.entries {
		if e.variable != nil {
			out = append(out, *e.variable)
		}
	}
	return out
}

// word is one fuse word of the device.
type word struct {
	bank, word int
	index      int    // read index: where state holds it
	value      uint32 // as read
	protected  bool   // reads 0xBADABADA
	writable   bool   // the driver can program it
	sel        uint32 // the bits the import covers (all without --fields)
	skip       uint32 // identity, factory and secret bits
	covered    uint32 // bits of the field entries
	exported   uint32 // the 1 bits the entries burn on a blank board
	notes      []string
}

// exportable reports whether the word's bits may be in entries at all.
func (w *word) exportable() bool { return !w.protected && w.writable }

// entry is one item of the fuses list: a field, or a raw word.
type entry struct {
	field *fusemap.Field
	value string // the field's value as YAML

	variable *Variable // a per-unit field: value is ${variable.Name}

	raw   *word
	mask  uint32
	label string
	notes []string // comment lines before the entry (alone: notes only)
}

type importer struct {
	m       *fusemap.Map
	state   []uint32
	words   []*word // in read order
	byKey   map[[2]int]*word
	gaps    []string // notes on read indexes that hold no fuse but are not 0
	leaf    map[*fusemap.Field]bool
	entries []entry
	// fieldNotes go before the first entry of the field's first word.
	fieldNotes map[*word][]string
	// The fields left out, by reason, for the header.
	identity, factory, secret, perUnit []string
	selected                           bool
}

func newImport(m *fusemap.Map, state []uint32) *importer {
	im := &importer{m: m, state: state, byKey: map[[2]int]*word{}, fieldNotes: map[*word][]string{}}
	for k := 0; k < m.Words; k++ {
		bank, wd, ok := m.BankWord(k)
		if !ok {
			if state[k] != 0 {
				im.gaps = append(im.gaps, fmt.Sprintf("read offset 0x%x holds no fuse (a gap in the shadow registers) but reads 0x%08x: ignored", 4*k, state[k]))
			}
			continue
		}
		w := &word{bank: bank, word: wd, index: k, value: state[k], sel: 0xffffffff,
			protected: state[k] == fusemap.ReadProtected, writable: m.Writable(m.WriteIndex(bank, wd))}
		for _, f := range m.FieldsAt(bank, wd) {
			if f.Identity || f.Factory || f.Secret {
				w.skip |= f.MaskIn(bank, wd)
			}
			for i, p := range f.Parts {
				if p.Bank == bank && p.Word == wd {
					w.skip |= p.Mask() &^ f.ValueMask(i) // a pattern's factory bits are NXP's
				}
			}
		}
		im.words = append(im.words, w)
		im.byKey[[2]int{bank, wd}] = w
	}
	im.leaf = leaves(m)
	return im
}

// leaves finds the fields that contain no other field in any of their
// words. Of two fields with the same bits in a word, the narrower overall
// (then the first in the map) is the leaf.
func leaves(m *fusemap.Map) map[*fusemap.Field]bool {
	order := map[*fusemap.Field]int{}
	for i, f := range m.Fields {
		order[f] = i
	}
	narrower := func(g, f *fusemap.Field) bool {
		if g.Width() != f.Width() {
			return g.Width() < f.Width()
		}
		return order[g] < order[f]
	}
	out := map[*fusemap.Field]bool{}
	for _, f := range m.Fields {
		leaf := true
		for _, p := range f.Parts {
			fm := f.MaskIn(p.Bank, p.Word)
			for _, g := range m.FieldsAt(p.Bank, p.Word) {
				gm := g.MaskIn(p.Bank, p.Word)
				if g != f && gm&fm == gm && (gm != fm || narrower(g, f)) {
					leaf = false
				}
			}
		}
		out[f] = leaf
	}
	return out
}

// selectFields limits the import to the named fields' bits.
func (im *importer) selectFields(names []string) error {
	var unknown, never []string
	var fields []*fusemap.Field
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		f := im.m.Field(n)
		if f == nil {
			unknown = append(unknown, n)
			continue
		}
		if why := im.never(f); why != "" {
			never = append(never, n+" "+why)
			continue
		}
		fields = append(fields, f)
	}
	switch {
	case len(unknown) > 0:
		return fmt.Errorf("import: unknown field%s %s for %s (`otpprov fusemap show %s` lists the fields)",
			plural(len(unknown)), strings.Join(unknown, ", "), im.m.Name, im.m.Name)
	case len(never) > 0:
		return fmt.Errorf("import: %s: never exported", strings.Join(never, "; "))
	case len(fields) == 0:
		return nil // every field
	}
	im.selected = true
	for _, w := range im.words {
		w.sel = 0
	}
	for _, f := range fields {
		for _, p := range f.Parts {
			if w := im.byKey[[2]int{p.Bank, p.Word}]; w != nil {
				w.sel |= p.Mask()
			}
		}
	}
	return nil
}

// never says why a field can never be exported, or "" if it can.
func (im *importer) never(f *fusemap.Field) string {
	id := im.identityIn(f)
	switch {
	case f.Identity:
		return "identifies the part"
	case id != nil:
		return "holds bits of " + id.Name + ", which identifies the part"
	case f.Secret:
		return "is secret"
	case f.Factory:
		return "is programmed by NXP at test (factory)"
	}
	for _, p := range f.Parts {
		if w := im.byKey[[2]int{p.Bank, p.Word}]; w == nil || p.Mask()&^w.skip != 0 {
			return ""
		}
	}
	return "holds only identity, factory or secret bits"
}

// identityIn returns the identity field that f shares bits with, if any.
func (im *importer) identityIn(f *fusemap.Field) *fusemap.Field {
	id := im.m.Identity()
	if id == nil || id == f {
		return nil
	}
	for _, p := range f.Parts {
		if id.MaskIn(p.Bank, p.Word)&p.Mask() != 0 {
			return id
		}
	}
	return nil
}

// wordOf returns the word of a part; nil if it cannot be read.
func (im *importer) wordOf(p fusemap.Part) *word { return im.byKey[[2]int{p.Bank, p.Word}] }

// assign decides the entries: field entries for the leaves that can be
// one, then one raw entry per word for what is left.
func (im *importer) assign() {
	im.noteWords()
	im.noteSkipped()
	fields := map[*word][]entry{}
	// Per-unit fields first: their bits are a variable's or nobody's, never
	// a leaf's inside them nor a raw entry's.
	var order []*fusemap.Field
	for _, f := range im.m.Fields {
		if f.Varies() && !f.Identity && !f.Factory && !f.Secret {
			order = append(order, f)
		}
	}
	for _, f := range im.m.Fields {
		if !f.Varies() && im.leaf[f] && !f.Identity && !f.Factory && !f.Secret {
			order = append(order, f)
		}
	}
	for _, f := range order {
		var e entry
		var ok bool
		if f.Varies() {
			e, ok = im.unitEntry(f)
		} else {
			e, ok = im.fieldEntry(f)
		}
		if !ok {
			continue
		}
		first := im.wordOf(f.Parts[0])
		for _, p := range f.Parts {
			w := im.wordOf(p)
			w.covered |= p.Mask()
			w.exported |= w.value & p.Mask()
			if w.index < first.index {
				first = w
			}
		}
		fields[first] = append(fields[first], e)
	}
	for _, w := range im.words {
		if notes := append(append([]string(nil), w.notes...), im.fieldNotes[w]...); len(notes) > 0 {
			im.entries = append(im.entries, entry{notes: notes}) // comments alone
		}
		// Fields in the order the map lists them at the word: whole words
		// first, then from the most significant bit down.
		es := fields[w]
		at := map[*fusemap.Field]int{}
		for i, f := range im.m.FieldsAt(w.bank, w.word) {
			at[f] = i
		}
		sort.SliceStable(es, func(i, j int) bool { return at[es[i].field] < at[es[j].field] })
		im.entries = append(im.entries, es...)
		if raw, ok := im.rawEntry(w); ok {
			w.exported |= w.value & raw.mask
			im.entries = append(im.entries, raw)
		}
	}
	// Comments alone are not entries: a manifest needs at least one.
	for _, e := range im.entries {
		if e.field != nil || e.raw != nil {
			return
		}
	}
	im.entries = nil
}

// noteWords writes the comments for words that are left out whole.
func (im *importer) noteWords() {
	for _, w := range im.words {
		switch {
		case w.sel == 0:
		case w.protected:
			w.notes = append(w.notes, fmt.Sprintf("bank %d word %d is read-protected: not exported", w.bank, w.word))
		case !w.writable && w.value&w.sel&^w.skip != 0:
			w.notes = append(w.notes, fmt.Sprintf("bank %d word %d cannot be programmed through nvmem: not exported", w.bank, w.word))
		}
	}
}

// noteSkipped writes the comments for the identity, factory and secret
// fields that hold set bits in the selection.
func (im *importer) noteSkipped() {
	for _, f := range im.m.Fields {
		var id *fusemap.Field
		if !f.Identity {
			id = im.identityIn(f)
		}
		if !f.Identity && !f.Factory && !f.Secret && id == nil {
			continue
		}
		var first *word
		set := false
		for _, p := range f.Parts {
			w := im.wordOf(p)
			if w == nil || w.sel&p.Mask() == 0 {
				continue
			}
			if first == nil || w.index < first.index {
				first = w
			}
			if !w.protected && w.value&p.Mask() != 0 {
				set = true
			}
		}
		if first == nil || !set {
			continue
		}
		var note string
		switch {
		case f.Identity:
			note = fmt.Sprintf("%s (%s) identifies the part: not exported", f.Name, f.Where())
			im.identity = append(im.identity, f.Name)
		case id != nil:
			note = fmt.Sprintf("%s (%s) holds bits of %s: not exported", f.Name, f.Where(), id.Name)
			im.identity = append(im.identity, f.Name)
		case f.Secret:
			note = fmt.Sprintf("%s (%s): secret, not exported", f.Name, f.Where())
			im.secret = append(im.secret, f.Name)
		default:
			note = fmt.Sprintf("%s (%s) is programmed by NXP at test (factory): not exported", f.Name, f.Where())
			im.factory = append(im.factory, f.Name)
		}
		im.fieldNotes[first] = append(im.fieldNotes[first], note)
	}
}

// unitEntry makes the entry of a per-unit field: a variable, when the field
// is set, wholly exported and selected, and a variable can hold its value.
// Otherwise its bits are skipped, so that no other entry states them, and a
// note says why when one of them is set.
func (im *importer) unitEntry(f *fusemap.Field) (entry, bool) {
	parts := make([]uint32, len(f.Parts))
	set, whole := false, true
	for i, p := range f.Parts {
		w := im.wordOf(p)
		if w == nil {
			whole = false
			continue
		}
		if !w.exportable() || p.Mask()&w.skip != 0 || p.Mask()&^w.sel != 0 || p.Mask()&w.covered != 0 {
			whole = false
		}
		if !w.protected && w.sel&p.Mask() != 0 {
			parts[i] = (w.value & p.Mask()) >> p.Lsb
			set = set || parts[i] != 0
		}
	}
	skip := func(why string) {
		first := (*word)(nil)
		for _, p := range f.Parts {
			if w := im.wordOf(p); w != nil {
				w.skip |= p.Mask()
				if first == nil || w.index < first.index {
					first = w
				}
			}
		}
		if set && why != "" && first != nil && first.sel != 0 {
			im.fieldNotes[first] = append(im.fieldNotes[first], fmt.Sprintf("%s (%s) differs on every unit %s: not exported", f.Name, f.Where(), why))
			im.perUnit = append(im.perUnit, f.Name)
		}
	}
	if !set || !whole {
		skip("and is not wholly in words the import exports")
		return entry{}, false
	}
	v := Variable{Name: strings.ToLower(f.Name), Field: f.Name}
	switch f.Encoding {
	case fusemap.MAC:
		n, _ := f.Number(parts)
		v.Type, v.Value = manifest.VarMAC, fusemap.FormatMAC(n)
		if _, err := fusemap.ParseMAC(v.Value); err != nil {
			skip(fmt.Sprintf("and reads %s, not an interface address a mac variable could hold", v.Value))
			return entry{}, false
		}
	case fusemap.Bool:
		v.Type, v.Value = manifest.VarBool, "true"
	default: // uint of at most 32 bits: the map refuses perUnit on others
		n, ok := f.Number(parts)
		if !ok || f.Width() > 32 {
			skip(fmt.Sprintf("and is %d bits wide, more than a u32 variable holds", f.Width()))
			return entry{}, false
		}
		v.Type, v.Value = manifest.VarU32, fmt.Sprintf("0x%0*x", (f.Width()+3)/4, n)
	}
	return entry{field: f, value: strconv.Quote("${" + v.Name + "}"), variable: &v,
		notes: []string{fmt.Sprintf("%s differs on every unit: the variable %s, never a literal (%s on the board read).", f.Name, v.Name, v.Value)}}, true
}

// fieldEntry makes the entry of a leaf field, if it can be one: every part
// exported, selected and free of skipped bits, some bit set, and a value a
// manifest can give.
func (im *importer) fieldEntry(f *fusemap.Field) (entry, bool) {
	parts := make([]uint32, len(f.Parts))
	blank := true
	for i, p := range f.Parts {
		w := im.wordOf(p)
		mask := f.ValueMask(i)
		if w == nil || !w.exportable() || mask&w.skip != 0 || p.Mask()&^w.sel != 0 || p.Mask()&w.covered != 0 {
			return entry{}, false
		}
		parts[i] = (w.value & mask) >> p.Lsb
		if parts[i] != 0 {
			blank = false
		}
	}
	if blank {
		return entry{}, false
	}
	var value string
	err := f.CheckPattern(parts)
	if err != nil {
		err = fmt.Errorf("is not its pattern 0x%x, the one value a manifest may give", f.Pattern.Value)
	} else {
		value, err = fieldValue(f, parts)
	}
	if err != nil {
		w := im.wordOf(f.Parts[0])
		for _, p := range f.Parts {
			if x := im.wordOf(p); x.index < w.index {
				w = x
			}
		}
		im.fieldNotes[w] = append(im.fieldNotes[w], fmt.Sprintf("%s (%s) %v: its bits are in raw entries", f.Name, f.Where(), err))
		return entry{}, false
	}
	return entry{field: f, value: value}, true
}

// fieldValue writes a field's value as a manifest gives it.
func fieldValue(f *fusemap.Field, parts []uint32) (string, error) {
	switch f.Encoding {
	case fusemap.Bool:
		return "true", nil // a blank field is never an entry
	case fusemap.MAC:
		v, _ := f.Number(parts)
		s := fusemap.FormatMAC(v)
		if _, err := fusemap.ParseMAC(s); err != nil {
			return "", fmt.Errorf("reads %s, which a manifest cannot give as a MAC (not an interface address)", s)
		}
		return strconv.Quote(s), nil
	case fusemap.Hash:
		return strconv.Quote(f.Format(parts)), nil
	}
	v, ok := f.Number(parts)
	if !ok {
		return "", fmt.Errorf("is wider than 64 bits, which a manifest cannot give as a number")
	}
	return strconv.Quote(fmt.Sprintf("0x%0*x", (f.Width()+3)/4, v)), nil
}

// rawEntry makes the raw entry of what is left of a word: leaves that
// could not be field entries (if not all 0) and the bits no leaf names (if
// one of them is 1). Every bit it selects is stated, 0s included.
func (im *importer) rawEntry(w *word) (entry, bool) {
	if !w.exportable() {
		return entry{}, false
	}
	avail := w.sel &^ w.skip &^ w.covered
	if w.value&avail == 0 {
		return entry{}, false
	}
	var mask, named uint32
	var labels, notes []string
	for _, f := range im.m.FieldsAt(w.bank, w.word) {
		if !im.leaf[f] {
			continue
		}
		fm := f.MaskIn(w.bank, w.word)
		named |= fm
		if b := fm & avail; b != 0 && w.value&b != 0 {
			mask |= b
			labels = append(labels, f.Name)
			notes = append(notes, fmt.Sprintf("bank %d word %d bits %s: %s, not as a field entry", w.bank, w.word, manifest.BitList(b), f.Name))
		}
	}
	if rest := avail &^ named; w.value&rest != 0 {
		mask |= rest
		var in []string
		for _, f := range im.m.FieldsAt(w.bank, w.word) {
			if !im.leaf[f] && f.MaskIn(w.bank, w.word)&rest != 0 {
				in = append(in, f.Name)
			}
		}
		where := "no field of the " + im.m.Name + " map names them"
		label := "unnamed"
		if len(in) > 0 {
			where = "in " + strings.Join(in, ", ") + ", no narrower field names them"
			label = strings.Join(in, ", ") + " unnamed bits"
		}
		labels = append(labels, label)
		notes = append(notes, fmt.Sprintf("bank %d word %d bits %s: %s", w.bank, w.word, manifest.BitList(rest), where))
	}
	return entry{raw: w, mask: mask, label: strings.Join(labels, ", "), notes: notes}, true
}

// nothing explains an import with no entry: a manifest needs at least one.
func (im *importer) nothing() error {
	what := "the device"
	if im.selected {
		what = "the selected fields"
	}
	var why []string
	if len(im.identity)+len(im.factory)+len(im.secret) > 0 {
		why = append(why, "identity, factory and secret fuses are never exported")
	}
	for _, w := range im.words {
		if w.sel != 0 && (w.protected || !w.writable && w.value&w.sel&^w.skip != 0) {
			why = append(why, "some words are read-protected or cannot be programmed")
			break
		}
	}
	msg := fmt.Sprintf("import: nothing to export: %s hold no fuse a manifest can burn", what)
	if len(why) > 0 {
		msg += " (" + strings.Join(why, "; ") + ")"
	}
	return fmt.Errorf("%s", msg)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
