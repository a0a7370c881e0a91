package fusemap

// FieldState is one field of a device, decoded.
type FieldState struct {
	Field *Field
	// Value is the decoded value; "" when a word is read-protected.
	Value string
	Blank bool // no bit is set
	// AsShipped: the only bits set are those NXP sets at test on every
	// part (a pattern field's Factory bits): a fresh part, not a burn.
	AsShipped bool
	// ReadProtected: a word reads 0xBADABADA, so the value is unknown.
	ReadProtected bool
	// WriteLockedBy and OverrideLockedBy name the burned lock fields that
	// freeze the field; "" when none.
	WriteLockedBy    string
	OverrideLockedBy string
}

// Decode reads every field of the map from a device's state, in map order.
func (m *Map) Decode(state []uint32) []FieldState {
	out := make([]FieldState, 0, len(m.Fields))
	for _, f := range m.Fields {
		out = append(out, m.DecodeField(f, state))
	}
	return out
}

// DecodeField reads one field from a device's state.
func (m *Map) DecodeField(f *Field, state []uint32) FieldState {
	fs := FieldState{Field: f}
	if parts, ok := m.Parts(f, state); ok {
		fs.Value, fs.Blank = f.Format(parts), Blank(parts)
		fs.AsShipped = !fs.Blank && f.AsShipped(parts)
	} else {
		fs.ReadProtected = true
	}
	for _, p := range f.Parts {
		if lf := m.WriteLockedBy(state, p.Bank, p.Word); lf != nil && fs.WriteLockedBy == "" {
			fs.WriteLockedBy = lf.Name
		}
		for _, lf := range m.LockersOf(p.Bank, p.Word) {
			if m.lockBit(lf, lf.Lock.Override, state) && fs.OverrideLockedBy == "" {
				fs.OverrideLockedBy = lf.Name
			}
		}
	}
	return fs
}

// AsShipped reports whether the field's only set bits are its factory
// bits (Pattern.Factory): NXP set them on every part, nobody burned the
// field. False for a field without factory bits.
func (f *Field) AsShipped(parts []uint32) bool {
	if f.Pattern == nil || f.Pattern.Factory == 0 {
		return false
	}
	n, ok := f.Number(parts)
	return ok && n != 0 && n&^f.Pattern.Factory == 0
}
