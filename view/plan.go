package view

import (
	"fmt"
	"io"
	"strings"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/planner"
)

// Plan renders a plan the way an operator reviews it: one line per target
// word, and for each word to burn its bits before, burned and after.
func (s Style) Plan(w io.Writer, p *planner.Plan, device string) {
	fmt.Fprintf(w, "Manifest  %s (%s), soc %s\n", p.Source.Name, p.Source.File, p.SoC.Name)
	fmt.Fprintf(w, "Release   %s\n", p.Source.Release)
	fmt.Fprintf(w, "Device    %s\n", device)
	if p.UniqueID != "" {
		fmt.Fprintf(w, "UNIQUE_ID %s\n", p.UniqueID)
	}
	fmt.Fprintln(w)
	for _, c := range p.Changes {
		s.change(w, p, c)
	}
	s.fields(w, p)
	s.order(w, p)
	s.warnings(w, p)
	fmt.Fprintln(w)
	fmt.Fprintln(w, s.PlanSummary(p))
}

// fields lists the named fields the plan touches, decoded: a MAC as text,
// a hash as hex, before and after.
func (s Style) fields(w io.Writer, p *planner.Plan) {
	fs := p.Fields()
	if len(fs) == 0 {
		return
	}
	fmt.Fprintln(w, "\nFields")
	never := false
	for _, f := range fs {
		never = never || f.Wanted != ""
	}
	if !never {
		t := NewTable(w, "  FIELD", "BITS", "BEFORE", "AFTER")
		for _, f := range fs {
			t.Row("  "+f.Field.Name, f.Field.Where(), f.Before, f.After)
		}
		t.Flush()
		return
	}
	// Rejected: what the manifest wants, which this board can never hold
	// where a bit is burned the other way; there is no after.
	t := NewTable(w, "  FIELD", "BITS", "BEFORE", "WANTED")
	for _, f := range fs {
		wanted := f.After
		if f.Wanted != "" {
			wanted = f.Wanted + "  (can never match)"
		}
		t.Row("  "+f.Field.Name, f.Field.Where(), f.Before, wanted)
	}
	t.Flush()
}

// neverLines says, in field terms, what a conflicting word means: the
// field as the board holds it and as the manifest wants it. Said under the
// first word of the field that conflicts.
func neverLines(p *planner.Plan, c planner.Change) []string {
	var out []string
	for _, fc := range p.Fields() {
		if text := fc.Never(); text != "" {
			if first := firstConflict(p, fc.Field); first != nil && first.Index == c.Index {
				out = append(out, text)
			}
		}
	}
	return out
}

// firstConflict is the first word, in plan order, where f's bits conflict.
func firstConflict(p *planner.Plan, f *fusemap.Field) *planner.Change {
	for i, c := range p.Changes {
		if c.Action != planner.Conflict {
			continue
		}
		for _, part := range f.Parts {
			if part.Bank == c.Bank && part.Word == c.Word && c.Conflict&part.Mask() != 0 {
				return &p.Changes[i]
			}
		}
	}
	return nil
}

// order shows the burn order when it is not simply word order: locks and
// security fuses go last, closing the part very last.
func (s Style) order(w io.Writer, p *planner.Plan) {
	writes := p.Writes()
	special := false
	for _, x := range writes {
		if lock, security, closes := p.Map.Classes(x.Bank, x.Word); x.Delta&(lock|security|closes) != 0 {
			special = true
		}
	}
	if !special {
		return
	}
	fmt.Fprintln(w, "\nBurn order (data, then locks, then security fuses; closing last)")
	for i, x := range writes {
		fmt.Fprintf(w, "  %2d. %s burn %s  %s\n", i+1, wordName(x.Bank, x.Word, x.Offset()), x.Hex(x.Delta), strings.Join(fieldNames(p, x), ", "))
	}
}

// warnings prints what the plan makes irreversible beyond the bits.
func (s Style) warnings(w io.Writer, p *planner.Plan) {
	ws := p.Warnings()
	if len(ws) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, s.paint(red, "WARNING: this plan has irreversible effects beyond the bits it burns:"))
	for _, x := range ws {
		fmt.Fprintf(w, "  %s %s: %s\n", s.paint(red, "!"), s.paint(bold, x.Field), x.Message)
	}
	var names []string
	for _, f := range p.Security() {
		names = append(names, f.Name)
	}
	if len(names) > 0 && !p.Rejected() {
		fmt.Fprintf(w, "  apply needs the operator's acknowledgement: --confirm-security %s\n", strings.Join(names, ","))
	}
}

// fieldNames names the fields a change's bits belong to, most specific
// first; a whole-word field only when no narrower field covers the bits.
func fieldNames(p *planner.Plan, c planner.Change) []string {
	if p.Map == nil {
		return nil
	}
	bits := c.Delta
	if bits == 0 {
		bits = c.Mask
	}
	var names []string
	var whole string
	for _, f := range p.Map.FieldsAt(c.Bank, c.Word) {
		m := f.MaskIn(c.Bank, c.Word)
		switch {
		case m&bits == 0:
		case f.WholeWord():
			whole = f.Name
		default:
			names = append(names, f.Name)
		}
	}
	if len(names) == 0 && whole != "" {
		names = append(names, whole)
	}
	return names
}

func (s Style) change(w io.Writer, p *planner.Plan, c planner.Change) {
	name := wordName(c.Bank, c.Word, c.Offset())
	label := ""
	names := c.Names
	if len(names) == 0 {
		names = fieldNames(p, c)
	}
	if len(names) > 0 {
		label = "  " + strings.Join(names, ", ")
	}
	switch c.Action {
	case planner.Program:
		fmt.Fprintf(w, "  %s %s%s\n", s.paint(green, "+"), s.paint(bold, name), label)
		s.line(w, c, "before", c.Before, Bits(c.Before))
		s.line(w, c, "burn  ", c.Delta, s.paint(green, Marks(c.Delta)))
		s.line(w, c, "after ", c.After(), Bits(c.After()))
	case planner.NoOp:
		fmt.Fprintf(w, "  %s %s%s%s\n", s.paint(dim, "="), name, label, s.paint(dim, "  already burned"))
	case planner.Conflict:
		fmt.Fprintf(w, "  %s %s%s  %s\n", s.paint(red, "!"), s.paint(bold, name), label,
			s.paint(red, fmt.Sprintf("conflict: %s are burned but the manifest wants 0", c.BitList(c.Conflict))))
		s.line(w, c, "device", c.Before, Bits(c.Before))
		s.line(w, c, "wants ", c.Value, fmt.Sprintf("%s  (mask 0x%08x)", Bits(c.Value), c.Mask))
		s.line(w, c, "clash ", c.Conflict, s.paint(red, Marks(c.Conflict)))
		for _, l := range neverLines(p, c) {
			fmt.Fprintf(w, "      %s\n", s.paint(red, l))
		}
	case planner.Unreadable:
		fmt.Fprintf(w, "  %s %s%s  %s\n", s.paint(red, "?"), s.paint(bold, name), label,
			s.paint(red, "unreadable: reads 0xbadabada (read-protected), its bits cannot be checked"))
	case planner.ReadLocked:
		fmt.Fprintf(w, "  %s %s%s  %s\n", s.paint(dim, "~"), name, label, s.paint(dim, c.Reason))
	case planner.Refused:
		fmt.Fprintf(w, "  %s %s%s  %s\n", s.paint(red, "x"), s.paint(bold, name), label, s.paint(red, "refused: "+c.Reason))
		s.line(w, c, "before", c.Before, Bits(c.Before))
		s.line(w, c, "burn  ", c.Delta, s.paint(red, Marks(c.Delta)))
	}
}

// line is one value line of a word: hex and bits, or only "secret" for a
// word holding secret bits.
func (s Style) line(w io.Writer, c planner.Change, label string, v uint32, bits string) {
	if c.Secret != 0 {
		fmt.Fprintf(w, "      %s  secret\n", label)
		return
	}
	fmt.Fprintf(w, "      %s  0x%08x  %s\n", label, v, bits)
}

// PlanSummary is the plan's last line.
func (s Style) PlanSummary(p *planner.Plan) string {
	n := p.Summary()
	if p.Rejected() {
		var why []string
		if n.Conflict > 0 {
			why = append(why, plural(n.Conflict, "word conflicts", "words conflict")+" with the device")
		}
		if n.Unreadable > 0 {
			why = append(why, plural(n.Unreadable, "word is", "words are")+" unreadable")
		}
		if n.Refused > 0 {
			why = append(why, plural(n.Refused, "word is", "words are")+" refused")
		}
		return s.paint(red, "Plan rejected: "+strings.Join(why, ", ")+". Nothing will be written.")
	}
	if n.Program == 0 && p.AlreadyApplied {
		return s.paint(green, "Already applied: nothing to do. The device holds exactly the state this saved plan leaves.")
	}
	if n.Program == 0 {
		if n.ReadLocked > 0 {
			return s.paint(yellow, fmt.Sprintf("No changes: the device satisfies the manifest as far as it can be read (%s); %s read-locked before this run: NOT verified.",
				plural(n.NoOp, "word", "words"), plural(n.ReadLocked, "word", "words")))
		}
		return s.paint(green, fmt.Sprintf("No changes: the device already satisfies the manifest (%s).", plural(n.NoOp, "word", "words")))
	}
	// A word with bits of several classes is burned once per class.
	burns := ""
	if b := len(p.Writes()); b != n.Program {
		burns = " in " + plural(b, "burn", "burns")
	}
	return fmt.Sprintf("Plan: %s to program%s (%s), %s already satisfied.",
		s.paint(bold, plural(n.Program, "word", "words")), burns, plural(n.Bits, "bit", "bits"), plural(n.NoOp, "word", "words"))
}
