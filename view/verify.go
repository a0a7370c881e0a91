package view

import (
	"fmt"
	"io"

	"github.com/otpprov/otpprov/planner"
)

// Verify renders whether a device satisfies a manifest, listing every word
// that does not.
func (s Style) Verify(w io.Writer, p *planner.Plan) {
	n := p.Summary()
	for _, c := range p.Changes {
		name := wordName(c.Bank, c.Word, c.Offset())
		switch c.Action {
		case planner.Program, planner.Refused:
			// A refused word (say, under a burned lock) is just as
			// unsatisfied: its bits are not burned, and may never be.
			fmt.Fprintf(w, "  %s %s  %s not burned (device %s, wants %s mask 0x%08x)\n",
				s.paint(red, "x"), name, c.BitList(c.Delta), c.Hex(c.Before), c.Hex(c.Value), c.Mask)
		case planner.Conflict:
			fmt.Fprintf(w, "  %s %s  %s burned where the manifest wants 0 (device %s): can never match\n",
				s.paint(red, "x"), name, c.BitList(c.Conflict), c.Hex(c.Before))
		case planner.Unreadable:
			fmt.Fprintf(w, "  %s %s  read-protected: cannot be checked\n", s.paint(red, "?"), name)
		case planner.ReadLocked:
			fmt.Fprintf(w, "  %s %s  %s\n", s.paint(yellow, "~"), name, s.paint(yellow, "read-locked as the manifest asks, before this check: NOT verified"))
		}
	}
	bad := n.Program + n.Refused + n.Conflict + n.Unreadable
	// The same in field terms: a MAC as a MAC, not bits of two words.
	for _, fc := range p.Fields() {
		switch {
		case fc.Never() != "":
			fmt.Fprintf(w, "  %s %s\n", s.paint(red, "x"), fc.Never())
		case fc.Wanted == "" && fc.Before != fc.After && fc.After != "secret":
			fmt.Fprintf(w, "  %s %s is %s on the board; the manifest wants %s: not burned\n", s.paint(red, "x"), fc.Field.Name, fc.Before, fc.After)
		}
	}
	if bad == 0 {
		if n.ReadLocked > 0 {
			fmt.Fprintf(w, "%s\n", s.paint(yellow, fmt.Sprintf("Device satisfies %s as far as it can be read: %s checked; %s read-locked by the manifest's own lock: NOT verified.",
				p.Source.Name, plural(n.NoOp, "word", "words"), plural(n.ReadLocked, "word", "words"))))
			return
		}
		fmt.Fprintf(w, "%s\n", s.paint(green, fmt.Sprintf("Device satisfies %s: %s checked.", p.Source.Name, plural(n.NoOp, "word", "words"))))
		return
	}
	fmt.Fprintln(w, s.paint(red, fmt.Sprintf("Device does NOT satisfy %s: %d of %d words differ.", p.Source.Name, bad, len(p.Changes))))
}
