package view

import (
	"fmt"
	"io"
	"strings"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// Show renders a device decoded by field: the summary first (nil: a
// selection of fields, which has none), then one line per field with its
// value and whether it is locked or hidden, then the set bits no field
// names, which a field view alone would hide.
func (s Style) Show(w io.Writer, m *fusemap.Map, device, uniqueID string, sum *fusemap.Summary, fields []fusemap.FieldState) {
	fmt.Fprintf(w, "Device    %s, soc %s\n", device, m.Name)
	if uniqueID != "" {
		fmt.Fprintf(w, "UNIQUE_ID %s\n", uniqueID)
	}
	fmt.Fprintln(w)
	if sum != nil {
		s.summary(w, m, sum)
		fmt.Fprintln(w)
	}
	t := NewTable(w, "FIELD", "BITS", "VALUE", "STATE")
	for _, fs := range fields {
		value, state := fs.Value, ""
		switch {
		case fs.ReadProtected:
			value, state = "?", "read-protected (0xbadabada)"
		case fs.WriteLockedBy != "":
			state = "write-locked by " + fs.WriteLockedBy
		case fs.OverrideLockedBy != "":
			state = "override-locked by " + fs.OverrideLockedBy
		}
		if fs.Blank && state == "" {
			state = "blank"
		}
		if fs.AsShipped && state == "" {
			state = "as shipped (bits NXP sets on every part)"
		}
		t.Row(fs.Field.Name, fs.Field.Where(), value, state)
	}
	t.Flush()
	if sum != nil && len(sum.Unmapped) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, s.paint(yellow, fmt.Sprintf("Unmapped bits set: no field of the %s map names them; something burned them", m.Name)))
		for _, u := range sum.Unmapped {
			fmt.Fprintf(w, "  %s  0x%08x  %s %s\n", wordName(u.Bank, u.Word, 4*m.ReadIndex(u.Bank, u.Word)), u.Bits,
				bitsWord(u.Bits), manifest.BitList(u.Bits))
		}
	}
}

func bitsWord(v uint32) string {
	if v&(v-1) != 0 {
		return "bits"
	}
	return "bit"
}

// summary is the board at a glance: closed or open, the hash the close
// trusts, JTAG, security fuses, locked regions, unmapped bits.
func (s Style) summary(w io.Writer, m *fusemap.Map, sum *fusemap.Summary) {
	row := func(label, text string) { fmt.Fprintf(w, "%-10s%s\n", label, text) }
	switch {
	case sum.Closed:
		row("Part", s.paint(bold, "closed")+" ("+sum.ClosedBy+"): only images signed with the burned SRK key boot")
	case sum.ClosedUnknown:
		row("Part", "unknown: the closing word is read-protected")
	default:
		row("Part", "open")
	}
	for _, r := range sum.Required {
		text := string(r.State)
		if r.State == fusemap.HashPartial {
			text = s.paint(red, text) + " (a word is all zero, which no SHA-256 has)"
		}
		if r.LockedBy != "" {
			text += ", write-locked by " + r.LockedBy
		} else if r.State != fusemap.HashProtected {
			text += ", not locked"
		}
		row(r.Field.Name, text)
	}
	if sum.JTAG != "" {
		row("JTAG", sum.JTAG)
	}
	var burned []string
	for _, f := range sum.Security {
		if f.Lock == nil { // locks are listed below, with what they freeze
			burned = append(burned, f.Name)
		}
	}
	if len(burned) > 0 {
		row("Security", strings.Join(burned, ", ")+" burned")
	}
	if len(sum.Locks) == 0 {
		row("Locked", "nothing")
	}
	for i, l := range sum.Locks {
		var how []string
		for _, x := range []struct {
			on   bool
			what string
		}{{l.Write, "write"}, {l.Override, "override"}, {l.Read, "read"}} {
			if x.on {
				how = append(how, x.what)
			}
		}
		what := strings.Join(l.Field.Lock.Protects, ", ")
		if what == "" {
			what = "a region the map does not place"
		}
		text := what + " (" + l.Field.Name
		if len(how) > 0 {
			text += ": " + strings.Join(how, ", ")
		}
		label := ""
		if i == 0 {
			label = "Locked"
		}
		row(label, text+")")
	}
	if n := len(sum.Unmapped); n > 0 {
		row("Unmapped", s.paint(yellow, plural(n, "word holds", "words hold")+" bits no field names")+" (listed below)")
	}
}
