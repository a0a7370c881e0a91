package manifest

import "sort"

// Target is the desired state of one OTP word: the bits selected by Mask
// must read as Value. Several manifest entries for one word merge into one
// Target.
type Target struct {
	Index int // word index in the nvmem file: offset = 4*Index
	Bank  int
	Word  int
	Value uint32
	Mask  uint32
	Names []string // labels of the entries that asked for this word
	Pos   []Pos    // where those entries are
}

// resolve merges the manifest's entries by word, in word order. Two entries
// for one word merge when they agree on every bit both select; otherwise
// the conflict is reported with both places.
func (m *Manifest) resolve() ([]Target, Diagnostics) {
	byIndex := map[int]*Target{}
	merged := map[int][]Fuse{} // the entries merged into each target
	var diags Diagnostics
	for _, f := range m.Fuses {
		k := m.SoC.Index(f.Bank, f.Word)
		t, seen := byIndex[k]
		if !seen {
			t = &Target{Index: k, Bank: f.Bank, Word: f.Word}
			byIndex[k] = t
		}
		if (t.Value^f.Value)&t.Mask&f.Mask != 0 {
			// Name the entries it disagrees with, not just the first one
			// for the word: that one may not even select these bits.
			for _, g := range merged[k] {
				if clash := (g.Value ^ f.Value) & g.Mask & f.Mask; clash != 0 {
					diags.add(f.Pos, "make the entries agree, or narrow their masks so they do not overlap",
						"bank %d word %d: value 0x%08x disagrees with the entry at line %d (0x%08x) on bits %s",
						f.Bank, f.Word, f.Value, g.Pos.Line, g.Value, BitList(clash))
				}
			}
			continue
		}
		t.Value |= f.Value
		t.Mask |= f.Mask
		if f.Name != "" {
			t.Names = append(t.Names, f.Name)
		}
		t.Pos = append(t.Pos, f.Pos)
		merged[k] = append(merged[k], f)
	}
	if len(diags) > 0 {
		return nil, diags
	}
	out := make([]Target, 0, len(byIndex))
	for _, t := range byIndex {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}
