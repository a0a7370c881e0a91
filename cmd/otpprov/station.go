package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/applier"
	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/journal"
	"github.com/otpprov/otpprov/manifest"
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
	for _, kv := range c.StringSlice("var") {
		name, v, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, usageError{fmt.Sprintf("--var %s: write --var name=value", yamldoc.Quote(kv))}
		}
		vals[name] = manifest.VarValue{Text: v, From: "--var", Dir: cwd}
	}
	return vals, nil
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

// station is one apply attempt's journal record in the making. Every
// attempt is recorded, refusals and failures too, once the journal is open.
type station struct {
	file *journal.File
	rec  journal.Record
}

// openJournal opens --journal (or OTPPROV_JOURNAL) before anything else:
// a journal that cannot be written stops the apply before a fuse burns.
func openJournal(c *cli.Context, command string) (*station, error) {
	path := c.String("journal")
	if path == "" {
		return nil, nil
	}
	f, err := journal.Open(path)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &station{file: f, rec: journal.Record{Start: time.Now().UTC(), Host: host, ToolVersion: toolVersion(),
		Command: command, Device: c.String("device"), Variables: []journal.Variable{}, Words: []journal.Word{}}}, nil
}

func (s *station) manifest(m *manifest.Manifest) {
	if s == nil || m == nil {
		return
	}
	s.rec.Manifest = journal.Manifest{Name: m.Name, Files: m.Files, Digest: m.Digest}
	for _, v := range m.Variables {
		s.rec.Variables = append(s.rec.Variables, journal.Variable{Name: v.Name, Type: string(v.Type), Value: v.Shown, From: v.From})
	}
}

func (s *station) plan(p *planner.Plan) {
	if s == nil || p == nil {
		return
	}
	s.rec.SoC, s.rec.UniqueID = p.SoC.Name, p.UniqueID
	if s.rec.Manifest.Name == "" {
		s.rec.Manifest = journal.Manifest{Name: p.Source.Name, Files: []string{p.Source.File}, Digest: p.Source.Digest}
	}
	s.rec.Words = s.rec.Words[:0]
	for _, w := range p.Writes() {
		s.rec.Words = append(s.rec.Words, journal.Word{Bank: w.Bank, Word: w.Word, Offset: w.Offset(), WriteOffset: w.WriteOffset(),
			Before: w.Hex(w.Before), Delta: w.Hex(w.Delta), Status: string(applier.Skipped)})
	}
}

func (s *station) result(r *applier.Result) {
	if s == nil || r == nil {
		return
	}
	for i, w := range r.Words {
		if i >= len(s.rec.Words) {
			break
		}
		s.rec.Words[i].Status = string(w.Status)
		if w.Read {
			s.rec.Words[i].After = w.Hex(w.ReadBack)
		}
	}
}

// finish writes the record for err, the attempt's outcome, and returns
// the error to report. A record that cannot be written after a burn is
// reported loudly: the board is programmed but not traced.
func (s *station) finish(err error, burned bool) error {
	if s == nil {
		return err
	}
	defer s.file.Close()
	s.rec.End = time.Now().UTC()
	code := exitCode(err)
	s.rec.ExitCode = code
	switch {
	case code == exitOK && len(s.rec.Words) == 0:
		s.rec.Outcome = "nothing-to-do"
	case code == exitOK:
		s.rec.Outcome = "applied"
	case code == exitPartial:
		s.rec.Outcome = "partial"
	case burned:
		s.rec.Outcome = "nothing-written"
	case errors.Is(err, errNoApproval) || errors.As(err, new(*exit)):
		s.rec.Outcome = "refused"
	default:
		s.rec.Outcome = "error"
	}
	if err != nil {
		s.rec.Error = err.Error()
	}
	if jerr := s.file.Append(&s.rec); jerr != nil {
		if burned {
			what := "the apply finished"
			if err != nil {
				what = err.Error()
			}
			return &exit{code: exitPartial, err: fmt.Errorf("%s, but the journal record was not written: %w", what, jerr),
				hint: "the device may have been programmed without a journal record: check the board with otpprov show, and the journal's disk"}
		}
		return errors.Join(err, jerr)
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
	n, err := journal.Verify(f)
	if err != nil {
		return fmt.Errorf("%s: %w (%d records before it verified)", a[0], err, n)
	}
	fmt.Fprintf(e.stdout, "%s: %d records, chain intact\n", a[0], n)
	return nil
}
