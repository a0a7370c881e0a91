package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/applier"
	"github.com/otpprov/otpprov/export"
	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/shquote"
	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
	"github.com/otpprov/otpprov/view"
)

var errNoApproval = errors.New("not approved")

// newApp builds the CLI. notFound is set when urfave met an unknown
// command: it reports those through a callback, not an error.
func newApp(ctx context.Context, e env, notFound *error) *cli.App {
	deviceFlag := &cli.StringFlag{Name: "device", Aliases: []string{"d"}, EnvVars: []string{"OTPPROV_DEVICE"},
		Value: nvmem.DefaultPath, Usage: "nvmem file, raw image, or sim:DIR for the emulator"}
	deviceKind := &cli.StringFlag{Name: "device-kind", EnvVars: []string{"OTPPROV_DEVICE_KIND"}, Value: string(nvmem.KindAuto),
		Usage: "how to drive --device: auto (sysfs file: nvmem, regular file: image, anything else refused), " +
			"nvmem (the file keeps the driver's rules; needed for device nodes), image"}
	noColor := &cli.BoolFlag{Name: "no-color", Usage: "never colour the output (NO_COLOR is honoured too)"}
	jsonFlag := &cli.BoolFlag{Name: "json", Usage: "print the versioned JSON document instead of text (see README)"}
	autoApprove := &cli.BoolFlag{Name: "auto-approve", Usage: "burn without asking (production lines); review the plan first"}
	// No default: a board says which SoC it is (sim.yaml, its device
	// tree node), and on a plain image the operator must.
	socFlag := &cli.StringFlag{Name: "soc", Usage: "the board's SoC (" + strings.Join(fusemap.Names(), ", ") +
		"): needed where the device cannot say, as a plain image file; must agree with the board and the manifest"}
	// KeepSpace: a slice flag's values are taken as typed. urfave/cli trims
	// them otherwise, so that --var "serial=5\n" (a value read from a file
	// by a script) would pass as 5 where OTPPROV_VAR_serial is refused.
	overlay := &cli.StringSliceFlag{Name: "fusemap", EnvVars: []string{"OTPPROV_FUSEMAP"}, KeepSpace: true,
		Usage: "add a board vendor's fuse map overlay `FILE` (kind FuseMapOverlay)"}
	varFlag := &cli.StringSliceFlag{Name: "var", KeepSpace: true, Usage: "a per-unit value `NAME=VALUE` for the manifest's variables (repeat; wins over --var-file and OTPPROV_VAR_NAME)"}
	varFile := &cli.StringSliceFlag{Name: "var-file", KeepSpace: true, Usage: "per-unit values from a YAML `FILE` of name: value lines (repeat; later files win)"}
	journalFlag := &cli.StringFlag{Name: "journal", EnvVars: []string{"OTPPROV_JOURNAL"},
		Usage: "append one JSON line per attempt to `FILE` (fsynced, chained: 'otpprov journal verify')"}
	confirm := &cli.StringSliceFlag{Name: "confirm-security", Usage: "acknowledge burning security field `NAME` " +
		"(repeat, or comma-separate, for each security field the plan burns)"}

	usage := func(c *cli.Context, err error, _ bool) error { return usageError{err.Error()} }
	cmds := []*cli.Command{
		{Name: "plan", Usage: "show what applying MANIFEST would burn", ArgsUsage: "MANIFEST",
			Flags: []cli.Flag{deviceFlag, deviceKind, socFlag, jsonFlag, noColor, overlay, varFlag, varFile, confirm, ledgerFlag, releaseFlag, allowedSignersFlag, revokedKeysFlag,
				outFlag("save the plan to `FILE` for 'otpprov apply FILE'; with --format uboot, uuu or sh, write the script there instead of standard output"),
				&cli.BoolFlag{Name: "allow-unbound", Usage: "with --out, save a plan of a board whose UNIQUE_ID cannot be read: bound only to the state, any board that reads the same takes it"},
				&cli.StringFlag{Name: "format", Value: "text", Usage: "text, json, or a script to burn the plan offline: uboot, uuu, sh"},
				&cli.StringFlag{Name: "state", Usage: "plan against a pasted dump `FILE` instead of the device"},
				&cli.BoolFlag{Name: "assume-blank", Usage: "plan against a blank board instead of the device (scripts for new parts)"},
				&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 0 when there is nothing to do, 2 when there are changes, 1 on error"}},
			Before: checkOut, Action: func(c *cli.Context) error { return cmdPlan(c, e) }},
		{Name: "apply", Usage: "burn MANIFEST (or a saved PLANFILE), verifying every word", ArgsUsage: "MANIFEST|PLANFILE",
			Flags:  []cli.Flag{deviceFlag, deviceKind, socFlag, autoApprove, confirm, jsonFlag, noColor, overlay, varFlag, varFile, journalFlag, ledgerFlag, releaseFlag, allowedSignersFlag, revokedKeysFlag},
			Action: func(c *cli.Context) error { return cmdApply(ctx, c, e) }},
		{Name: "verify", Usage: "check that the device satisfies MANIFEST (exit 0) or not (exit 2)", ArgsUsage: "MANIFEST",
			Flags:  []cli.Flag{deviceFlag, deviceKind, socFlag, jsonFlag, noColor, overlay, varFlag, varFile, ledgerFlag, releaseFlag, allowedSignersFlag, revokedKeysFlag},
			Action: func(c *cli.Context) error { return cmdVerify(c, e) }},
		{Name: "validate", Usage: "check manifests without a device", ArgsUsage: "MANIFEST...",
			Flags:  []cli.Flag{overlay, varFlag, varFile},
			Action: func(c *cli.Context) error { return cmdValidate(c, e) }},
		{Name: "journal", Usage: "the audit journal",
			Subcommands: []*cli.Command{
				{Name: "verify", Usage: "check every record of a journal and the chain between them; list interrupted attempts", ArgsUsage: "FILE",
					OnUsageError: usage,
					Action:       func(c *cli.Context) error { return cmdJournalVerify(c, e) }},
				{Name: "repair", Usage: "move a torn last line (a write cut short) to FILE.torn and keep every complete record", ArgsUsage: "FILE",
					OnUsageError: usage,
					Action:       func(c *cli.Context) error { return cmdJournalRepair(ctx, c, e) }}}},
		ledgerCommand(ctx, e, usage, jsonFlag, deviceFlag, deviceKind, socFlag, overlay, varFlag, varFile),
		releaseCommand(e, usage, overlay),
		{Name: "show", Usage: "decode the device by field name: value, lock state, read protection",
			Flags: []cli.Flag{deviceFlag, deviceKind, socFlag, jsonFlag, noColor, overlay,
				&cli.StringSliceFlag{Name: "field", Usage: "show only field `NAME` (repeat, or NAME,NAME)"}, outFlag(outUsage)},
			Before: checkOut, Action: func(c *cli.Context) error { return cmdShow(c, e) }},
		{Name: "import", Usage: "write a manifest that reproduces a board's burned fuses (a golden board, or a dump)",
			Flags: []cli.Flag{deviceFlag, deviceKind, socFlag, overlay,
				&cli.StringFlag{Name: "from-dump", Usage: "read a pasted dump `FILE` instead of the device"},
				&cli.StringSliceFlag{Name: "fields", Usage: "export only field `NAME` (repeat, or comma-separate)"},
				&cli.StringFlag{Name: "name", Usage: "the manifest's metadata.name (default imported-SOC)"},
				outFlag(outUsage)},
			Before: checkOut, Action: func(c *cli.Context) error { return cmdImport(c, e) }},
		{Name: "fusemap", Usage: "the SoC fuse maps otpprov knows",
			Subcommands: []*cli.Command{
				{Name: "list", Usage: "list the SoCs", Flags: []cli.Flag{jsonFlag},
					OnUsageError: usage,
					Action:       func(c *cli.Context) error { return cmdFusemapList(c, e) }},
				{Name: "show", Usage: "print a SoC's fields, or one field", ArgsUsage: "SOC [FIELD]",
					Flags:        []cli.Flag{jsonFlag, overlay},
					OnUsageError: usage,
					Action:       func(c *cli.Context) error { return cmdFusemapShow(c, e) }}}},
		{Name: "dump", Usage: "print the device as 'od -A x -t x4 -v' does",
			Flags:  []cli.Flag{deviceFlag, deviceKind, socFlag, outFlag(outUsage)},
			Before: checkOut, Action: func(c *cli.Context) error { return cmdDump(c, e) }},
		{Name: "read", Usage: "print one word as 0x%08x", ArgsUsage: "BANK WORD",
			Flags:  []cli.Flag{deviceFlag, deviceKind, socFlag},
			Action: func(c *cli.Context) error { return cmdRead(c, e) }},
		{Name: "write", Usage: "burn one word, through the same plan, approval and verify as apply", ArgsUsage: "BANK WORD VALUE",
			Flags: []cli.Flag{deviceFlag, deviceKind, socFlag, autoApprove, confirm, jsonFlag, noColor, journalFlag, ledgerFlag, allowedSignersFlag,
				&cli.StringFlag{Name: "mask", Value: "0xffffffff", Usage: "bits of VALUE that matter"}},
			Action: func(c *cli.Context) error { return cmdWrite(ctx, c, e) }},
		{Name: "schema", Usage: "print a JSON Schema: manifest (default) or fusemap", ArgsUsage: "[manifest|fusemap]",
			Flags: []cli.Flag{outFlag(outUsage)}, Before: checkOut, Action: func(c *cli.Context) error { return cmdSchema(c, e) }},
		{Name: "sim", Usage: "the OTP emulator",
			Subcommands: []*cli.Command{{Name: "init", Usage: "create an emulated board in DIR", ArgsUsage: "DIR",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "soc", Required: true, Usage: "SoC: " + strings.Join(fusemap.Names(), ", ")},
					&cli.StringFlag{Name: "from-dump", Usage: "start from a pasted dump `FILE` (od -A x -t x4, or the 00000000: form)"},
					&cli.StringFlag{Name: "unique-id", Usage: "the board's UNIQUE_ID `VALUE` (default: random for a blank board, the dump's otherwise)"}},
				OnUsageError: usage,
				Action:       func(c *cli.Context) error { return cmdSimInit(c, e) }}}},
		{Name: "version", Usage: "print the version",
			Action: func(c *cli.Context) error { fmt.Fprintf(e.stdout, "otpprov %s\n", toolVersion()); return nil }},
		{Name: "completion", Usage: "print a shell completion script: " + strings.Join(completionShells, ", "), ArgsUsage: "SHELL",
			Description: completionInstall, Flags: []cli.Flag{outFlag(outUsage)}, Before: checkOut,
			Action: func(c *cli.Context) error { return cmdCompletion(ctx, c, e) }},
		// Hidden: the page is for make man to install, not a command to use.
		{Name: "man", Usage: "print the man page (roff)", Hidden: true,
			Flags: []cli.Flag{outFlag(outUsage)}, Before: checkOut,
			Action: func(c *cli.Context) error { return cmdMan(ctx, c, e) }},
	}
	for _, c := range cmds {
		c.OnUsageError = usage
		hideHelpCommand(c)
	}
	return &cli.App{
		Name:      "otpprov",
		Usage:     "declarative eFuse (OTP) provisioning for NXP i.MX",
		Writer:    e.stdout,
		ErrWriter: e.stderr,
		Commands:  cmds,
		// Values are split by us where a list makes sense
		// (--confirm-security A,B); a path or a --var value may hold commas.
		DisableSliceFlagSeparator: true,
		// run reports errors and exits itself: urfave must not call os.Exit.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usage,
		CommandNotFound: func(c *cli.Context, name string) {
			if notFound != nil {
				*notFound = usageError{fmt.Sprintf("unknown command %s", yamldoc.Quote(name))}
			}
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageError{fmt.Sprintf("unknown command %s", yamldoc.Quote(c.Args().First()))}
			}
			cli.ShowAppHelp(c)
			return &exit{code: exitError}
		},
	}
}

// args checks the positional arguments' count.
func args(c *cli.Context, names ...string) ([]string, error) {
	switch n := c.Args().Len(); {
	case n == len(names):
		return c.Args().Slice(), nil
	case len(names) == 0:
		return nil, usageError{fmt.Sprintf("%s takes no arguments, got %d", c.Command.Name, n)}
	default:
		return nil, usageError{fmt.Sprintf("%s takes %s, got %d argument(s)", c.Command.Name, strings.Join(names, " "), n)}
	}
}

func style(c *cli.Context, e env) view.Style {
	// TERM=dumb is a terminal that shows escape sequences as text (an
	// editor's shell, a serial console logger).
	return view.Style{Color: e.stdoutTTY && e.getenv("NO_COLOR") == "" && e.getenv("TERM") != "dumb" && !c.Bool("no-color")}
}

func source(m *manifest.Manifest, rel *planner.Release) planner.Source {
	return planner.Source{Name: m.Name, File: m.File, Digest: m.Digest, Release: rel}
}

// planned is a plan and the board it was made against.
type planned struct {
	*planner.Plan
	// where names the device and how its SoC is known, for the header.
	where string
	// apply is how 'otpprov apply' names this board (--device, and
	// --device-kind and --soc where it needed them); nil for a plan made
	// without a device.
	apply []string
}

// planManifest loads the one MANIFEST argument and plans it against the
// device, read once, without locking: plan and verify only read.
func planManifest(c *cli.Context, e env) (planned, error) {
	a, err := args(c, "MANIFEST")
	if err != nil {
		return planned{}, err
	}
	var m *manifest.Manifest
	var b []byte
	var given map[string]manifest.VarValue // the operator's values, read once
	ledgered := c.String("ledger") != ""
	if ledgered {
		if c.Bool("assume-blank") {
			return planned{}, usageError{"--ledger allocates by the board's UNIQUE_ID, and --assume-blank plans for no board: plan against the board, or its dump (--state)"}
		}
		if b, err = inputfile.Read(a[0], manifest.MaxSize); err == nil {
			m, given, err = parseForLedger(c, e, a[0], b)
		}
	} else {
		m, err = loadManifest(c, e, a[0])
	}
	if err != nil {
		return planned{}, err
	}
	if err := outClashManifest(c, m); err != nil {
		return planned{}, err
	}
	// Before the device is opened: a file no release covers reads nothing.
	rel, err := checkRelease(c, m)
	if err != nil {
		return planned{}, err
	}
	// With --ledger, the pool variables' values for this board; plan hands
	// out a block (a saved plan or a script carries its values), verify
	// only looks.
	throughLedger := func(state []uint32) error {
		if !ledgered {
			return nil
		}
		allocate := c.Command.Name != "verify"
		full, use, err := valuesFromLedger(c.Context, c, e, a[0], b, m, given, state, allocate, nil)
		if err != nil {
			return err
		}
		defer use.close()
		if allocate {
			// A plan may be saved and applied where there is no ledger:
			// the words its values go to let the import of that board's
			// journal tell which of them reached a fuse.
			if err := use.l.Footprint(c.Context, use.unit, full); err != nil {
				return err
			}
		}
		m = full
		return nil
	}
	if where, state, err := offlineState(c, e, m); where != "" || err != nil {
		if err == nil {
			err = throughLedger(state)
		}
		if err != nil {
			return planned{}, err
		}
		p, err := planner.Make(source(m, rel), m.Map, state, m.Targets)
		return planned{Plan: p, where: where}, err
	}
	dev, chip, state, err := readBoard(c, nvmem.ReadOnly, manifestClaim(m))
	if err != nil {
		return planned{}, err
	}
	defer dev.Close()
	if err := throughLedger(state); err != nil {
		return planned{}, err
	}
	p, err := planner.Make(source(m, rel), m.Map, state, m.Targets)
	return planned{Plan: p, where: where(dev, chip), apply: boardArgs(c, dev, chip)}, err
}

func cmdPlan(c *cli.Context, e env) error {
	format := c.String("format")
	if c.Bool("json") {
		if c.IsSet("format") && format != "json" {
			return usageError{fmt.Sprintf("--json and --format %s ask for two outputs: choose one", format)}
		}
		format = "json"
	}
	var script export.Format
	if format != "text" && format != "json" {
		f, err := export.ParseFormat(format)
		if err != nil {
			return usageError{fmt.Sprintf("--format %s: text, json, uboot, uuu or sh", format)}
		}
		script = f
	}
	if c.Bool("assume-blank") && c.String("out") != "" && script == "" {
		return usageError{"--out saves a plan for one board's exact state; with --assume-blank no real board matches it " +
			"(a script, --format uboot, uuu or sh, can be written to a file)"}
	}
	pl, err := planManifest(c, e)
	if err != nil {
		return err
	}
	p := pl.Plan
	if script != "" {
		return exportPlan(c, e, p, script)
	}
	// Before the plan is shown: the operator asked for a file, and this
	// one will not be written.
	bound, binding := p.Binding()
	if c.String("out") != "" && !bound && !c.Bool("allow-unbound") {
		return &exit{code: exitError, err: fmt.Errorf("a saved plan of this board would be bound to %s; nothing was saved", binding),
			hint: "apply the manifest on the board itself, or save it anyway with --allow-unbound"}
	}
	if err := showPlan(c, e, p, pl.where); err != nil {
		return err
	}
	if p.Rejected() {
		return rejection(p)
	}
	if out := c.String("out"); out != "" {
		if p.HasSecrets() {
			return &exit{code: exitError, err: errors.New("this plan holds secret values, which are never saved to disk; nothing was saved"),
				hint: "apply the manifest itself, with its variables"}
		}
		// A saved plan applies without a prompt: one not shown whole is
		// not saved.
		if err := e.Flush(); err != nil {
			return fmt.Errorf("%w; the plan was not shown whole, so it was not saved", err)
		}
		b, err := planner.Encode(p, toolVersion())
		if err != nil {
			return err
		}
		if err := saveFile(out, b); err != nil {
			return err
		}
		if pl.apply != nil {
			fmt.Fprintf(e.stderr, "otpprov: saved the plan to %s; apply it with: otpprov apply %s\n", out, shquote.Join(append(pl.apply, out)...))
		} else {
			fmt.Fprintf(e.stderr, "otpprov: saved the plan, made from %s, to %s; apply it on that board with: otpprov apply %s\n", pl.where, out, shquote.Arg(out))
		}
		if !bound {
			fmt.Fprintf(e.stderr, "otpprov: warning: the saved plan is bound to %s\n", binding)
		}
	}
	if c.Bool("detailed-exitcode") && p.Summary().Program > 0 {
		return &exit{code: exitChanges}
	}
	return nil
}

func showPlan(c *cli.Context, e env, p *planner.Plan, device string) error {
	if c.Bool("json") || c.String("format") == "json" {
		b, err := planner.Encode(p, toolVersion())
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(b)
		return err
	}
	style(c, e).Plan(e.stdout, p, device)
	return nil
}

// offlineState is the state to plan against without a device: a pasted
// dump (--state) or a blank board (--assume-blank). where says which; ""
// means plan against the device.
func offlineState(c *cli.Context, e env, m *manifest.Manifest) (string, []uint32, error) {
	dump, blank := c.String("state"), c.Bool("assume-blank")
	if dump != "" || blank {
		// --device given on the command line names a board the plan would
		// silently not be made against; for a sh script it is the nvmem
		// path the script writes, and a sim is no path.
		if d := c.String("device"); c.IsSet("device") && d != e.getenv("OTPPROV_DEVICE") &&
			(c.String("format") != string(export.Shell) || strings.HasPrefix(d, "sim:")) {
			return "", nil, usageError{fmt.Sprintf("--device %s names a board, but --state and --assume-blank plan without one "+
				"(with --format sh, --device is the nvmem path the script writes)", yamldoc.Quote(d))}
		}
		// No board to ask: the manifest says which SoC the plan is for,
		// and --soc, if given, must say the same.
		op, err := operatorClaim(c)
		if err != nil {
			return "", nil, err
		}
		if _, err := (nvmem.Chip{}).Resolve("the plan", manifestClaim(m), op); op.SoC != "" && err != nil {
			return "", nil, err
		}
	}
	switch {
	case dump != "" && blank:
		return "", nil, usageError{"--state and --assume-blank are two different boards: give one"}
	case blank:
		return "a blank " + m.SoC.Name + " (--assume-blank)", make([]uint32, m.SoC.Words), nil
	case dump == "":
		return "", nil, nil
	}
	f, err := inputfile.Open(dump)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	img, err := nvmem.ParseDump(f, dump, m.SoC.Bytes())
	if err != nil {
		return "", nil, err
	}
	state := nvmem.Words(img.Bytes)
	for _, k := range img.Protected {
		state[k] = nvmem.ReadProtected
	}
	return dump + " (--state)", state, nil
}

// exportPlan writes the plan as a script to burn offline. The safety
// rules are the plan's: a rejected plan is no script, and a script that
// burns security fuses needs the same acknowledgement as apply.
func exportPlan(c *cli.Context, e env, p *planner.Plan, f export.Format) error {
	if p.Rejected() {
		return rejection(p)
	}
	if err := confirmed(c, p); err != nil {
		return err
	}
	device := export.DefaultDevice
	if d := c.String("device"); c.IsSet("device") && !strings.HasPrefix(d, "sim:") {
		device = d // the sh script's default NVMEM; the emulator is not a path
	}
	opts := export.Options{ToolVersion: toolVersion(), Device: device, AssumeBlank: c.Bool("assume-blank")}
	out := c.String("out")
	if out == "" {
		return export.Write(e.stdout, f, p, opts) // one write of the whole script
	}
	var b bytes.Buffer
	if err := export.Write(&b, f, p, opts); err != nil {
		return err
	}
	if err := saveFile(out, b.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "otpprov: wrote the %s script to %s\n", f, out)
	return nil
}

// rejection lists every word that makes a plan impossible.
func rejection(p *planner.Plan) error {
	var lines []string
	for _, ch := range p.Changes {
		where := fmt.Sprintf("bank %d word %d (offset 0x%03x)", ch.Bank, ch.Word, ch.Offset())
		switch ch.Action {
		case planner.Conflict:
			lines = append(lines, fmt.Sprintf("%s: %s are burned (device %s) but the manifest wants them 0; fuses cannot be cleared",
				where, ch.BitList(ch.Conflict), ch.Hex(ch.Before)))
		case planner.Unreadable:
			lines = append(lines, where+": read-protected (reads 0xbadabada), so its bits cannot be checked")
		case planner.Refused:
			lines = append(lines, where+": refused: "+ch.Reason)
		}
	}
	for _, fc := range p.Fields() {
		if text := fc.Never(); text != "" {
			lines = append(lines, text)
		}
	}
	return &exit{code: exitError, err: fmt.Errorf("plan rejected, nothing will be written:\n%s", strings.Join(lines, "\n"))}
}

func cmdApply(ctx context.Context, c *cli.Context, e env) (err error) {
	a, err := args(c, "MANIFEST|PLANFILE")
	if err != nil {
		return err
	}
	st, err := openJournal(ctx, c, e, "apply")
	if err != nil {
		return err
	}
	defer func() { err = st.finish(ctx, e, err) }()
	if err := st.openLedger(ctx, c); err != nil {
		return err
	}
	b, err := inputfile.Read(a[0], max(planner.MaxPlanFile, manifest.MaxSize))
	if err != nil {
		return err
	}
	var saved *planner.Plan
	var m *manifest.Manifest
	var given map[string]manifest.VarValue // the operator's values, read once
	if isPlanFile(b) {
		if saved, err = planner.Decode(b, maps(c)); err != nil {
			return fmt.Errorf("%s: %w", a[0], err)
		}
		if len(c.StringSlice("var")) > 0 || len(c.StringSlice("var-file")) > 0 {
			return usageError{"--var and --var-file are for manifests: a saved plan holds its values already"}
		}
		if err := savedUnderPolicy(c, a[0], saved); err != nil {
			return err
		}
	} else if c.String("ledger") != "" {
		// The pool variables' values come from the ledger once the board
		// is read: its UNIQUE_ID keys them.
		if m, given, err = parseForLedger(c, e, a[0], b); err != nil {
			return err
		}
		st.manifest(m)
	} else {
		vars, err := varValues(c, e)
		if err != nil {
			return err
		}
		if m, err = manifest.ParseOpts(a[0], b, manifest.Options{Maps: maps(c), Vars: vars}); err != nil {
			return err
		}
		st.manifest(m)
	}
	// Before the device is opened: a file no release covers burns nothing.
	var rel *planner.Release
	if m != nil {
		if rel, err = checkRelease(c, m); err != nil {
			return err
		}
	}
	// The board must be the SoC the manifest or saved plan is for: every
	// per-bit rule (locks, security, closing) comes from that SoC's map.
	// Lock first, then read: the state planned is the state burned into.
	claim := manifestClaim(m)
	if saved != nil {
		claim = nvmem.Claim{SoC: saved.SoC.Name, By: "the saved plan " + a[0]}
	}
	dev, chip, state, err := readBoard(c, nvmem.ReadWrite, claim)
	st.chip(chip)
	if err != nil {
		return err
	}
	defer dev.Close()
	var use *ledgerUse
	if m != nil && c.String("ledger") != "" {
		// Allocated and committed here, before the first burn.
		if m, use, err = valuesFromLedger(ctx, c, e, a[0], b, m, given, state, true, st.records()); err != nil {
			return err
		}
		defer use.close()
	}
	var p *planner.Plan
	if saved != nil {
		p, err = planner.Recheck(saved, state)
	} else {
		p, err = planner.Make(source(m, rel), m.Map, state, m.Targets)
	}
	if err != nil {
		return err
	}
	st.plan(p)
	// A saved plan was reviewed when it was made, as with Terraform: it is
	// its own approval. A manifest is planned and shown here, and asked.
	err = applyPlan(ctx, c, e, dev, where(dev, chip), p, saved == nil, st, use)
	// An apply that stopped before its report (a write error, nothing
	// to burn, a refusal) marks here what the board holds: a board
	// applied again after a kill holds bits of its reserved blocks.
	use.burned(ctx, dev)
	return err
}

// isPlanFile tells a saved plan from a manifest by its format field. The
// object is read key by key up to that field, so that a plan cut short or
// damaged after it is still known as a plan, and refused as a damaged
// plan rather than parsed as a manifest ("invalid YAML").
func isPlanFile(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		if key == "format" {
			v, err := dec.Token()
			return err == nil && v == planner.FormatName
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return false
		}
	}
	return false
}

// applyPlan shows the plan, asks when ask is set, burns and reports.
//
// lu is the ledger the manifest's values came from (nil without one): the
// blocks the board now holds are marked burned before the report.
func applyPlan(ctx context.Context, c *cli.Context, e env, dev *nvmem.Device, device string, p *planner.Plan, ask bool, st *station, lu *ledgerUse) error {
	asJSON := c.Bool("json")
	if !asJSON {
		style(c, e).Plan(e.stdout, p, device)
	}
	if p.Rejected() {
		return rejection(p)
	}
	n := p.Summary()
	if n.Program == 0 {
		if asJSON {
			return writeApplyJSON(e, p, applier.NothingToDo(p), exitOK)
		}
		return nil
	}
	// A plan that did not reach its reader whole was not shown: nothing
	// burns. (After the first burn a lost output no longer stops it.)
	if err := e.Flush(); err != nil {
		return &exit{code: exitError, err: fmt.Errorf("%w; the plan was not shown whole, so nothing burns: nothing was written", err), hint: outputHint}
	}
	if err := confirmed(c, p); err != nil {
		return err
	}
	if ask && !c.Bool("auto-approve") {
		if err := approve(ctx, e, dev.Spec, n, len(p.Writes())); err != nil {
			return err
		}
	}
	// The intent goes to the journal before the first burn: from here on
	// the device may change, and a station killed now leaves a trace.
	if err := st.intend(ctx); err != nil {
		return err
	}
	_ = e.Flush() // the plan on the screen while the controller works; a failure now is reported at the end
	res, err := applier.Apply(ctx, dev, p)
	if err != nil {
		return err
	}
	st.result(res)
	code := exitOK
	switch {
	case res.OK():
	case res.Changed():
		code = exitPartial
	default:
		code = exitError
	}
	// From here the device may have changed: the code is the device's,
	// and the journal records it, and the ledger the blocks now on the
	// board, before the report goes out.
	done := st.burned(ctx, code, lu, dev)
	if asJSON {
		if err := writeApplyJSON(e, p, res, code); err != nil {
			return &exit{code: exitCode(done), device: true, err: errors.Join(unwrapExit(done), err)}
		}
	} else {
		fmt.Fprintln(e.stdout)
		style(c, e).Apply(e.stdout, res)
	}
	return done
}

// writeApplyJSON writes the apply document. A failed write is settle's
// to report: after a burn it keeps the device's code.
func writeApplyJSON(e env, p *planner.Plan, res *applier.Result, code int) error {
	b, err := applier.Encode(p, res, code, toolVersion())
	if err != nil {
		return err
	}
	e.stdout.Write(b)
	return nil
}

// approve asks the operator. Only the literal "yes" proceeds; without a
// terminal to ask on, it refuses rather than wait or guess.
func approve(ctx context.Context, e env, device string, n planner.Summary, burns int) error {
	if !e.stdinTTY {
		return fmt.Errorf("%w: standard input is not a terminal, so nobody can answer", errNoApproval)
	}
	what := view.Plural(n.Program, "word", "words")
	if burns != n.Program {
		what += " in " + view.Plural(burns, "burn", "burns")
	}
	fmt.Fprintf(e.stderr, "\nBurn %s, %s, into %s?\nFuses cannot be cleared. Only 'yes' will be accepted.\n  Enter a value: ",
		what, view.Plural(n.Bits, "bit", "bits"), device)
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		answer <- strings.TrimSpace(line)
	}()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w: interrupted; nothing was written", errNoApproval)
	case a := <-answer:
		if a != "yes" {
			return fmt.Errorf("%w: apply cancelled (answer was %s); nothing was written", errNoApproval, yamldoc.Quote(a))
		}
	}
	return nil
}

func cmdVerify(c *cli.Context, e env) error {
	pl, err := planManifest(c, e)
	if err != nil {
		return err
	}
	p := pl.Plan
	n := p.Summary()
	if c.Bool("json") {
		if err := showPlan(c, e, p, pl.where); err != nil {
			return err
		}
	} else {
		style(c, e).Verify(e.stdout, p)
	}
	switch {
	case n.Unreadable > 0:
		return &exit{code: exitError, err: fmt.Errorf("cannot verify %s: %d word(s) are read-protected", p.Source.Name, n.Unreadable)}
	case n.Conflict > 0 || n.Program > 0 || n.Refused > 0:
		return &exit{code: exitChanges}
	}
	return nil
}

func cmdValidate(c *cli.Context, e env) error {
	if c.Args().Len() == 0 {
		return usageError{"validate takes MANIFEST..."}
	}
	// The values given are checked; the ones not given are left out, since
	// no unit is at hand. They are read once: a problem with them is not
	// any one manifest's.
	vars, err := varValues(c, e)
	if err != nil {
		return err
	}
	var all manifest.Diagnostics
	for _, path := range c.Args().Slice() {
		m, err := manifest.LoadOpts(path, manifest.Options{Maps: maps(c), Vars: vars, Check: true})
		var diags manifest.Diagnostics
		var fe *inputfile.Error
		switch {
		case errors.As(err, &diags):
			all = append(all, diags...)
		case errors.As(err, &fe):
			all = append(all, manifest.Diagnostic{Pos: manifest.Pos{File: fe.Path}, Message: fe.Err.Error()})
		case err != nil:
			all = append(all, manifest.Diagnostic{Pos: manifest.Pos{File: path}, Message: err.Error()})
		default:
			line := fmt.Sprintf("%s: valid: %s, soc %s, %d entries for %d words", path, m.Name, m.SoC.Name, len(m.Fuses), len(m.Targets))
			if len(m.Unresolved) > 0 {
				line += fmt.Sprintf(" (per-unit values not given, not checked: %s)", strings.Join(m.Unresolved, ", "))
			}
			fmt.Fprintln(e.stdout, line)
		}
	}
	if len(all) > 0 {
		return all
	}
	return nil
}

func cmdDump(c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	op, err := operatorClaim(c)
	if err != nil {
		return err
	}
	dev, err := openDevice(c, nvmem.ReadOnly)
	if err != nil {
		return err
	}
	defer dev.Close()
	// dump prints the bytes whatever the SoC: a device that cannot say
	// which it is needs no --soc here, and one whose word is in doubt (a
	// node otpprov does not know, a node and soc_id that disagree) is
	// still dumped, with a warning, for the person finding out why. A
	// --soc that contradicts the board is still an error.
	var chip nvmem.Chip
	if doubt := dev.Chip().Err(); doubt != nil {
		fmt.Fprintf(e.stderr, "otpprov: warning: %v; dumping the bytes all the same\n", doubt)
	} else if chip, err = dev.Chip().Resolve(dev.Spec, op); err != nil && !errors.Is(err, nvmem.ErrSoCUnknown) {
		return err
	}
	b, err := dev.ReadAll()
	if err != nil {
		return err
	}
	// The identity goes to stderr: stdout stays byte-identical to od.
	if m, err := fusemap.Load(chip.SoC); err == nil && len(b) == m.Bytes() {
		if id := planner.UniqueID(m, nvmem.Words(b)); id != "" {
			fmt.Fprintf(e.stderr, "otpprov: %s %s UNIQUE_ID %s\n", dev.Spec, m.Name, id)
		}
	}
	var od bytes.Buffer
	if err := nvmem.FormatOD(&od, b); err != nil {
		return err
	}
	return deliver(c, e, od.Bytes())
}

// hideHelpCommand drops urfave's implicit "help" (alias "h") subcommand
// from commands that take arguments: without this, 'otpprov verify h'
// (a manifest named h) printed the help and exited 0, a pass on a line.
// Groups (sim, fusemap, journal) keep it: they take no file arguments.
func hideHelpCommand(c *cli.Command) {
	if len(c.Subcommands) == 0 {
		c.HideHelpCommand = true
	}
	for _, sub := range c.Subcommands {
		hideHelpCommand(sub)
	}
}

// parseNumber accepts what a manifest accepts: decimal, 0x hex, 0b binary.
func parseNumber(s string) (uint64, error) {
	v, ok := manifest.ParseNumber(s)
	if !ok {
		return 0, fmt.Errorf("%s is not a number: write decimal without leading zeros (15) or hex (0x0f)", yamldoc.Quote(s))
	}
	return v, nil
}

func cmdRead(c *cli.Context, e env) error {
	a, err := args(c, "BANK", "WORD")
	if err != nil {
		return err
	}
	dev, soc, _, bank, word, err := openWord(c, nvmem.ReadOnly, a[0], a[1])
	if err != nil {
		return err
	}
	defer dev.Close()
	state, err := readState(dev)
	if err != nil {
		return err
	}
	if len(state) != soc.Words {
		return fmt.Errorf("%w: the device has %d words but %s has %d", planner.ErrGeometry, len(state), soc.Name, soc.Words)
	}
	if !soc.Readable(bank, word) {
		return fmt.Errorf("bank %d word %d cannot be read through nvmem on %s", bank, word, soc.Name)
	}
	v := state[soc.ReadIndex(bank, word)]
	fmt.Fprintf(e.stdout, "0x%08x\n", v)
	if v == nvmem.ReadProtected {
		fmt.Fprintf(e.stderr, "otpprov: note: bank %d word %d is read-protected: 0xbadabada is the driver's placeholder, not the fuse value\n", bank, word)
	}
	return nil
}

func cmdWrite(ctx context.Context, c *cli.Context, e env) (err error) {
	a, err := args(c, "BANK", "WORD", "VALUE")
	if err != nil {
		return err
	}
	ledgered := c.String("ledger") != ""
	if ledgered && c.String("journal") == "" {
		return usageError{"write --ledger copies the attempt's journal records into the ledger: give --journal FILE too"}
	}
	st, err := openJournal(ctx, c, e, "write")
	if err != nil {
		return err
	}
	defer func() { err = st.finish(ctx, e, err) }()
	if err := writeUnderPolicy(c); err != nil {
		return err
	}
	if ledgered {
		// The word may hold a board's reserved value: once the outcome
		// is copied, its records mark it burned, as an import would.
		st.judge = true
		if err := st.openLedger(ctx, c); err != nil {
			return err
		}
	}
	value, err1 := parseNumber(a[2])
	mask, err2 := parseNumber(c.String("mask"))
	if err := errors.Join(err1, err2); err != nil {
		return usageError{err.Error()}
	}
	switch {
	case value > 0xffffffff || mask > 0xffffffff:
		return usageError{"VALUE and --mask are 32-bit words"}
	case mask == 0:
		return usageError{"--mask 0 selects no bits"}
	case value&^mask != 0:
		// Not the value itself: the word may be a secret field's.
		return usageError{fmt.Sprintf("VALUE has bits outside --mask 0x%08x", mask)}
	}
	// Lock first, then read: the state planned is the state burned into.
	dev, soc, chip, bank, word, err := openWord(c, nvmem.ReadWrite, a[0], a[1])
	st.chip(chip)
	if err != nil {
		return err
	}
	defer dev.Close()
	if !soc.Writable(soc.WriteIndex(bank, word)) {
		return fmt.Errorf("bank %d word %d cannot be programmed through nvmem: %s", bank, word, soc.WriteHazard)
	}
	if !soc.Readable(bank, word) {
		return fmt.Errorf("bank %d word %d cannot be read through nvmem on %s, so a write could not be verified", bank, word, soc.Name)
	}
	target := manifest.NewTarget(soc.SoC, bank, word, uint32(value), uint32(mask))
	target.Names = []string{"write"}
	state, err := readState(dev)
	if err != nil {
		return err
	}
	src := planner.Source{Name: fmt.Sprintf("write-%d-%d", bank, word), File: "command line"}
	p, err := planner.Make(src, soc, state, []manifest.Target{target})
	if err != nil {
		return err
	}
	st.plan(p)
	return applyPlan(ctx, c, e, dev, where(dev, chip), p, true, st, nil)
}

func cmdSimInit(c *cli.Context, e env) error {
	a, err := args(c, "DIR")
	if err != nil {
		return err
	}
	m, err := fusemap.Load(c.String("soc"))
	if err != nil {
		return usageError{err.Error()}
	}
	soc := m.SoC
	var img *nvmem.Image
	if dump := c.String("from-dump"); dump != "" {
		f, err := inputfile.Open(dump)
		if err != nil {
			return err
		}
		defer f.Close()
		if img, err = nvmem.ParseDump(f, dump, soc.Bytes()); err != nil {
			return err
		}
	}
	if err := setUniqueID(m, &img, c.String("unique-id")); err != nil {
		return err
	}
	if err := nvmem.InitSim(a[0], soc, img); err != nil {
		return err
	}
	protected := 0
	if img != nil {
		protected = len(img.Protected)
	}
	abs, _ := filepath.Abs(a[0])
	fmt.Fprintf(e.stdout, "created an emulated %s (%d bytes, %d read-protected words) in %s\nuse it with: --device sim:%s\n",
		soc.Name, soc.Bytes(), protected, abs, a[0])
	return nil
}

// setUniqueID gives an emulated board its identity: every real part has a
// UNIQUE_ID, and saved plans are bound to it, so a blank sim gets a random
// one unless --unique-id names it.
func setUniqueID(m *fusemap.Map, img **nvmem.Image, arg string) error {
	f := m.Identity()
	if f == nil {
		if arg != "" {
			return usageError{fmt.Sprintf("%s has no UNIQUE_ID field", m.Name)}
		}
		return nil
	}
	var id uint64
	switch {
	case arg != "":
		v, err := parseNumber(arg)
		if err != nil {
			return usageError{"--unique-id: " + err.Error()}
		}
		id = v
	case *img != nil:
		return nil // the dump's own
	default:
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		id = binary.LittleEndian.Uint64(b[:])
		if w := f.Width(); w < 64 {
			id &= 1<<w - 1
		}
	}
	parts, err := f.Encode(id)
	if err != nil {
		return usageError{"--unique-id: " + err.Error()}
	}
	if *img == nil {
		*img = &nvmem.Image{Bytes: make([]byte, m.Bytes())}
	}
	for i, p := range f.Parts {
		k := 4 * m.ReadIndex(p.Bank, p.Word)
		w := binary.LittleEndian.Uint32((*img).Bytes[k:])
		binary.LittleEndian.PutUint32((*img).Bytes[k:], w&^p.Mask()|parts[i]<<p.Lsb)
	}
	return nil
}
