package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/internal/atomicfile"
	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/output"
	"github.com/otpprov/otpprov/internal/termtext"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/journal"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
	"github.com/otpprov/otpprov/view"
)

// Exit codes: a contract with scripts and station software (README).
const (
	exitOK      = 0 // done; or nothing to do
	exitError   = 1 // error or refusal; nothing was written to the device
	exitChanges = 2 // plan --detailed-exitcode: changes to make; verify: device does not satisfy the manifest
	exitPartial = 3 // apply stopped after writing: the device is partially programmed (or may be)
)

// exitCodes says what each exit code means, for the man page. The README's
// table says the same; a test checks that both list the same codes.
var exitCodes = []struct {
	code    int
	meaning string
}{
	{exitOK, "success; or nothing to do"},
	{exitError, "error or refusal: bad input, rejected plan, stale plan, no approval, device error before any write, " +
		"output that could not be written (the output is incomplete), " +
		"or an apply that failed with nothing written (proven by reading the device back)"},
	{exitChanges, "plan --detailed-exitcode: there are changes to make; verify: the device does not satisfy the manifest"},
	{exitPartial, "apply or write stopped after writing: the device is partially programmed (or may be: a word that " +
		"could not be read back counts as changed); run plan again to see what remains"},
}

// exit carries an exit code up to run. A nil err exits quietly.
type exit struct {
	code int
	err  error
	hint string // what to do, when the error alone does not say
	// device: apply or write burned, so the code says what the device
	// holds (0 or 3) and stays, whatever else fails after.
	device bool
}

func (e *exit) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exit) Unwrap() error { return e.err }

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func run(ctx context.Context, args []string, e env) int {
	// Everything otpprov prints passes one place that escapes what would
	// act on the terminal: the inputs refuse such characters, and this
	// catches any that reach a message another way. Colour is otpprov's
	// own, on stdout only.
	out, errs := termtext.NewWriter(e.stdout, view.Sequences()...), termtext.NewWriter(e.stderr)
	e.stdout, e.stderr = out, errs
	flush := e.flush
	e.flush = func() error {
		err := out.Flush()
		if flush != nil {
			if ferr := flush(); ferr != nil {
				return ferr // the first failure, which out's also is
			}
		}
		return err
	}
	defer func() {
		out.Flush()
		errs.Flush()
	}()
	var notFound error
	app := newApp(ctx, e, &notFound)
	err := refuseUnsafe(app, args, e)
	if err == nil {
		err = app.RunContext(ctx, interspersed(app, args))
	}
	if err == nil {
		err = notFound
	}
	return report(e.stderr, settle(e, err))
}

// settle adds standard output's failure, if any, to err. Output that did
// not reach its reader makes the exit code 1, since a command that
// printed half a plan or half a script did not do its job; except after
// a burn, where 0 or 3 says what the device holds, and 1 would say
// nothing was written. The failure is reported once: settle is
// idempotent, since the error it returns holds the output's. An apply
// settles before a refusal's outcome record, which then holds the same
// code, and after a burn's, which the output must not hold up.
func settle(e env, err error) error {
	oerr := e.Flush()
	if oerr == nil || errors.Is(err, oerr) {
		return err
	}
	var ex *exit
	if !errors.As(err, &ex) {
		return &exit{code: exitError, err: errors.Join(err, oerr), hint: outputHint}
	}
	if ex.err != nil {
		oerr = errors.Join(ex.err, oerr)
	}
	if ex.device {
		// The code says what the device holds, and stays; a hint that
		// already says what to do (the journal's) stays too.
		h := ex.hint
		if h == "" {
			h = fmt.Sprintf("the device's outcome stands: exit %d says what it holds, not the output; run otpprov plan to see the board", ex.code)
		}
		return &exit{code: ex.code, device: true, err: oerr, hint: h}
	}
	return &exit{code: exitError, err: oerr, hint: outputHint}
}

const outputHint = "run it again where standard output can take it all (a disk with room, a reader that reads to the end); " +
	"a command that writes a document or script can write it whole to a file with --out FILE"

// report prints err in otpprov's one voice and returns the exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code := exitError
	var ex *exit
	if errors.As(err, &ex) {
		code = ex.code
		if ex.err == nil {
			return code
		}
	}
	var diags manifest.Diagnostics
	if errors.As(err, &diags) {
		shown, more := diags.Shown()
		for _, d := range shown {
			fmt.Fprintf(stderr, "otpprov: error: %s: %s\n", d.Pos, d.Message)
			if d.Hint != "" {
				fmt.Fprintf(stderr, "otpprov: hint: %s\n", d.Hint)
			}
		}
		if more > 0 {
			fmt.Fprintf(stderr, "otpprov: error: %s; fix these and run again\n", yamldoc.More(more))
		}
		if oe := (*output.Error)(nil); errors.As(err, &oe) {
			fmt.Fprintf(stderr, "otpprov: error: %s\n", oe) // validate printed part of its report
		}
		return code
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "otpprov: error: %s\n", line)
	}
	h := hint(err)
	if ex != nil && ex.hint != "" {
		h = ex.hint
	}
	if h != "" {
		fmt.Fprintf(stderr, "otpprov: hint: %s\n", h)
	}
	return code
}

// hint says what to do about an error, where that is known.
func hint(err error) string {
	var u usageError
	switch {
	case errors.As(err, &u):
		return "see 'otpprov help' or 'otpprov COMMAND --help'"
	case errors.Is(err, nvmem.ErrReadOnly):
		return "the device tree marks the OCOTP read-only (the board vendor's default); enable writes in the &ocotp node, rebuild the device tree and reboot"
	case errors.Is(err, nvmem.ErrPermission):
		return "the nvmem file is root's: run otpprov as root"
	case errors.Is(err, nvmem.ErrNotFound):
		return "is the imx-ocotp driver loaded? name the device with --device PATH (or sim:DIR for the emulator)"
	case errors.Is(err, nvmem.ErrDeviceKind):
		return "name the nvmem file (" + nvmem.DefaultPath + "), a regular image file, or sim:DIR"
	case errors.Is(err, nvmem.ErrGone):
		return "the device went away (driver unbound? see dmesg); once it is back, run plan again to see what the board holds"
	case errors.Is(err, nvmem.ErrBusy):
		return "wait for it to finish, or stop it: two writers on one board must never interleave (a sim that ocotp-emu serves is driven through its mount: --device-kind nvmem --device MOUNT/nvmem)"
	case errors.Is(err, nvmem.ErrChipInDoubt):
		return "the board's device tree must be its SoC's own: compare its OCOTP node with otpprov fusemap show SOC; otpprov dump still shows the bytes"
	case errors.Is(err, nvmem.ErrWrongSoC):
		return "the board is the SoC it says it is: use the manifest or plan made for that SoC, or drop the --soc that says otherwise; SoCs of one size place their fuses differently"
	case errors.Is(err, nvmem.ErrSoCUnknown):
		return "say which SoC the board is with --soc (otpprov fusemap list)"
	case errors.Is(err, nvmem.ErrNotOCOTP):
		return "name the i.MX OCOTP's nvmem file (" + nvmem.DefaultPath + ") with --device"
	case errors.Is(err, nvmem.ErrNotDevice), errors.Is(err, planner.ErrGeometry):
		return "check --device, and which SoC it is: what the board says, the manifest's soc, --soc"
	case errors.Is(err, planner.ErrStale):
		return "make a new plan against the device as it is now: otpprov plan --out FILE MANIFEST"
	case errors.Is(err, planner.ErrOtherBoard):
		return "a saved plan is for the board it was made on: plan this board with otpprov plan --out FILE MANIFEST"
	case errors.Is(err, planner.ErrPlanFile):
		return "make a new plan: otpprov plan --out FILE MANIFEST"
	case errors.Is(err, inputfile.ErrNotRegular):
		return inputfile.Hint(err)
	case errors.Is(err, atomicfile.ErrNotRegular):
		return "--out writes a regular file: name one (leave out --out to write to standard output)"
	case errors.Is(err, errNoApproval):
		return "review the plan, then answer yes at a terminal, or pass --auto-approve on a production line"
	case errors.Is(err, journal.ErrNoSpace):
		return "free space on the journal's filesystem (df), or name a journal on another disk with --journal"
	}
	var te *journal.Error
	if errors.As(err, &te) {
		return te.Hint()
	}
	return releaseHint(err)
}

// interspersed moves flags that follow positional arguments in front of
// them. urfave/cli stops parsing flags at the first positional argument, so
// without this `otpprov plan board.yaml --json` would silently ignore
// --json. Unknown flags move too, so that the parser refuses them.
func interspersed(app *cli.App, args []string) []string {
	out := []string{args[0]}
	rest := args[1:]
	i := 0
	for i < len(rest) && strings.HasPrefix(rest[i], "-") {
		out = append(out, rest[i])
		i++
	}
	var cmd *cli.Command
	for cmds := app.Commands; i < len(rest); {
		c := findCommand(cmds, rest[i])
		if c == nil {
			break
		}
		out = append(out, rest[i])
		i++
		cmd, cmds = c, c.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	if cmd == nil {
		return append(out, rest[i:]...)
	}
	var flags, positional []string
	for i < len(rest) {
		a := rest[i]
		i++
		if a == "--" {
			positional = append(positional, rest[i:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue(cmd, name) && i < len(rest) {
			flags = append(flags, rest[i])
			i++
		}
	}
	out = append(out, flags...)
	if len(positional) > 0 {
		out = append(append(out, "--"), positional...)
	}
	return out
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func takesValue(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
