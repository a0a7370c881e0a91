package view

import (
	"fmt"
	"io"
	"strings"

	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/planner"
)

// Plan renders a plan the way an operator reviews it: one line per target
// word, and for each word to burn its bits before, burned and after.
func (s Style) Plan(w io.Writer, p *planner.Plan, device string) {
	fmt.Fprintf(w, "Manifest %s (%s), soc %s\n", p.Source.Name, p.Source.File, p.SoC.Name)
	fmt.Fprintf(w, "Device   %s\n\n", device)
	for _, c := range p.Changes {
		s.change(w, c)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, s.PlanSummary(p))
}

func (s Style) change(w io.Writer, c planner.Change) {
	name := wordName(c.Bank, c.Word, c.Offset())
	label := ""
	if len(c.Names) > 0 {
		label = "  " + strings.Join(c.Names, ", ")
	}
	switch c.Action {
	case planner.Program:
		fmt.Fprintf(w, "  %s %s%s\n", s.paint(green, "+"), s.paint(bold, name), label)
		fmt.Fprintf(w, "      before  0x%08x  %s\n", c.Before, Bits(c.Before))
		fmt.Fprintf(w, "      burn    0x%08x  %s\n", c.Delta, s.paint(green, Marks(c.Delta)))
		fmt.Fprintf(w, "      after   0x%08x  %s\n", c.After(), Bits(c.After()))
	case planner.NoOp:
		fmt.Fprintf(w, "  %s %s%s%s\n", s.paint(dim, "="), name, label, s.paint(dim, "  already burned"))
	case planner.Conflict:
		fmt.Fprintf(w, "  %s %s%s  %s\n", s.paint(red, "!"), s.paint(bold, name), label,
			s.paint(red, fmt.Sprintf("conflict: bits %s are burned but the manifest wants 0", manifest.BitList(c.Conflict))))
		fmt.Fprintf(w, "      device  0x%08x  %s\n", c.Before, Bits(c.Before))
		fmt.Fprintf(w, "      wants   0x%08x  %s  (mask 0x%08x)\n", c.Value, Bits(c.Value), c.Mask)
		fmt.Fprintf(w, "      clash   0x%08x  %s\n", c.Conflict, s.paint(red, Marks(c.Conflict)))
	case planner.Unreadable:
		fmt.Fprintf(w, "  %s %s%s  %s\n", s.paint(red, "?"), s.paint(bold, name), label,
			s.paint(red, "unreadable: reads 0xbadabada (read-protected), its bits cannot be checked"))
	}
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
		return s.paint(red, "Plan rejected: "+strings.Join(why, ", ")+". Nothing will be written.")
	}
	if n.Program == 0 {
		return s.paint(green, fmt.Sprintf("No changes: the device already satisfies the manifest (%s).", plural(n.NoOp, "word", "words")))
	}
	return fmt.Sprintf("Plan: %s to program (%s), %s already satisfied.",
		s.paint(bold, plural(n.Program, "word", "words")), plural(n.Bits, "bit", "bits"), plural(n.NoOp, "word", "words"))
}
