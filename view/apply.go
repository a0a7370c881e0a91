package view

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/otpprov/otpprov/applier"
	"github.com/otpprov/otpprov/nvmem"
)

// Apply renders an apply's result: one line per planned word, saying what
// the device read back, and a summary that says plainly whether anything
// was written.
func (s Style) Apply(w io.Writer, r *applier.Result) {
	for _, word := range r.Words {
		fmt.Fprintf(w, "  %s  %s\n", wordName(word.Bank, word.Word, word.Offset()), s.wordOutcome(word))
	}
	for _, k := range r.Strays {
		fmt.Fprintf(w, "  %s\n", s.paint(red, fmt.Sprintf("word %d (0x%03x) changed although the plan did not program it", k, 4*k)))
	}
	if r.FinalErr != nil {
		fmt.Fprintf(w, "  %s\n", s.paint(red, "the final read of the device failed: "+r.FinalErr.Error()))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, s.ApplySummary(r))
}

func (s Style) wordOutcome(word applier.Word) string {
	read := "read failed"
	if word.Read {
		read = "read " + word.Hex(word.ReadBack)
	}
	burn := "burn " + word.Hex(word.Delta)
	switch word.Status {
	case applier.Verified:
		return fmt.Sprintf("%s  %s  %s", burn, read, s.paint(green, "verified"))
	case applier.Mismatch:
		return fmt.Sprintf("%s  %s  %s", burn, read, s.paint(red, "MISMATCH: "+mismatch(word)))
	case applier.WriteFailed:
		return fmt.Sprintf("%s  %s  %s", burn, read, s.paint(red, "WRITE FAILED: "+reason(word.Err)+"; "+burned(word)))
	case applier.ReadFailed:
		return fmt.Sprintf("%s  %s  %s", burn, read, s.paint(red, "READ-BACK FAILED: "+reason(word.Err)+"; the word may have burned"))
	}
	return s.paint(dim, "skipped")
}

// mismatch says which bits differ from the plan.
func mismatch(w applier.Word) string {
	var parts []string
	if missing := w.After() &^ w.ReadBack; missing != 0 {
		parts = append(parts, w.BitList(missing)+" did not burn")
	}
	if extra := w.ReadBack &^ w.After(); extra != 0 {
		parts = append(parts, w.BitList(extra)+" are 1 but were not planned")
	}
	return strings.Join(parts, ", ")
}

// burned says what a failed write did, from the word read back after it.
func burned(w applier.Word) string {
	switch {
	case !w.Read:
		return "the word could not be re-read: it may have burned"
	case w.ReadBack == w.Before:
		return "nothing burned"
	case w.ReadBack == w.After():
		return "the word burned as planned all the same"
	}
	return "burned partly (" + mismatch(w) + ")"
}

// reason is the operator's word for a device error, without the path that
// the line already names.
func reason(err error) string {
	var de *nvmem.Error
	if errors.As(err, &de) {
		return de.Err.Error()
	}
	return err.Error()
}

// ApplySummary is the apply's last line.
func (s Style) ApplySummary(r *applier.Result) string {
	var verified, failed, skipped int
	for _, w := range r.Words {
		switch w.Status {
		case applier.Verified:
			verified++
		case applier.Skipped:
			skipped++
		default:
			failed++
		}
	}
	// A word with bits of several classes is burned once per class:
	// counts say burns and words apart where they differ.
	words := map[int]bool{}
	for _, w := range r.Words {
		words[w.Index] = true
	}
	if r.OK() {
		done := plural(verified, "word", "words")
		if verified != len(words) {
			done = fmt.Sprintf("%s into %s,", plural(verified, "burn", "burns"), plural(len(words), "word", "words"))
		}
		if len(r.Unverified) > 0 {
			return s.paint(yellow, fmt.Sprintf("Apply complete: %s programmed and verified; %s read-locked before this run: NOT verified.",
				done, plural(len(r.Unverified), "word", "words")))
		}
		return s.paint(green, fmt.Sprintf("Apply complete: %s programmed and verified.", done))
	}
	var b strings.Builder
	b.WriteString("Apply stopped")
	if r.Interrupted {
		b.WriteString(" by a signal")
	}
	if len(r.Words) == len(words) {
		fmt.Fprintf(&b, ": %d of %d words verified", verified, len(r.Words))
	} else {
		fmt.Fprintf(&b, ": %d of %d burns (into %s) verified", verified, len(r.Words), plural(len(words), "word", "words"))
	}
	if failed > 0 {
		fmt.Fprintf(&b, ", %d failed", failed)
	}
	if skipped > 0 {
		fmt.Fprintf(&b, ", %d not attempted", skipped)
	}
	switch {
	case r.Uncertain():
		b.WriteString(". The device could not be read back, so it MAY have been PARTIALLY programmed: run plan again once it answers.")
	case r.Changed():
		b.WriteString(". The device was PARTIALLY programmed: run plan again to see what remains.")
	default:
		b.WriteString(". Nothing was written to the device.")
	}
	return s.paint(red, b.String())
}
