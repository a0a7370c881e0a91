package manifest

import (
	"fmt"
	"sort"

	"github.com/otpprov/otpprov/fusemap"
)

// Target is the desired state of one OTP word: the bits selected by Mask
// must read as Value. Several manifest entries for one word merge into one
// Target.
type Target struct {
	Index      int // word index in the nvmem file as read: offset = 4*Index
	WriteIndex int // word index a write goes to (differs on i.MX6 banks >= 6)
	Bank       int
	Word       int
	Value      uint32
	Mask       uint32
	Names      []string // labels of the entries that asked for this word
	Pos        []Pos    // where those entries are
	// Secret are the bits set from a secret variable. The planner adds
	// the bits of the map's secret fields, for targets from anywhere;
	// output never shows a word with secret bits.
	Secret uint32
}

// resolve merges the manifest's entries by word, in word order. Two entries
// for one word merge when they agree on every bit both select; otherwise
// the conflict is reported with both places.
func (m *Manifest) resolve() ([]Target, Diagnostics) {
	byIndex := map[int]*Target{}
	merged := map[int][]entry{} // the entries merged into each target
	var diags Diagnostics
	for _, f := range m.Fuses {
		for _, b := range f.Bits {
			k := m.SoC.ReadIndex(b.Bank, b.Word)
			t, seen := byIndex[k]
			if !seen {
				t = &Target{Index: k, WriteIndex: m.SoC.WriteIndex(b.Bank, b.Word), Bank: b.Bank, Word: b.Word}
				byIndex[k] = t
			}
			if (t.Value^b.Value)&t.Mask&b.Mask != 0 {
				diags = append(diags, conflict(f, b, merged[k], m.Map != nil && m.Map.SecretBits(b.Bank, b.Word) != 0))
				continue
			}
			t.Value |= b.Value
			t.Mask |= b.Mask
			if b.Secret {
				t.Secret |= b.Mask
			}
			if f.Name != "" && !has(t.Names, f.Name) {
				t.Names = append(t.Names, f.Name)
			}
			t.Pos = append(t.Pos, f.Pos)
			merged[k] = append(merged[k], entry{f, b})
		}
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

// conflict reports an entry that disagrees with entries already merged
// into its word. It names the first of them it disagrees with, not just
// the first for the word (that one may not even select these bits), and
// counts the rest: one problem per entry, however many it clashes with,
// so that thousands of clashing entries make thousands of lines at most,
// not millions. secretWord says the word holds bits of a secret field of
// the map: then no entry's value is shown.
func conflict(f Fuse, b Bits, merged []entry, secretWord bool) Diagnostic {
	var first entry
	var clash uint32
	others := 0
	for _, g := range merged {
		c := (g.b.Value ^ b.Value) & g.b.Mask & b.Mask
		switch {
		case c == 0:
		case clash == 0:
			first, clash = g, c
		default:
			others++
		}
	}
	// Across an extends chain, name the other file too.
	where := fmt.Sprintf("line %d", first.f.Pos.Line)
	if first.f.Pos.File != f.Pos.File {
		where = first.f.Pos.String()
	}
	bitsText := "bits " + BitList(clash)
	if b.Secret || first.b.Secret || secretWord {
		bitsText = "some bits" // which ones would tell the secret
	}
	msg := fmt.Sprintf("bank %d word %d: %s disagrees with the entry at %s (%s) on %s",
		b.Bank, b.Word, label(f, b, true, secretWord), where, label(first.f, first.b, false, secretWord), bitsText)
	if others > 0 {
		msg += fmt.Sprintf(", and with %d more entries", others)
	}
	return Diagnostic{Pos: f.Pos, Message: msg, Hint: "make the entries agree, or narrow their masks so they do not overlap"}
}

// entry is a manifest entry's bits for one word.
type entry struct {
	f Fuse
	b Bits
}

// label names what an entry wants of a word, for a conflict message:
// "value 0x..." first, then the other entry's "0x...", with field names.
func label(f Fuse, b Bits, first, secretWord bool) string {
	if b.Secret || secretWord {
		// A secret variable's value is not shown, even in a conflict.
		if f.Field != "" {
			return f.Field + " (a secret value)"
		}
		return "a secret value"
	}
	switch {
	case f.Field != "" && first:
		return fmt.Sprintf("%s (value 0x%08x)", f.Field, b.Value)
	case f.Field != "":
		return fmt.Sprintf("%s, 0x%08x", f.Field, b.Value)
	case first:
		return fmt.Sprintf("value 0x%08x", b.Value)
	}
	return fmt.Sprintf("0x%08x", b.Value)
}

func has(names []string, n string) bool {
	for _, m := range names {
		if m == n {
			return true
		}
	}
	return false
}

// NewTarget is a target for bank/word of s, with its read and write index.
func NewTarget(s fusemap.SoC, bank, word int, value, mask uint32) Target {
	return Target{Index: s.ReadIndex(bank, word), WriteIndex: s.WriteIndex(bank, word), Bank: bank, Word: word, Value: value, Mask: mask}
}
