// Package export renders a plan's burns as a script to run without
// otpprov: a U-Boot script, a uuu (NXP mfgtools) list, or a POSIX sh
// script over the Linux nvmem file. A script is a rendering of one plan,
// made for one state of one board: every script first checks that the
// words it burns still hold the values the plan was made from, and burns
// nothing on a board that differs.
//
// What the scripts rely on, and where it comes from:
//
//   - U-Boot (cmd/fuse.c, drivers/misc/mxc_ocotp.c, doc/usage/cmd/fuse.rst):
//     `fuse prog -y BANK WORD HEXVAL` burns without asking; `fuse cmp BANK
//     WORD VAL` compares VAL with the shadow register (fuse_read), fails
//     with status 1 on a mismatch, and parses VAL with base 0, so it needs
//     the 0x prefix; `fuse sense` reads the fuse itself but only prints it.
//     fuse_prog does not reload the shadow registers, so `fuse cmp` after a
//     burn compares the stale value: the only automatic checks a U-Boot
//     script can make are of the state before its first burn.
//   - U-Boot's hush parser does not stop a script at a failed command, and
//     runs a script as it reads it; old hush skips the rest of an && / ||
//     list after a false && operand, and an if whose test fails and that
//     has no else returns that failure. `run A B` stops at the first
//     variable that fails. The U-Boot and uuu scripts define every step
//     into a variable and burn only from their last line (uboot.go).
//   - uuu (libuuu/cmd.cpp): a list must start with "uuu_version", or uuu
//     takes the file for a boot image; '#' lines are comments; every line
//     is parsed before any runs, and an unknown command fails the list;
//     the first command that fails ends the run; FB: done ends it (without
//     it uuu waits for the next device, usbhotplug.cpp). U-Boot's fastboot
//     (fb_command.c run_ucmd) fails the command when run_command fails,
//     and a fastboot command is at most 64 bytes, "UCmd:" included.
//   - sh: the Digi document's recipe, dd at the word's offset with bs=4. Its
//     printf '\xNN' is not POSIX: dash prints the four characters, which
//     would burn 0x3330785c for '\x03'. The script uses octal escapes.
package export

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/otpprov/otpprov/planner"
)

// Format is an offline rendering of a plan.
type Format string

const (
	UBoot Format = "uboot" // a U-Boot script (hush), to source or paste
	UUU   Format = "uuu"   // a uuu list: FB: ucmd lines
	Shell Format = "sh"    // POSIX sh over the nvmem file
)

// Formats lists every format, in the order help texts should show them.
func Formats() []Format { return []Format{UBoot, UUU, Shell} }

// DefaultDevice is the nvmem file a sh script writes unless told otherwise.
const DefaultDevice = "/sys/bus/nvmem/devices/imx-ocotp0/nvmem"

// Options are what a script says besides the plan.
type Options struct {
	ToolVersion string
	Device      string // sh only: the nvmem path (default DefaultDevice)
	// AssumeBlank: the plan's state was assumed blank (plan
	// --assume-blank), not read from a part. Its identity words read 0
	// there, which no real part has: the script is bound to no part, says
	// so, and checks only that every word it burns is still blank.
	AssumeBlank bool
}

var (
	// ErrFormat: the format is none of Formats().
	ErrFormat = errors.New("unknown script format")
	// ErrRejected: a rejected plan must not be applied, by otpprov or by
	// a script.
	ErrRejected = errors.New("the plan is rejected")
	// ErrSecret: a script is plain text; secret bits must not be in it.
	ErrSecret = errors.New("a script would hold secret values in plain text")
)

// ParseFormat returns the format named s.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w %q (known: %s)", ErrFormat, s, formatList())
}

func formatList() string {
	var s []string
	for _, f := range Formats() {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}

// Write renders the plan's burns, in the plan's order (p.Writes()), as a
// script. It writes nothing to w when it refuses: a rejected plan, a plan
// that burns secret bits, an unknown format.
func Write(w io.Writer, f Format, p *planner.Plan, opts Options) error {
	if err := check(p); err != nil {
		return err
	}
	var b bytes.Buffer
	var err error
	switch f {
	case UBoot:
		err = writeUBoot(&b, p, opts)
	case UUU:
		err = writeUUU(&b, p, opts)
	case Shell:
		err = writeShell(&b, p, opts)
	default:
		_, err = ParseFormat(string(f))
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

// fieldName is what a field name must look like to be written into a
// script outside a comment (the security confirmations).
var fieldName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_]+$`) })

func check(p *planner.Plan) error {
	if p.Rejected() {
		var why []string
		for _, c := range p.Changes {
			switch c.Action {
			case planner.Conflict, planner.Unreadable, planner.Refused:
				why = append(why, fmt.Sprintf("bank %d word %d is %s", c.Bank, c.Word, c.Action))
			}
		}
		return fmt.Errorf("%w (%s): no script is made for it", ErrRejected, strings.Join(why, "; "))
	}
	for _, c := range p.Writes() {
		if c.Secret != 0 {
			return fmt.Errorf("%w: bank %d word %d holds secret bits; burn it with otpprov apply", ErrSecret, c.Bank, c.Word)
		}
		if c.Index < 0 || c.Index >= p.SoC.Words || c.WriteIndex < 0 || c.WriteIndex >= p.SoC.Words {
			// The planner refuses these; a script must never guess.
			return fmt.Errorf("bank %d word %d (read index %d, write index %d) is outside the %d words of the %s nvmem file: it cannot be burned and read back",
				c.Bank, c.Word, c.Index, c.WriteIndex, p.SoC.Words, p.SoC.Name)
		}
	}
	for _, f := range p.Security() {
		if !fieldName().MatchString(f.Name) {
			return fmt.Errorf("security field %q: a name a script cannot hold", f.Name)
		}
	}
	return nil
}

// clean makes text safe inside a comment line: a control character (a
// newline in a file name) would end the comment and become code.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// releaseLines name the release the plan's files were checked against,
// and who signed it. The signer's principals are the station's allowed
// signers file's, of any length: cut, so that no comment line of a
// script outgrows a U-Boot console line.
func releaseLines(r *planner.Release) []string {
	if r == nil {
		return []string{"release:     unsigned: no release was given when the plan was made"}
	}
	out := []string{"release:     " + clean(r.Name) + " (" + clean(r.Digest) + "), " + clean(r.Status)}
	if r.Fingerprint != "" {
		signer := clean(r.Signer)
		if len(signer) > 80 {
			signer = signer[:77] + "..."
		}
		out = append(out, "             signed by "+signer+", key "+clean(r.KeyType)+" "+clean(r.Fingerprint))
	}
	return out
}

// header is the opening comment of every script, without comment marks.
func header(p *planner.Plan, opts Options, what string) []string {
	tool := "otpprov"
	if opts.ToolVersion != "" {
		tool += " " + opts.ToolVersion
	}
	src := clean(p.Source.Name)
	var about []string
	if p.Source.File != "" {
		about = append(about, clean(p.Source.File))
	}
	if p.Source.Digest != "" {
		about = append(about, clean(p.Source.Digest))
	}
	if len(about) > 0 {
		src += " (" + strings.Join(about, ", ") + ")"
	}
	lines := []string{
		what + ", generated by " + tool + " from one plan. Do not edit: plan again.",
		"",
		"manifest:    " + src,
	}
	lines = append(lines, releaseLines(p.Source.Release)...)
	lines = append(lines, "soc:         "+p.SoC.Name)
	ids := identity(p, opts)
	switch {
	case opts.AssumeBlank:
		lines = append(lines,
			"planned for: NO PART: planned against a blank "+p.SoC.Name+" (--assume-blank), not",
			"             read from a board. The script is bound to no part: it checks",
			"             instead that every word it burns is still blank.")
	case len(ids) > 0:
		var where []string
		for _, w := range ids {
			where = append(where, fmt.Sprintf("%d/%d", w.Bank, w.Word))
		}
		lines = append(lines,
			"planned for: UNIQUE_ID "+clean(p.UniqueID),
			"             The script reads the part's identity words ("+strings.Join(where, ", ")+")",
			"             before its first burn and burns nothing on another part.")
	case p.UniqueID == "":
		lines = append(lines, "planned for: no part: the "+p.SoC.Name+" map has no UNIQUE_ID field; the",
			"             script is bound to no part.")
	default:
		lines = append(lines, "planned for: no part: the part's UNIQUE_ID read "+clean(p.UniqueID)+"; the",
			"             script is bound to no part.")
	}
	lines = append(lines,
		"state:       "+clean(p.StateDigest),
		"             The device's bytes when planned (assumed, with --assume-blank).")
	if len(p.Writes()) > 0 {
		lines = append(lines,
			"             The script checks every word it burns against this state",
			"             and burns nothing on a board that differs.")
	}
	lines = append(lines, "burns:       "+burnSummary(p))
	warnings := p.Warnings()
	if len(warnings) == 0 {
		return lines
	}
	bar := strings.Repeat("!", 70)
	lines = append(lines, "", bar,
		"WARNING: this script makes irreversible changes beyond the bits themselves:")
	for _, w := range warnings {
		lines = append(lines, "  "+clean(w.Field)+": "+clean(w.Message))
	}
	if sec := securityNames(p); len(sec) > 0 {
		lines = append(lines,
			"Security fields burned: "+strings.Join(sec, ", "),
			"Like otpprov apply --confirm-security, the script burns nothing unless",
			"the operator names each of them (see below).")
	}
	return append(lines, bar)
}

func securityNames(p *planner.Plan) []string {
	var out []string
	for _, f := range p.Security() {
		out = append(out, f.Name)
	}
	return out
}

func burnSummary(p *planner.Plan) string {
	writes := p.Writes()
	if len(writes) == 0 {
		return "none: the board already holds every bit the manifest asks for"
	}
	words := map[int]bool{}
	n := 0
	for _, c := range writes {
		words[c.Index] = true
		for d := c.Delta; d != 0; d &= d - 1 {
			n++
		}
	}
	return fmt.Sprintf("%d %s into %d %s, %d %s, in this order: data, locks, security, closing last",
		len(writes), plural(len(writes), "write", "writes"), len(words), plural(len(words), "word", "words"), n, plural(n, "bit", "bits"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// label names what a burn is for: the manifest's names for the word, then
// the fields of the map whose bits the burn sets.
func label(p *planner.Plan, c planner.Change) string {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, clean(n))
		}
	}
	for _, n := range c.Names {
		add(n)
	}
	if p.Map != nil {
		for _, f := range p.Map.FieldsAt(c.Bank, c.Word) {
			if f.MaskIn(c.Bank, c.Word)&c.Delta != 0 {
				add(f.Name)
			}
		}
	}
	if len(names) == 0 {
		return "no named field"
	}
	return strings.Join(names, ", ")
}

// original is one word the script burns, with what it held when planned.
type original struct {
	Bank, Word, Index int
	Before            uint32
}

// originals lists the words the writes burn, in word order, each with the
// value it held when planned: the Before of its first burn (a later burn
// of the same word starts from the earlier burns).
func originals(p *planner.Plan) []original {
	seen := map[int]bool{}
	var out []original
	for _, c := range p.Writes() {
		if !seen[c.Index] {
			seen[c.Index] = true
			out = append(out, original{c.Bank, c.Word, c.Index, c.Before})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// identity lists the words of the part's UNIQUE_ID (the map's identity
// field), in word order, each with what it held on the part the plan was
// read from: a script compares them before its first burn, and so burns
// only on that part. Whole words are compared, not the identity's bits
// alone: a word that also differs outside them is another part or
// another state, refused either way. nil when the script can be bound to
// no part: a state assumed blank (whose identity reads 0, as no real
// part's does), a map without an identity field, an identity that read
// 0xBADABADA.
func identity(p *planner.Plan, opts Options) []original {
	if opts.AssumeBlank || p.Map == nil || len(p.State) != p.SoC.Words || p.UniqueID == "" || p.UniqueID == "unreadable" {
		return nil
	}
	f := p.Map.Identity()
	if f == nil {
		return nil
	}
	seen := map[int]bool{}
	var out []original
	for _, part := range f.Parts {
		k := p.SoC.ReadIndex(part.Bank, part.Word)
		if k < 0 || k >= len(p.State) {
			return nil
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, original{part.Bank, part.Word, k, p.State[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// comment prefixes each line with "# " (a blank line gets "#").
func comment(b *bytes.Buffer, lines ...string) {
	for _, l := range lines {
		if l == "" {
			b.WriteString("#\n")
			continue
		}
		b.WriteString("# " + l + "\n")
	}
}
