package fusemap

import "fmt"

// What a board's fuses say at a glance, as espefuse's summary does: is
// the part closed, is the key hash it trusts burned and locked, what JTAG
// allows, which regions are locked for ever, and which set bits the map
// cannot name. Everything is derived from the map (closing fields, what
// they require, locks), so a new SoC's map gets a summary without code.

// Unmapped is a word's set bits that the map cannot name: bits in no field,
// and lock bits no lock field describes (the LOCK word's unnamed bits).
// Such a bit was burned by something (a vendor, another tool) whose meaning
// otpprov does not know, and a field view alone would hide it.
type Unmapped struct {
	Bank, Word int
	Bits       uint32
}

// Unmapped lists the set bits the map cannot name, in read order. A
// read-protected word is not read, so it has none.
func (m *Map) Unmapped(state []uint32) []Unmapped {
	var out []Unmapped
	for k := range state {
		bank, word, ok := m.BankWord(k)
		if !ok || state[k] == ReadProtected || state[k] == 0 {
			continue
		}
		var named uint32
		for _, f := range m.FieldsAt(bank, word) {
			named |= f.MaskIn(bank, word)
		}
		if bits := state[k] & (^named | m.UnknownLockBits(bank, word)); bits != 0 {
			out = append(out, Unmapped{Bank: bank, Word: word, Bits: bits})
		}
	}
	return out
}

// HashState is how much of a field a close requires (the SRK hash) is
// burned.
type HashState string

const (
	HashBlank     HashState = "blank"
	HashBurned    HashState = "burned"         // every word non-zero
	HashPartial   HashState = "partly burned"  // some word all zero: no real SHA-256 has one
	HashProtected HashState = "read-protected" // a word reads 0xBADABADA
)

// Required is a field a closing field requires, as the board holds it.
type Required struct {
	Field    *Field
	State    HashState
	LockedBy string // the burned lock that write-protects it; "" when none
}

// LockState is a lock field with bits burned, and what they freeze.
type LockState struct {
	Field                 *Field
	Write, Override, Read bool
}

// Summary is the board at a glance.
type Summary struct {
	// Closed: a bit of a closing field (SEC_CONFIG_CLOSE) is burned.
	// Unknown when such a word reads 0xBADABADA. ClosedBy names it.
	Closed, ClosedUnknown bool
	ClosedBy              string
	Required              []Required  // what the closing fields require, in map order
	Security              []*Field    // burned security fields, closing ones excepted
	Locks                 []LockState // burned lock fields
	Unmapped              []Unmapped
	// JTAG is what the debug port allows, from SJC_DISABLE and JTAG_SMODE
	// (the same meaning on every map that has them): "" without either.
	JTAG string
}

// Summarize reads the summary from a device's state.
func (m *Map) Summarize(state []uint32) Summary {
	var s Summary
	required := map[string]bool{}
	for _, f := range m.Fields {
		parts, ok := m.Parts(f, state)
		// The bits NXP sets on every part are no burn (the i.MX8MP's
		// FIELD_RETURN word reads 0x4 on a fresh part).
		burned := ok && !Blank(parts) && !f.AsShipped(parts)
		switch {
		case f.Security != nil && f.Security.Closes:
			if !ok {
				s.ClosedUnknown = true
			} else if burned && !s.Closed {
				s.Closed, s.ClosedBy = true, f.Name
			}
			for _, name := range f.Security.Requires {
				if g := m.Field(name); g != nil && !required[name] {
					required[name] = true
					s.Required = append(s.Required, m.required(g, state))
				}
			}
		case f.Security != nil && burned:
			s.Security = append(s.Security, f)
		}
		if f.Lock != nil && burned {
			s.Locks = append(s.Locks, LockState{Field: f,
				Write:    m.lockBit(f, f.Lock.Write, state),
				Override: m.lockBit(f, f.Lock.Override, state),
				Read:     m.lockBit(f, f.Lock.Read, state)})
		}
	}
	s.ClosedUnknown = s.ClosedUnknown && !s.Closed
	s.Unmapped = m.Unmapped(state)
	s.JTAG = m.jtag(state)
	return s
}

// jtag words the JTAG fields: SJC_DISABLE wins, as it turns the port off
// whatever the mode; JTAG_SMODE 0 enables debug, 1 asks the secure-JTAG
// challenge/response, 3 disables it (the maps' descriptions, from the
// i.MX security reference manuals).
func (m *Map) jtag(state []uint32) string {
	if f := m.Field("SJC_DISABLE"); f != nil {
		if parts, ok := m.Parts(f, state); !ok {
			return "unknown (SJC_DISABLE is read-protected)"
		} else if !Blank(parts) {
			return "disabled (SJC_DISABLE)"
		}
	}
	f := m.Field("JTAG_SMODE")
	if f == nil {
		if m.Field("SJC_DISABLE") != nil {
			return "enabled"
		}
		return ""
	}
	parts, ok := m.Parts(f, state)
	if !ok {
		return "unknown (JTAG_SMODE is read-protected)"
	}
	switch n, _ := f.Number(parts); n {
	case 0:
		return "enabled (JTAG_SMODE 0)"
	case 1:
		return "secure JTAG, challenge/response (JTAG_SMODE 1)"
	case 3:
		return "disabled, no debug (JTAG_SMODE 3)"
	default:
		return fmt.Sprintf("JTAG_SMODE %d, which the map does not name", n)
	}
}

func (m *Map) required(f *Field, state []uint32) Required {
	r := Required{Field: f, State: HashBurned}
	parts, ok := m.Parts(f, state)
	switch {
	case !ok:
		r.State = HashProtected
	case Blank(parts):
		r.State = HashBlank
	default:
		for _, p := range parts {
			if p == 0 {
				r.State = HashPartial
			}
		}
	}
	for _, p := range f.Parts {
		if lf := m.WriteLockedBy(state, p.Bank, p.Word); lf != nil {
			r.LockedBy = lf.Name
			break
		}
	}
	return r
}
