package fusemap

import (
	"fmt"
	"sort"
	"strings"

	"github.com/otpprov/otpprov/internal/yamldoc"
)

// Encoding is how a manifest gives a field's value.
type Encoding string

const (
	Uint Encoding = "uint" // an integer within the field's width
	Bool Encoding = "bool" // one bit: true/false or 1/0
	MAC  Encoding = "mac"  // aa:bb:cc:dd:ee:ff, U-Boot's layout
	Hash Encoding = "hash" // bytes; word i is the i-th little-endian u32
)

// Part is a bit range of one fuse word.
type Part struct {
	Bank, Word int
	Lsb, Width int
}

// Mask is the part's bits within its word.
func (p Part) Mask() uint32 {
	if p.Width == 32 {
		return 0xffffffff
	}
	return (1<<p.Width - 1) << p.Lsb
}

// Bits names the part: "9/1[15:0]", or "9/0" for a whole word.
func (p Part) String() string {
	switch {
	case p.Width == 32:
		return fmt.Sprintf("%d/%d", p.Bank, p.Word)
	case p.Width == 1:
		return fmt.Sprintf("%d/%d[%d]", p.Bank, p.Word, p.Lsb)
	}
	return fmt.Sprintf("%d/%d[%d:%d]", p.Bank, p.Word, p.Lsb+p.Width-1, p.Lsb)
}

// NoBit marks a lock bit the field does not have.
const NoBit = -1

// Lock says which words a lock field protects and what each of its bits
// does. Bit positions are relative to the field's least significant bit.
type Lock struct {
	Protects              []string
	Write, Override, Read int
}

// Security is the irreversible effect of burning a field.
type Security struct {
	Effect   string
	Closes   bool     // closing the part: always the very last write
	Requires []string // fields that must not be blank once the plan is applied
}

// Pattern is a field whose value is one fixed pattern: the boot ROM acts on
// that value only (FIELD_RETURN on the i.MX8MP is the whole word 8/3 burned
// with 0x28001401), so any other value burned there is a wrong fuse.
type Pattern struct {
	Value uint64 // the only value a manifest may give
	// Factory are bits NXP sets at test on every part (bit 2 of the
	// i.MX8MP's 8/3): not in the pattern, never stated by a manifest, so a
	// part that has them is not a conflict and one without them is not
	// given them.
	Factory uint64
}

// Field is a named bit range of the fuse array, possibly over several words.
type Field struct {
	Name           string
	Description    string
	Parts          []Part // least significant first
	Encoding       Encoding
	GeneralPurpose bool
	Identity       bool
	Secret         bool
	Factory        bool // programmed by NXP at test (tester words): never part of a product's manifest
	PerUnit        bool // different on every unit: see Varies
	Lock           *Lock
	Security       *Security
	Pattern        *Pattern    // the field's one allowed value, or nil
	Pos            yamldoc.Pos // where the field is defined

	span int // "words: N" in the file: N whole consecutive words
}

// Width is the field's size in bits.
func (f *Field) Width() int {
	n := 0
	for _, p := range f.Parts {
		n += p.Width
	}
	return n
}

// expand turns "words: N" into N whole-word parts: the next word of the
// bank, then word 0 of the next bank.
func (f *Field) expand(s SoC) {
	if f.span < 2 || len(f.Parts) != 1 {
		return
	}
	first := s.WriteIndex(f.Parts[0].Bank, f.Parts[0].Word)
	for i := 1; i < f.span; i++ {
		k := first + i
		f.Parts = append(f.Parts, Part{Bank: k / s.WordsPerBank, Word: k % s.WordsPerBank, Width: 32})
	}
	f.span = 0
}

// WholeWord reports a field that is exactly one whole word.
func (f *Field) WholeWord() bool { return len(f.Parts) == 1 && f.Parts[0].Width == 32 }

// Where names the field's bits: "1/3[25]", "6/0..7/3", "9/0 + 9/1[15:0]".
func (f *Field) Where() string {
	if len(f.Parts) > 2 && f.allWhole() {
		return f.Parts[0].String() + ".." + f.Parts[len(f.Parts)-1].String()
	}
	s := make([]string, len(f.Parts))
	for i, p := range f.Parts {
		s[i] = p.String()
	}
	return strings.Join(s, " + ")
}

func (f *Field) allWhole() bool {
	for _, p := range f.Parts {
		if p.Width != 32 {
			return false
		}
	}
	return true
}

// Map is the fuse map of one SoC, with any overlays applied. A Map is
// shared and must not be modified once loaded.
type Map struct {
	SoC
	Description string
	Sources     []string
	// Compatible and SoCIDs are how a board says it is this SoC: the
	// compatible strings of the OCOTP's device tree node, and the
	// kernel's soc0/soc_id values (see Identify).
	Compatible []string
	SoCIDs     []string
	Fields     []*Field // in file order, overlays after
	Overlays   []string // the overlay files applied, in order
	// OverlayDigests are the hex SHA-256 of the bytes each overlay was
	// parsed from: what a release's digests are checked against.
	OverlayDigests []string
	File           string // where the base map came from

	byName map[string]*Field
	words  map[[2]int]*wordInfo
}

// wordInfo is what the map knows about one fuse word.
type wordInfo struct {
	fields   []*Field // fields with bits in this word
	lockedBy []*Field // lock fields that protect it
	lock     uint32   // bits that belong to lock fields
	secret   uint32   // bits of secret fields
	security uint32   // bits of security fields that do not close the part
	closes   uint32   // bits of fields that close the part
}

// Field returns a field by name, or nil.
func (m *Map) Field(name string) *Field { return m.byName[name] }

// FieldsAt returns the fields with bits in bank/word, whole words first,
// then by position from the most significant bit down.
func (m *Map) FieldsAt(bank, word int) []*Field {
	if wi := m.words[[2]int{bank, word}]; wi != nil {
		return wi.fields
	}
	return nil
}

// Identity returns the field holding the part's unique ID, or nil.
func (m *Map) Identity() *Field {
	for _, f := range m.Fields {
		if f.Identity {
			return f
		}
	}
	return nil
}

// Classes splits the bits of bank/word by write order: bits of lock
// fields, of security fields that do not close the part, and of fields
// that close it. Every other bit is data.
func (m *Map) Classes(bank, word int) (lock, security, closes uint32) {
	if wi := m.words[[2]int{bank, word}]; wi != nil {
		// A bit in several classes goes with the latest: a lock bit
		// that is also a security bit is a lock (locks are ordered by
		// what they protect), a closing bit is always a closing bit.
		closes = wi.closes
		lock = wi.lock &^ closes
		if wi.lock != 0 {
			// Every bit of a word that holds locks may lock some region,
			// named in the map or not: all of it goes with the locks.
			lock = ^closes
		}
		security = wi.security &^ (lock | closes)
		return lock, security, closes
	}
	return 0, 0, 0
}

// SecretBits are the bits of bank/word that belong to secret fields
// (SJC_RESP, MANUFACTURE_KEY): their values are never shown, whoever asks
// to burn the word and whatever bits it asks for.
func (m *Map) SecretBits(bank, word int) uint32 {
	if wi := m.words[[2]int{bank, word}]; wi != nil {
		return wi.secret
	}
	return 0
}

// UnknownLockBits are the bits of a word holding lock fields that no lock
// field of the map describes: burning them may lock regions the map does
// not know. 0 for a word without lock fields.
func (m *Map) UnknownLockBits(bank, word int) uint32 {
	wi := m.words[[2]int{bank, word}]
	if wi == nil || wi.lock == 0 {
		return 0
	}
	return ^wi.lock &^ wi.closes
}

// LockersOf returns the lock fields that protect bank/word.
func (m *Map) LockersOf(bank, word int) []*Field {
	if wi := m.words[[2]int{bank, word}]; wi != nil {
		return wi.lockedBy
	}
	return nil
}

// Word reads bank/word out of a state read from the device, by read index.
// ok is false when the word is not in the state.
func (m *Map) Word(state []uint32, bank, word int) (uint32, bool) {
	k := m.ReadIndex(bank, word)
	if k < 0 || k >= len(state) {
		return 0, false
	}
	return state[k], true
}

// Parts extracts a field's part values from a state: each right-aligned.
// ok is false if a word is missing or read-protected.
func (m *Map) Parts(f *Field, state []uint32) ([]uint32, bool) {
	out := make([]uint32, len(f.Parts))
	for i, p := range f.Parts {
		w, ok := m.Word(state, p.Bank, p.Word)
		if !ok || w == ReadProtected {
			return nil, false
		}
		out[i] = (w & p.Mask()) >> p.Lsb
	}
	return out, true
}

// ReadProtected is what the driver returns for a read-protected word.
const ReadProtected = 0xBADABADA

// lockBit reads one bit of a lock field from state; false if unreadable.
func (m *Map) lockBit(lf *Field, bit int, state []uint32) bool {
	if bit == NoBit {
		return false
	}
	for _, p := range lf.Parts {
		if bit < p.Width {
			w, ok := m.Word(state, p.Bank, p.Word)
			return ok && w != ReadProtected && w&(1<<(p.Lsb+bit)) != 0
		}
		bit -= p.Width
	}
	return false
}

// WriteLockedBy returns the lock field whose write lock is burned in state
// and protects bank/word, or nil.
func (m *Map) WriteLockedBy(state []uint32, bank, word int) *Field {
	for _, lf := range m.LockersOf(bank, word) {
		if m.lockBit(lf, lf.Lock.Write, state) {
			return lf
		}
	}
	return nil
}

// ReadLockedBy returns the lock field whose read lock is burned in state
// and protects bank/word, or nil.
func (m *Map) ReadLockedBy(state []uint32, bank, word int) *Field {
	for _, lf := range m.LockersOf(bank, word) {
		if m.lockBit(lf, lf.Lock.Read, state) {
			return lf
		}
	}
	return nil
}

// LockMask is the mask, within its word, of one bit of a lock field.
func LockMask(lf *Field, bit int) (Part, uint32, bool) {
	if lf.Lock == nil || bit == NoBit {
		return Part{}, 0, false
	}
	for _, p := range lf.Parts {
		if bit < p.Width {
			return p, 1 << (p.Lsb + bit), true
		}
		bit -= p.Width
	}
	return Part{}, 0, false
}

// index builds the per-word tables and checks what the schema cannot.
func (m *Map) index() yamldoc.Diagnostics {
	var errs yamldoc.Diagnostics
	bad := func(f *Field, format string, args ...any) {
		errs.Add(f.Pos, "", "field %s: %s", f.Name, fmt.Sprintf(format, args...))
	}
	m.byName = map[string]*Field{}
	m.words = map[[2]int]*wordInfo{}
	var identity *Field
	for _, f := range m.Fields {
		f.expand(m.SoC)
	}
	for _, f := range m.Fields {
		if g := m.byName[f.Name]; g != nil {
			bad(f, "defined twice (also at %s)", g.Pos)
			continue
		}
		m.byName[f.Name] = f
		if f.Identity {
			if identity != nil {
				bad(f, "a second identity field (the first is %s at %s)", identity.Name, identity.Pos)
			}
			identity = f
		}
		own := map[[2]int]uint32{} // the field's bits so far, by word
		for _, p := range f.Parts {
			if p.Word >= m.WordsPerBank || p.Bank >= m.Banks() {
				bad(f, "bank %d word %d is outside %s (banks 0..%d, words 0..%d)", p.Bank, p.Word, m.Name, m.Banks()-1, m.WordsPerBank-1)
				continue
			}
			if !m.Readable(p.Bank, p.Word) {
				bad(f, "bank %d word %d cannot be read through nvmem on %s", p.Bank, p.Word, m.Name)
			}
			key := [2]int{p.Bank, p.Word}
			// A bit counted twice would make the field wider than its
			// fuses, and a value could disagree with itself.
			if own[key]&p.Mask() != 0 {
				bad(f, "part %s overlaps another part of the field", p)
			}
			if m.words[key] == nil {
				m.words[key] = &wordInfo{}
			}
			if own[key] == 0 {
				m.words[key].fields = append(m.words[key].fields, f)
			}
			own[key] |= p.Mask()
		}
		switch w := f.Width(); {
		case f.Encoding == Bool && w != 1:
			bad(f, "encoding bool needs 1 bit, the field has %d", w)
		case f.Encoding == MAC && w != 48:
			bad(f, "encoding mac needs 48 bits, the field has %d", w)
		case f.Encoding == Hash && !f.allWhole():
			bad(f, "encoding hash needs whole words")
		case f.Encoding == Uint && w > 64:
			bad(f, "encoding uint holds at most 64 bits, the field has %d: use hash", w)
		case f.PerUnit && (f.Encoding == Hash || w > 32):
			// A per-unit value is a manifest variable: mac, bool or u32.
			bad(f, "perUnit takes a mac, bool or uint field of at most 32 bits (a variable holds it); the field is %s of %d bits", f.Encoding, w)
		}
		if pt := f.Pattern; pt != nil {
			w := f.Width()
			switch all := uint64(1)<<w - 1; {
			case f.Encoding != Uint || w > 32:
				bad(f, "pattern takes a uint field of at most 32 bits; the field is %s, %d bits wide", f.Encoding, w)
			case pt.Value&^all != 0 || pt.Factory&^all != 0:
				bad(f, "pattern 0x%x or factoryBits 0x%x do not fit the field's %d bits", pt.Value, pt.Factory, w)
			case pt.Value&pt.Factory != 0:
				bad(f, "pattern 0x%x and factoryBits 0x%x share bits 0x%x: a bit NXP sets is not the manifest's", pt.Value, pt.Factory, pt.Value&pt.Factory)
			case f.PerUnit:
				bad(f, "a pattern is the same on every unit: it cannot be perUnit")
			}
		}
	}
	for key, wi := range m.words {
		checkOverlaps(key, wi.fields, &errs)
	}
	for _, f := range m.Fields {
		m.classify(f, bad)
	}
	for k, wi := range m.words {
		sort.SliceStable(wi.fields, func(i, j int) bool {
			a, b := wi.fields[i], wi.fields[j]
			if a.WholeWord() != b.WholeWord() {
				return a.WholeWord()
			}
			return a.MaskIn(k[0], k[1]) > b.MaskIn(k[0], k[1])
		})
	}
	return errs
}

// Varies reports whether the field's value differs on every unit: a MAC
// address, or a field the map marks perUnit. Copied from one board into a
// manifest, such a value would be burned into every unit of a line: import
// writes it as a variable.
func (f *Field) Varies() bool { return f.PerUnit || f.Encoding == MAC }

// Acknowledged reports whether burning the field needs the operator's
// acknowledgement (--confirm-security): a security field, or a lock, which
// freezes the region it protects for ever. A manifest cannot tell a lock
// its author chose from one `import` copied from a golden board, where it
// would lock that region on every unit of a line: so it goes by bit, as
// security does.
func (f *Field) Acknowledged() bool { return f.Security != nil || f.Lock != nil }

// Effect says what burning the field does for ever, for the operator who
// must acknowledge it: the security effect, or what a lock freezes. Any
// other field is acknowledged only for lock bits the map does not
// describe.
func (f *Field) Effect() string {
	switch {
	case f.Security != nil:
		return f.Security.Effect
	case f.Lock != nil && len(f.Lock.Protects) > 0:
		return "locks " + strings.Join(f.Lock.Protects, ", ") + " for ever (see the warnings for which bits)"
	case f.Lock != nil:
		return "locks a fuse region the map does not place, for ever"
	}
	return "burns lock bits no field of the map describes: they may lock fuse regions for ever"
}

// MaskIn is the mask of the field's bits in bank/word.
func (f *Field) MaskIn(bank, word int) uint32 {
	var m uint32
	for _, p := range f.Parts {
		if p.Bank == bank && p.Word == word {
			m |= p.Mask()
		}
	}
	return m
}

// classify records a field's lock and security bits in its words.
func (m *Map) classify(f *Field, bad func(*Field, string, ...any)) {
	for _, p := range f.Parts {
		wi := m.words[[2]int{p.Bank, p.Word}]
		if wi == nil {
			continue
		}
		if f.Security != nil && f.Security.Closes {
			wi.closes |= p.Mask()
		}
		if f.Lock != nil {
			wi.lock |= p.Mask()
		}
		if f.Security != nil {
			wi.security |= p.Mask()
		}
		if f.Secret {
			wi.secret |= p.Mask()
		}
	}
	if f.Lock != nil {
		for _, bit := range []int{f.Lock.Write, f.Lock.Override, f.Lock.Read} {
			if bit != NoBit && bit >= f.Width() {
				bad(f, "lock bit %d is outside the field's %d bits", bit, f.Width())
			}
		}
		for _, name := range f.Lock.Protects {
			g := m.byName[name]
			if g == nil {
				bad(f, "protects %s, which is not a field of %s", name, m.Name)
				continue
			}
			for _, p := range g.Parts {
				wi := m.words[[2]int{p.Bank, p.Word}]
				if wi != nil && !contains(wi.lockedBy, f) {
					wi.lockedBy = append(wi.lockedBy, f)
				}
			}
		}
	}
	if f.Security != nil {
		for _, name := range f.Security.Requires {
			if m.byName[name] == nil {
				bad(f, "requires %s, which is not a field of %s", name, m.Name)
			}
		}
	}
}

func contains(fs []*Field, f *Field) bool {
	for _, g := range fs {
		if g == f {
			return true
		}
	}
	return false
}

// checkOverlaps refuses two bit-range fields that share some bits of a word
// without one containing the other: the map would then say two different
// things about one fuse.
func checkOverlaps(key [2]int, fields []*Field, errs *yamldoc.Diagnostics) {
	for i, a := range fields {
		for _, b := range fields[i+1:] {
			ma, mb := a.MaskIn(key[0], key[1]), b.MaskIn(key[0], key[1])
			if common := ma & mb; common != 0 && common != ma && common != mb {
				errs.Add(b.Pos, "a field must contain another or not touch it",
					"field %s overlaps %s (%s) in bank %d word %d on bits 0x%08x", b.Name, a.Name, a.Pos, key[0], key[1], common)
			}
		}
	}
}
