package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/applier"
	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/journal"
	"github.com/otpprov/otpprov/ledger"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

const varEnvPrefix = "OTPPROV_VAR_"

// varValues gathers the per-unit values by precedence, lowest first:
// OTPPROV_VAR_name, then each --var-file in order, then each --var. That is
// Terraform's order: what is typed for this run wins over what is set up
// for the station.
func varValues(c *cli.Context, e env) (map[string]manifest.VarValue, error) {
	vals := map[string]manifest.VarValue{}
	cwd, _ := os.Getwd()
	for _, kv := range e.environ() {
		k, v, _ := strings.Cut(kv, "=")
		// An empty variable counts as unset, as a shell's VAR= would mean.
		if name, ok := strings.CutPrefix(k, varEnvPrefix); ok && name != "" && v != "" {
			vals[name] = manifest.VarValue{Text: v, From: k, Dir: cwd}
		}
	}
	var diags yamldoc.Diagnostics
	for _, file := range c.StringSlice("var-file") {
		b, err := inputfile.Read(file, manifest.MaxSize)
		if err != nil {
			var e *inputfile.Error
			if errors.As(err, &e) {
				err = e.Err
			}
			return nil, fmt.Errorf("--var-file %s: %w", file, err)
		}
		vs, ds := manifest.ParseVarFile(file, b)
		diags = append(diags, ds...)
		for name, v := range vs {
			vals[name] = v // later files win
		}
	}
	if len(diags) > 0 {
		return nil, diags.Sorted()
	}
	// Two --var of one name on one command line are a mistake (a script
	// that appends a value to a template's), never "the last wins": which
	// one the operator meant cannot be told. Their values are not shown:
	// either may be a secret.
	given := map[string]int{}
	for i, kv := range c.StringSlice("var") {
		name, v, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, usageError{fmt.Sprintf("--var %s: write --var name=value", yamldoc.Quote(kv))}
		}
		if first, dup := given[name]; dup {
			return nil, usageError{fmt.Sprintf("--var %s is given twice, by the %s and the %s --var: give each variable once", name, ordinal(first+1), ordinal(i+1))}
		}
		given[name] = i
		vals[name] = manifest.VarValue{Text: v, From: "--var", Dir: cwd}
	}
	return vals, nil
}

// ordinal is "1st", "2nd", "3rd", "4th"...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// loadManifest loads the one manifest a command takes, with the overlays
// and the per-unit values.
func loadManifest(c *cli.Context, e env, path string) (*manifest.Manifest, error) {
	vars, err := varValues(c, e)
	if err != nil {
		return nil, err
	}
	return manifest.LoadOpts(path, manifest.Options{Maps: maps(c), Vars: vars})
}

// station is one apply attempt's journal: the command's values mapped
// to the record. Every attempt is recorded, refusals and failures too,
// once the journal is open.
type station struct {
	a *journal.Attempt
	// recorded: the outcome after the burn is written (or failed, and
	// that failure is in the command's error): finish has only the
	// output left to settle.
	recorded bool
	// With --ledger the ledger takes a copy of each record the journal
	// appends (records.go): pending are those appended and not yet
	// copied, warn says what could not be.
	ledger  *ledger.Ledger
	pending []journal.Appended
	warn    func(string)
	note    func(string)
	// judge: after the burn, the copied records mark burned the board's
	// reserved values they show may be on fuses (write, which takes no
	// values from the ledger and so has no other way to mark them).
	judge    bool
	evidence ledger.Evidence
}

// openJournal opens --journal (or OTPPROV_JOURNAL) before anything else,
// and checks its end: a journal that cannot take the next record stops
// the apply before the device is opened. It says which earlier attempts
// of this station were interrupted.
func openJournal(ctx context.Context, c *cli.Context, e env, command string) (*station, error) {
	path := c.String("journal")
	if path == "" {
		return nil, nil
	}
	host, _ := os.Hostname()
	st := &station{warn: func(s string) { fmt.Fprintf(e.stderr, "otpprov: warning: %s\n", s) },
		note: func(s string) { fmt.Fprintf(e.stderr, "otpprov: note: %s\n", s) }}
	var onAppend func(journal.Appended)
	if c.String("ledger") != "" {
		onAppend = func(a journal.Appended) { st.pending = append(st.pending, a) }
	}
	a, found, err := journal.BeginWith(ctx, path, journal.Record{Host: host, ToolVersion: toolVersion(),
		Command: command, Device: c.String("device")}, func(s string) { fmt.Fprintf(e.stderr, "otpprov: %s\n", s) }, onAppend)
	if err != nil {
		return nil, nothingWritten(err)
	}
	st.a = a
	for _, u := range found {
		fmt.Fprintf(e.stderr, "otpprov: warning: %s\n", interrupted(u))
		fmt.Fprintf(e.stderr, "otpprov: note: journal %s now records that attempt as interrupted (seq %d), so this is said once\n", path, u.MarkedBy)
	}
	return st, nil
}

// interrupted words an attempt that died between its intent and its
// outcome.
func interrupted(u journal.Unfinished) string {
	id := u.UniqueID
	if id == "" {
		id = "unknown"
	}
	return fmt.Sprintf("interrupted: re-plan this board: UNIQUE_ID %s (%s on %s): %d word(s) planned at %s (seq %d) and no outcome recorded",
		id, u.Device, u.Host, u.Words, u.Start.Format(time.RFC3339), u.Seq)
}

// nothingWritten says so of a journal error before the first burn.
func nothingWritten(err error) error {
	if errors.Is(err, journal.ErrInterrupted) || errors.Is(err, journal.ErrNoSpace) || errors.Is(err, journal.ErrMoved) {
		return fmt.Errorf("%w; nothing was written", err)
	}
	return err
}

func (s *station) manifest(m *manifest.Manifest) {
	if s == nil || m == nil {
		return
	}
	s.a.Manifest = journal.Manifest{Name: m.Name, Files: m.Files, Digest: m.Digest}
	for _, v := range m.Variables {
		s.a.Variables = append(s.a.Variables, journal.Variable{Name: v.Name, Type: string(v.Type), Value: v.Shown, From: v.From})
	}
}

// refusedChip: the board is not the SoC the attempt is for, or cannot
// say which it is; a refusal, not a failure of the station.
func refusedChip(err error) bool {
	for _, e := range []error{nvmem.ErrWrongSoC, nvmem.ErrSoCUnknown, nvmem.ErrNotOCOTP, nvmem.ErrChipInDoubt} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// chip records which SoC the board said it is, and how that was known,
// also when the attempt is refused for it.
func (s *station) chip(c nvmem.Chip) {
	if s == nil {
		return
	}
	s.a.SoC, s.a.SoCFrom = c.SoC, c.Evidence
}

func (s *station) plan(p *planner.Plan) {
	if s == nil || p == nil {
		return
	}
	s.a.SoC, s.a.UniqueID = p.SoC.Name, p.UniqueID
	if s.a.Manifest.Name == "" {
		s.a.Manifest = journal.Manifest{Name: p.Source.Name, Files: []string{p.Source.File}, Digest: p.Source.Digest}
	}
	if r := p.Source.Release; r != nil {
		s.a.Release = &journal.Release{Status: r.Status, Name: r.Name, Digest: r.Digest, Signer: r.Signer, KeyType: r.KeyType, Fingerprint: r.Fingerprint}
	}
	s.a.Words = s.a.Words[:0]
	for _, w := range p.Writes() {
		s.a.Words = append(s.a.Words, journal.Word{Bank: w.Bank, Word: w.Word, Offset: w.Offset(), WriteOffset: w.WriteOffset(),
			Before: w.Hex(w.Before), Delta: w.Hex(w.Delta), Status: string(applier.Skipped)})
	}
}

// intend records the plan's writes before the first burn; if that fails,
// nothing burns.
func (s *station) intend(ctx context.Context) error {
	if s == nil {
		return nil
	}
	if err := s.a.Intend(ctx); err != nil {
		return nothingWritten(err)
	}
	return s.intentCopied(ctx)
}

func (s *station) result(r *applier.Result) {
	if s == nil || r == nil {
		return
	}
	for i, w := range r.Words {
		if i >= len(s.a.Words) {
			break
		}
		s.a.Words[i].Status = string(w.Status)
		if w.Read {
			s.a.Words[i].After = w.Hex(w.ReadBack)
		}
	}
}

// burned records the outcome of a burn, before anything more goes to
// standard output: a reader that blocks (a full pipe) must not keep the
// record from the disk, where a kill -9 meanwhile would leave only the
// intent. It returns what the command returns: the device's code, or
// exit 3 when the outcome could not be recorded.
//
// With lu (values from the ledger) the blocks now on the board are marked
// burned before the report too: with the outcome record, in one
// transaction, when the station copies its records to the ledger.
func (s *station) burned(ctx context.Context, code int, lu *ledgerUse, dev *nvmem.Device) error {
	done := &exit{code: code, device: true}
	if s == nil {
		lu.burned(ctx, dev)
		return done
	}
	s.recorded = true
	// The journal only: the ledger stays open until finish, for apply to
	// mark the board's blocks burned after this.
	defer s.a.Close()
	err := s.record(ctx, done)
	s.copyAfterBurn(ctx, lu, dev)
	return err
}

// finish writes the outcome record for err, if burned did not, and
// settles standard output (settle): the error to report. Once the intent
// is written the outcome goes to the journal first, as burned's does;
// before it, the output is settled first, so that the record holds the
// code the process exits with. The outcome is judged from err, the
// command's own: an apply with nothing to do whose report was lost is
// nothing-to-do, with the output's failure as its error.
func (s *station) finish(ctx context.Context, e env, err error) error {
	if s == nil {
		return settle(e, err)
	}
	if s.recorded {
		s.closeLedger()
		return settle(e, err)
	}
	defer s.close()
	if s.a.Intended() {
		err = s.record(ctx, err)
		s.copyAfterBurn(ctx, nil, nil)
		return settle(e, err)
	}
	var outcome string
	switch code := exitCode(err); {
	case code == exitOK && len(s.a.Words) == 0:
		outcome = "nothing-to-do"
	case code == exitOK:
		outcome = "applied"
	case errors.Is(err, errNoApproval) || errors.As(err, new(*exit)) || refusedChip(err):
		outcome = "refused"
	default:
		outcome = "error"
	}
	settled := settle(e, err)
	if jerr := s.a.Finish(ctx, outcome, exitCode(settled), errorText(settled)); jerr != nil {
		return errors.Join(settled, jerr)
	}
	if cerr := s.copy(ctx); cerr != nil {
		s.warn(cerr.Error())
	}
	return settled
}

// record writes the outcome of an attempt whose intent is written. If
// it cannot, the board may hold fuses no record speaks for: exit 3,
// saying what was done, which record is missing and why, and what to do.
func (s *station) record(ctx context.Context, err error) error {
	code := exitCode(err)
	outcome := "nothing-written"
	switch code {
	case exitOK:
		outcome = "applied"
	case exitPartial:
		outcome = "partial"
	}
	jerr := s.a.Finish(ctx, outcome, code, errorText(err))
	if jerr == nil {
		return err
	}
	var what string
	switch code {
	case exitOK:
		what = "the fuses were burned and verified"
	case exitPartial:
		what = "the apply stopped after writing"
	default:
		what = "the apply failed after its intent was recorded"
	}
	path, seq := shquote.Arg(s.a.Path()), s.a.IntentSeq()
	hint := fmt.Sprintf("otpprov journal verify %s lists the attempt (seq %d) as interrupted, and the next apply of this station records it so; "+
		"check the board with otpprov plan, and the journal's disk", path, seq)
	switch {
	case errors.Is(jerr, journal.ErrMoved):
		hint = fmt.Sprintf("the intent (seq %d) went to the file that was %s when the attempt began: find that file and keep it for the audit "+
			"(otpprov journal verify on it lists the attempt as interrupted); check the board with otpprov plan; "+
			"do not move, cut or replace a journal while otpprov appends to it", seq, path)
	case errors.Is(jerr, journal.ErrLockTimeout):
		hint += "; find what holds the journal's lock (a copy, a script) and stop it"
	}
	out := fmt.Errorf("%s, but the outcome record (of the intent seq %d) was not written: %w; exit 3", what, seq, jerr)
	return &exit{code: exitPartial, device: true, err: errors.Join(unwrapExit(err), out), hint: hint}
}

// errorText is what an outcome record says of err: nothing for an
// exit with no message (an apply that succeeded, a partial one whose
// words tell).
func errorText(err error) string {
	if inner := unwrapExit(err); inner != nil {
		return inner.Error()
	}
	return ""
}

// unwrapExit is err without an *exit that carries only a code.
func unwrapExit(err error) error {
	var ex *exit
	if errors.As(err, &ex) && ex == err {
		return ex.err
	}
	return err
}

// exitCode is the code report gives err.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ex *exit
	if errors.As(err, &ex) {
		return ex.code
	}
	return exitError
}

func cmdJournalVerify(c *cli.Context, e env) error {
	a, err := args(c, "FILE")
	if err != nil {
		return err
	}
	f, err := inputfile.Open(a[0])
	if err != nil {
		return err
	}
	defer f.Close()
	rep, err := journal.Verify(f)
	if err != nil {
		var je *journal.Error
		if errors.As(err, &je) {
			je.Path = a[0]
			return fmt.Errorf("%w (%d records before it verified)", je, rep.Records)
		}
		return fmt.Errorf("%s: %w (%d records before it verified)", a[0], err, rep.Records)
	}
	fmt.Fprintf(e.stdout, "%s: %d records, chain intact\n", a[0], rep.Records)
	for _, u := range rep.Interrupted {
		marked := "no apply on this journal has found it yet, or it is still running"
		if u.MarkedBy != 0 {
			marked = fmt.Sprintf("recorded as interrupted by seq %d", u.MarkedBy)
		}
		fmt.Fprintf(e.stdout, "%s:%d: %s; %s\n", a[0], u.Line, interrupted(u), marked)
	}
	return nil
}

func cmdJournalRepair(ctx context.Context, c *cli.Context, e env) error {
	a, err := args(c, "FILE")
	if err != nil {
		return err
	}
	r, err := journal.Repair(ctx, a[0], func(s string) { fmt.Fprintf(e.stderr, "otpprov: %s\n", s) })
	switch {
	case errors.Is(err, journal.ErrNothingToRepair):
		fmt.Fprintf(e.stdout, "%s: nothing to repair: %d records, the last one complete\n", a[0], r.Records)
		return nil
	case err != nil:
		return &exit{code: exitError, err: err, hint: "journal repair mends only a torn last line (a write cut short); keep this file as it is for the audit and start a new journal"}
	case r.Completed && r.Side == "":
		fmt.Fprintf(e.stdout, "%s: the last record had lost its newline, now added: %d records, chain intact\n", a[0], r.Records)
	case r.Completed:
		fmt.Fprintf(e.stdout, "%s: the last record had lost its newline, now added, and the %d NUL bytes after it moved to %s: %d records, chain intact\n", a[0], r.Torn, r.Side, r.Records)
	default:
		fmt.Fprintf(e.stdout, "%s: moved the torn %d bytes after record %d to %s: %d records, chain intact\n", a[0], r.Torn, r.Records, r.Side, r.Records)
		if r.NUL {
			fmt.Fprintf(e.stdout, "%s: the torn bytes were all NUL: the filesystem lost the end of the file (power loss); records after seq %d may be lost: re-plan the boards of that time\n", a[0], r.Records)
		}
	}
	if r.Unreserved != nil {
		fmt.Fprintf(e.stderr, "otpprov: warning: %s: the room kept for the outcomes of attempts in progress could not be reserved again: %v; free space on the journal's filesystem\n", a[0], r.Unreserved)
	}
	return nil
}
