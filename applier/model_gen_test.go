package applier

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// The model test's generators: SoCs, boards, manifests as YAML text and
// faults. What an entry means is worked out here by the model's own
// encoding (a number split low part first, a hash as little-endian words),
// never by the loader's, so that the test can compare the two.

// modelSoCs are the SoCs cases run on, by weight: the i.MX8MM most, the
// i.MX6Q for its separate read and write offsets, the i.MX8MP for its
// 384 words of which only 256 may be written.
var modelSoCs = []struct {
	name   string
	weight int
}{{"imx8mm", 6}, {"imx6q", 2}, {"imx8mp", 2}}

// socModel is what the generator knows about one SoC: which words and
// fields a valid manifest may name, and which a manifest must not.
type socModel struct {
	m          *fusemap.Map
	raw        []bankWord       // words a raw entry may name
	fields     []*fusemap.Field // fields an entry may name
	locks      []*fusemap.Field // fields that lock regions
	lockWords  map[int]bool     // read indexes of words holding lock fields
	identity   []bankWord       // words NXP programs: refused
	unwritable []bankWord       // words the driver cannot write or read back: refused
}

type bankWord struct{ bank, word int }

// factory returns the bits of mask in word w that NXP's factory fields
// hold: a manifest may not name them.
func (sm *socModel) factory(w bankWord, mask uint32) uint32 {
	var bits uint32
	for _, f := range sm.m.FieldsAt(w.bank, w.word) {
		if f.Factory {
			bits |= f.MaskIn(w.bank, w.word)
		}
	}
	return bits & mask
}

var (
	socModelsOnce sync.Once
	socModels     map[string]*socModel
	socModelsErr  error
)

func loadSoCModels() (map[string]*socModel, error) {
	socModelsOnce.Do(func() {
		socModels = map[string]*socModel{}
		for _, s := range modelSoCs {
			m, err := fusemap.Load(s.name)
			if err != nil {
				socModelsErr = err
				return
			}
			socModels[s.name] = newSoCModel(m)
		}
	})
	return socModels, socModelsErr
}

func newSoCModel(m *fusemap.Map) *socModel {
	sm := &socModel{m: m, lockWords: map[int]bool{}}
	holdsIdentity := func(bank, word int) bool {
		for _, f := range m.FieldsAt(bank, word) {
			if f.Identity {
				return true
			}
		}
		return false
	}
	usable := func(bank, word int) bool {
		return m.Writable(m.WriteIndex(bank, word)) && m.Readable(bank, word)
	}
	for bank := 0; bank < m.Banks(); bank++ {
		for word := 0; word < m.WordsPerBank; word++ {
			switch {
			case !usable(bank, word):
				sm.unwritable = append(sm.unwritable, bankWord{bank, word})
			case holdsIdentity(bank, word):
				sm.identity = append(sm.identity, bankWord{bank, word})
			default:
				sm.raw = append(sm.raw, bankWord{bank, word})
			}
		}
	}
fields:
	for _, f := range m.Fields {
		if f.Lock != nil {
			sm.locks = append(sm.locks, f)
			for _, p := range f.Parts {
				sm.lockWords[m.ReadIndex(p.Bank, p.Word)] = true
			}
		}
		if f.Identity {
			continue
		}
		for _, p := range f.Parts {
			if holdsIdentity(p.Bank, p.Word) || !usable(p.Bank, p.Word) {
				continue fields
			}
		}
		sm.fields = append(sm.fields, f)
	}
	return sm
}

// sparse is a random word with a few bits set, as a partly burned word.
func sparse(rng *rand.Rand) uint32 { return rng.Uint32() & rng.Uint32() & rng.Uint32() }

// partMask is a part's bits within its word, worked out here rather than
// taken from fusemap.
func partMask(p fusemap.Part) uint32 {
	if p.Width == 32 {
		return 0xffffffff
	}
	return (1<<p.Width - 1) << p.Lsb
}

// wantBits is what one manifest entry asks of one word, in the model.
type wantBits struct {
	bank, word  int
	value, mask uint32
}

// entry is one generated manifest entry.
type entry struct {
	text string     // its YAML lines
	bits []wantBits // what it asks, by the model's encoding
	kind string     // raw, or the field's encoding: for the statistics
}

// device makes a random board: burned words, sometimes burned lock fields,
// read-protected and write-locked words (the sim's configuration, which
// the planner cannot see), biased towards the words the manifest names.
func (c *modelCase) device(targets []bankWord) {
	m, rng := c.soc.m, c.rng
	o := nvmem.NewOTP(m.Words)
	o.Map = m
	density := rng.IntN(4) // 0: a blank board; 3: a well-used one
	for r := range o.Fuses {
		if !c.soc.lockWords[r] && rng.IntN(4) < density {
			o.Fuses[r] = sparse(rng)
		}
	}
	if rng.IntN(4) == 0 {
		for i := rng.IntN(2); i >= 0; i-- {
			lf := c.soc.locks[rng.IntN(len(c.soc.locks))]
			for _, p := range lf.Parts {
				o.Fuses[m.ReadIndex(p.Bank, p.Word)] |= rng.Uint32() & partMask(p)
			}
			c.notef("board: %s burned", lf.Name)
		}
	}
	pick := func() bankWord {
		if len(targets) > 0 && rng.IntN(3) > 0 {
			return targets[rng.IntN(len(targets))]
		}
		return c.soc.raw[rng.IntN(len(c.soc.raw))]
	}
	if rng.IntN(10) == 0 {
		w := pick()
		o.ReadProtected[m.ReadIndex(w.bank, w.word)] = true
		c.notef("board: %d/%d read-protected", w.bank, w.word)
	}
	if rng.IntN(10) == 0 {
		w := pick()
		o.WriteLocked[m.WriteIndex(w.bank, w.word)] = true
		c.notef("board: %d/%d write-locked (sim)", w.bank, w.word)
	}
	c.otp = o
}

// intent is the value the generator means a word to have: mostly what
// the board holds plus a few bits, sometimes exactly what it holds,
// sometimes anything (which usually conflicts). All entries on one word
// share it, so that they agree unless a case wants them not to.
func (c *modelCase) intent(bank, word int) uint32 {
	k := c.soc.m.WriteIndex(bank, word)
	if v, ok := c.intents[k]; ok {
		return v
	}
	rng := c.rng
	cur := c.state[c.soc.m.ReadIndex(bank, word)]
	var v uint32
	switch {
	case cur == nvmem.ReadProtected:
		v = sparse(rng)
	case rng.IntN(14) == 0:
		v = rng.Uint32()
	case rng.IntN(4) == 0:
		v = cur
	default:
		v = cur | sparse(rng)
	}
	c.intents[k] = v
	return v
}

// number writes a number the ways a manifest may: decimal, hex, binary,
// or a quoted hex string.
func number(rng *rand.Rand, v uint64) string {
	switch rng.IntN(5) {
	case 0:
		return fmt.Sprint(v)
	case 1:
		return fmt.Sprintf("0b%b", v)
	case 2:
		return fmt.Sprintf(`"0x%x"`, v)
	case 3:
		return fmt.Sprintf(`"0x%08x"`, v)
	}
	return fmt.Sprintf("0x%x", v)
}

// rawEntry is a bank/word entry, with or without a mask.
func (c *modelCase) rawEntry(w bankWord, mask uint32, hasMask bool, i int) entry {
	rng := c.rng
	value := c.intent(w.bank, w.word) & mask
	var b strings.Builder
	if rng.IntN(4) == 0 {
		// A flow mapping on one line.
		fmt.Fprintf(&b, "  - {bank: %d, word: %d, value: %s", w.bank, w.word, number(rng, uint64(value)))
		if hasMask {
			fmt.Fprintf(&b, ", mask: %s", number(rng, uint64(mask)))
		}
		b.WriteString("}\n")
	} else {
		b.WriteString("  - ")
		if rng.IntN(2) == 0 {
			fmt.Fprintf(&b, "name: entry-%d\n    ", i)
		}
		fmt.Fprintf(&b, "bank: %d\n    word: %d\n    value: %s\n", w.bank, w.word, number(rng, uint64(value)))
		if hasMask {
			fmt.Fprintf(&b, "    mask: %s\n", number(rng, uint64(mask)))
		}
	}
	return entry{text: b.String(), bits: []wantBits{{w.bank, w.word, value, mask}}, kind: "raw"}
}

// randomMask is a raw entry's mask: whole word, a bit range, or scattered
// bits; never 0.
func randomMask(rng *rand.Rand) (uint32, bool) {
	switch rng.IntN(3) {
	case 0:
		return 0xffffffff, rng.IntN(2) == 0 // the default, or written out
	case 1:
		lo := rng.IntN(32)
		width := 1 + rng.IntN(32-lo)
		return uint32((uint64(1)<<width - 1) << lo), true
	}
	return rng.Uint32() | 1<<rng.IntN(32), true
}

// fieldEntry is a named-field entry whose value follows the words'
// intents, written in the field's encoding.
func (c *modelCase) fieldEntry(f *fusemap.Field) entry {
	rng := c.rng
	parts := make([]uint32, len(f.Parts))
	// NXP's factory bits under a wider field (LOCK over TESTER_LOCK) are
	// left 0 in most values, and set (refused) in one in 16.
	keepFactory := rng.IntN(16) == 0
	for i, p := range f.Parts {
		parts[i] = (c.intent(p.Bank, p.Word) & partMask(p)) >> p.Lsb
		if !keepFactory {
			parts[i] &^= c.soc.factory(bankWord{p.Bank, p.Word}, partMask(p)) >> p.Lsb
		}
	}
	e := entry{kind: string(f.Encoding)}
	var value string
	switch {
	case f.Pattern != nil:
		// The one value such a field takes (i.MX8MP FIELD_RETURN); the
		// bits NXP sets are not the manifest's: neither asked nor burned.
		value = number(rng, f.Pattern.Value)
		e.bits = splitNumber(f, f.Pattern.Value)
		shift := 0
		for i, p := range f.Parts {
			e.bits[i].mask &^= uint32(f.Pattern.Factory>>shift) << p.Lsb
			shift += p.Width
		}
	case f.Encoding == fusemap.Bool:
		value = [][2]string{{"false", "true"}, {"0", "1"}}[rng.IntN(2)][parts[0]&1]
		e.bits = splitNumber(f, uint64(parts[0]&1))
	case f.Encoding == fusemap.Hash:
		b := make([]byte, 4*len(parts))
		for i, v := range parts {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
		e.bits = splitBytes(f, b)
		digits := hex.EncodeToString(b)
		switch rng.IntN(4) {
		case 0:
			value = `"0x` + digits + `"`
		case 1:
			value = `"` + strings.ToUpper(digits) + `"`
		case 2:
			// valueFrom, as a CST fuse file: 32 raw bytes.
			file := filepath.Join(c.dir, fmt.Sprintf("case-%d-%s.bin", c.n, f.Name))
			if err := os.WriteFile(file, b, 0o644); err != nil {
				c.fatal = err
			}
			c.files = append(c.files, file)
			// Relative, next to the manifest: a literal valueFrom may not
			// leave the manifest's directory.
			e.text = fmt.Sprintf("  - field: %s\n    valueFrom: {file: %q}\n", f.Name, filepath.Base(file))
			return e
		default:
			value = `"` + digits + `"`
		}
	case f.Encoding == fusemap.MAC:
		n := joinParts(f, parts)
		// U-Boot refuses all-zero and multicast addresses, and so does the
		// loader: make the address valid (which may conflict with the board).
		n &^= 1 << 40
		if n == 0 {
			n = 0x02<<40 | uint64(sparse(rng))
		}
		value = `"` + fusemap.FormatMAC(n) + `"`
		e.bits = splitNumber(f, n)
	default:
		n := joinParts(f, parts) // a field wider than 64 bits gets 0 above
		value = number(rng, n)
		e.bits = splitNumber(f, n)
	}
	// A value over factory bits leaves them out of its target where it
	// has 0s, and is refused where it has a 1.
	for i, b := range e.bits {
		fb := c.soc.factory(bankWord{b.bank, b.word}, b.mask)
		if b.value&fb != 0 && c.invalid == "" && !f.Factory {
			c.invalid = fmt.Sprintf("%s sets factory bits of bank %d word %d", f.Name, b.bank, b.word)
		}
		e.bits[i].mask &^= fb
	}
	e.text = fmt.Sprintf("  - field: %s\n    value: %s\n", f.Name, value)
	return e
}

// joinParts is a field's number from its part values, low part first, up
// to 64 bits.
func joinParts(f *fusemap.Field, parts []uint32) uint64 {
	var n uint64
	shift := 0
	for i, p := range f.Parts {
		if shift >= 64 {
			break
		}
		n |= uint64(parts[i]) << shift
		shift += p.Width
	}
	return n
}

// splitNumber is what a number asks of a field's words: low part first.
func splitNumber(f *fusemap.Field, n uint64) []wantBits {
	var out []wantBits
	for _, p := range f.Parts {
		v := uint32(n & (uint64(1)<<p.Width - 1))
		n >>= p.Width
		out = append(out, wantBits{p.Bank, p.Word, v << p.Lsb, partMask(p)})
	}
	return out
}

// splitBytes is what a hash asks: word i is the i-th little-endian u32.
func splitBytes(f *fusemap.Field, b []byte) []wantBits {
	var out []wantBits
	for i, p := range f.Parts {
		out = append(out, wantBits{p.Bank, p.Word, binary.LittleEndian.Uint32(b[4*i:]), 0xffffffff})
	}
	return out
}

// invalidEntry is an entry the loader must refuse, and why.
func (c *modelCase) invalidEntry() (string, string) {
	rng, sm := c.rng, c.soc
	w := sm.raw[rng.IntN(len(sm.raw))]
	switch rng.IntN(10) {
	case 0:
		return fmt.Sprintf("  - {bank: %d, word: %d, value: 0x3, mask: 0x1}\n", w.bank, w.word), "value outside mask"
	case 1:
		return fmt.Sprintf("  - {bank: %d, word: %d, value: 0, mask: 0}\n", w.bank, w.word), "mask 0"
	case 2:
		return fmt.Sprintf("  - {bank: %d, word: 0, value: 1}\n", sm.m.Banks()+rng.IntN(4)), "bank outside the SoC"
	case 3:
		id := sm.identity[rng.IntN(len(sm.identity))]
		return fmt.Sprintf("  - {bank: %d, word: %d, value: 1, mask: 0xffffffff}\n", id.bank, id.word), "an identity word"
	case 4:
		if len(sm.unwritable) > 0 {
			u := sm.unwritable[rng.IntN(len(sm.unwritable))]
			return fmt.Sprintf("  - {bank: %d, word: %d, value: 1}\n", u.bank, u.word), "a word the driver cannot write"
		}
		return "  - {bank: 0, word: 0, value: 010}\n", "an octal-looking number"
	case 5:
		return "  - field: NOT_A_FIELD\n    value: 1\n", "an unknown field"
	case 6:
		return "  - {bank: 1, word: 0, value: 0x100000000}\n", "a value wider than 32 bits"
	case 7:
		for _, f := range sm.fields {
			if f.Encoding == fusemap.Bool {
				return fmt.Sprintf("  - field: %s\n    value: 2\n", f.Name), "bool 2"
			}
		}
	case 8:
		for _, f := range sm.fields {
			if f.Pattern != nil {
				return fmt.Sprintf("  - field: %s\n    value: %#x\n", f.Name, f.Pattern.Value^1), "not the field's pattern"
			}
		}
	}
	return "device: /dev/null\n", "a device key" // after the list: a top-level key
}

// manifest generates the manifest's entries and text. Entries are chosen
// before the board, so that the board can be biased towards their words,
// and valued after it, so that most plans are reachable.
func (c *modelCase) manifest() {
	rng, sm := c.rng, c.soc
	type shape struct {
		field   *fusemap.Field
		w       bankWord
		mask    uint32
		hasMask bool
	}
	var shapes []shape
	var words []bankWord
	for i := rng.IntN(8); i >= 0; i-- {
		if rng.IntN(2) == 0 {
			f := sm.fields[rng.IntN(len(sm.fields))]
			shapes = append(shapes, shape{field: f})
			for _, p := range f.Parts {
				words = append(words, bankWord{p.Bank, p.Word})
			}
			continue
		}
		w := sm.raw[rng.IntN(len(sm.raw))]
		if len(words) > 0 && rng.IntN(4) == 0 {
			w = words[rng.IntN(len(words))] // a second entry for a word
		}
		mask, hasMask := randomMask(rng)
		// NXP's factory bits are refused in a raw mask as by name: most
		// raw entries leave them out, so that most manifests stay valid
		// (the LOCK word holds the tester lock), and one in 16 keeps them,
		// as does an entry on a word that is all NXP's (a tester word).
		if f := sm.factory(w, mask); f != 0 && f != mask && rng.IntN(16) != 0 {
			mask &^= f
			hasMask = true
		}
		shapes = append(shapes, shape{w: w, mask: mask, hasMask: hasMask})
		words = append(words, w)
	}
	c.device(words)
	state, err := readState(c.otp)
	if err != nil {
		c.fatal = err
		return
	}
	c.state = state
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata:\n  name: model-%d\nsoc: %s\nfuses:\n", c.n, sm.m.Name)
	for i, s := range shapes {
		if rng.IntN(8) == 0 {
			b.WriteString("  # a comment between entries\n")
		}
		var e entry
		if s.field != nil {
			e = c.fieldEntry(s.field)
			if s.field.Factory && c.invalid == "" {
				// NXP's factory fields are refused by name, as the
				// identity is.
				c.invalid = "the factory field " + s.field.Name
			}
		} else {
			e = c.rawEntry(s.w, s.mask, s.hasMask, i)
			if sm.factory(s.w, s.mask) != 0 && c.invalid == "" {
				c.invalid = fmt.Sprintf("a raw entry on factory bits of bank %d word %d", s.w.bank, s.w.word)
			}
		}
		b.WriteString(e.text)
		c.entries = append(c.entries, e)
	}
	if rng.IntN(25) == 0 {
		text, why := c.invalidEntry()
		b.WriteString(text)
		c.invalid = why
	} else if rng.IntN(25) == 0 && len(c.entries) > 0 && len(c.entries[0].bits) > 0 {
		// An entry that disagrees with another on one bit both select
		// (not a factory bit: that would be refused for another reason).
		e := c.entries[rng.IntN(len(c.entries))].bits[0]
		bits := e.mask &^ sm.factory(bankWord{e.bank, e.word}, e.mask)
		if bits == 0 {
			c.text = b.String()
			c.merge()
			return
		}
		bit := uint32(1) << rng.IntN(32)
		for bits&bit == 0 {
			bit = uint32(1) << rng.IntN(32)
		}
		fmt.Fprintf(&b, "  - {bank: %d, word: %d, value: 0x%x, mask: 0x%x}\n", e.bank, e.word, (e.value^bit)&bit, bit)
		c.entries = append(c.entries, entry{bits: []wantBits{{e.bank, e.word, (e.value ^ bit) & bit, bit}}, kind: "raw"})
	}
	c.text = b.String()
	c.merge()
}

// merge works out the targets the manifest means: entries on one word
// merge when they agree on every bit both select; otherwise the loader
// must refuse the manifest.
func (c *modelCase) merge() {
	c.targets = map[int]*wantBits{}
	for _, e := range c.entries {
		for _, b := range e.bits {
			k := c.soc.m.ReadIndex(b.bank, b.word)
			t := c.targets[k]
			if t == nil {
				t = &wantBits{bank: b.bank, word: b.word}
				c.targets[k] = t
			}
			if (t.value^b.value)&t.mask&b.mask != 0 && c.invalid == "" {
				c.invalid = fmt.Sprintf("entries disagree on bank %d word %d", b.bank, b.word)
			}
			t.value |= b.value
			t.mask |= b.mask
		}
	}
}

// faultGen makes one fault of its kind for an apply of writes. Every kind
// in nvmem.FaultKinds needs one: a new kind is one line in faultGens.
type faultGen func(rng *rand.Rand, m *fusemap.Map, writes []planner.Change) nvmem.Fault

var faultGens = map[nvmem.FaultKind]faultGen{
	nvmem.FaultStuckBit:         stuckBit,
	nvmem.FaultEIO:              atWrite(nvmem.FaultEIO),
	nvmem.FaultEPERM:            atWrite(nvmem.FaultEPERM),
	nvmem.FaultTimeout:          atWrite(nvmem.FaultTimeout),
	nvmem.FaultTimeoutAfterBurn: atWrite(nvmem.FaultTimeoutAfterBurn),
	nvmem.FaultMisdirect:        misdirect,
	nvmem.FaultVanish:           atWrite(nvmem.FaultVanish),
	nvmem.FaultShortRead:        atWrite(nvmem.FaultShortRead),
	nvmem.FaultReadProtect:      atWrite(nvmem.FaultReadProtect),
}

// burnsElsewhere are the kinds that may burn a word the plan does not
// name: the invariant "no bit outside before | delta" cannot hold, and the
// apply must say it failed instead.
var burnsElsewhere = map[nvmem.FaultKind]bool{nvmem.FaultMisdirect: true}

// writeNumber is a write call of the apply, 1-based; one past the last
// write now and then, when the fault never fires.
func writeNumber(rng *rand.Rand, writes []planner.Change) int { return 1 + rng.IntN(len(writes)+1) }

func atWrite(kind nvmem.FaultKind) faultGen {
	return func(rng *rand.Rand, _ *fusemap.Map, writes []planner.Change) nvmem.Fault {
		return nvmem.Fault{Kind: kind, Write: writeNumber(rng, writes)}
	}
}

// stuckBit is a fuse that never burns: mostly one the plan burns.
func stuckBit(rng *rand.Rand, m *fusemap.Map, writes []planner.Change) nvmem.Fault {
	w := writes[rng.IntN(len(writes))]
	bit := rng.IntN(32)
	for try := 0; try < 64 && rng.IntN(4) > 0 && w.Delta&(1<<bit) == 0; try++ {
		bit = rng.IntN(32)
	}
	return nvmem.Fault{Kind: nvmem.FaultStuckBit, Word: w.WriteIndex, Bit: bit}
}

// misdirect burns any fuse of the SoC instead of the word addressed,
// including those nvmem cannot read back.
func misdirect(rng *rand.Rand, m *fusemap.Map, writes []planner.Change) nvmem.Fault {
	return nvmem.Fault{Kind: nvmem.FaultMisdirect, Write: writeNumber(rng, writes), Word: rng.IntN(m.Banks() * m.WordsPerBank)}
}
