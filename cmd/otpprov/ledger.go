package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/ledger"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
	"github.com/otpprov/otpprov/view"
)

// ledgerFlag is --ledger URL: the line's provisioning ledger. Its password,
// if it has one, is never printed nor journaled (ledger.Redact).
var ledgerFlag = &cli.StringFlag{Name: "ledger", EnvVars: []string{"OTPPROV_LEDGER"},
	Usage: "the provisioning ledger's `URL`: sqlite:PATH for one station, or postgres://... for a line"}

func ledgerURL(c *cli.Context) (string, error) {
	u := c.String("ledger")
	if u == "" {
		return "", usageError{"--ledger URL (or OTPPROV_LEDGER) names the ledger: sqlite:PATH, or postgres://..."}
	}
	return u, nil
}

func cmdLedgerInit(ctx context.Context, c *cli.Context, e env) error {
	a, err := args(c, "POOLS")
	if err != nil {
		return err
	}
	u, err := ledgerURL(c)
	if err != nil {
		return err
	}
	ps, err := ledger.LoadPools(a[0])
	if err != nil {
		return err
	}
	l, rep, err := ledger.Init(ctx, u, ps)
	if err != nil {
		return err
	}
	defer l.Close()
	switch {
	case rep.FromVersion == 0:
		fmt.Fprintf(e.stdout, "created the ledger %s (schema version %d)\n", l, ledger.SchemaVersion)
	case rep.FromVersion < ledger.SchemaVersion:
		fmt.Fprintf(e.stdout, "upgraded the ledger %s from schema version %d to %d\n", l, rep.FromVersion, ledger.SchemaVersion)
	}
	for _, p := range rep.Added {
		fmt.Fprintf(e.stdout, "added pool %s\n", p)
	}
	for _, p := range rep.Grown {
		fmt.Fprintf(e.stdout, "grew pool %s\n", p)
	}
	if rep.FromVersion == ledger.SchemaVersion && len(rep.Added)+len(rep.Grown) == 0 {
		fmt.Fprintf(e.stdout, "the ledger %s already holds the pools of %s: nothing changed\n", l, a[0])
	}
	return nil
}

func cmdLedgerStatus(ctx context.Context, c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	u, err := ledgerURL(c)
	if err != nil {
		return err
	}
	l, err := ledger.Open(ctx, u)
	if err != nil {
		return err
	}
	defer l.Close()
	st, err := l.Status(ctx)
	if err != nil {
		return err
	}
	if err := recordGaps(ctx, e, l); err != nil {
		return err
	}
	open, err := openBlocks(ctx, l)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		type pool struct {
			Pool       string       `json:"pool"`
			Size       uint64       `json:"size"`
			Reserved   uint64       `json:"reserved"`
			Burned     uint64       `json:"burned"`
			Released   uint64       `json:"released"`
			Scrapped   uint64       `json:"scrapped"`
			Free       uint64       `json:"free"`
			Low        bool         `json:"low"`
			Stations   stationsJSON `json:"stations"`
			FromLedger string       `json:"fromLedger,omitempty"`
		}
		out := []pool{}
		for _, s := range st {
			out = append(out, pool{s.Pool, s.Size, s.Reserved, s.Burned, s.Released, s.Scrapped, s.Free, s.Free < s.LowWater, stationsOf(s), s.FromBlock})
		}
		// Version 2: values out at stations are in stations, no longer in
		// free, nor in any other count.
		return writeJSON(c, e, map[string]any{"format": "otpprov-ledger-status", "formatVersion": 2, "ledger": l.String(), "pools": out, "blocks": blocksJSON(open)})
	}
	fmt.Fprintf(e.stdout, "Ledger %s\n\n", l)
	t := view.NewTable(e.stdout, "POOL", "SIZE", "BURNED", "RESERVED", "RELEASED", "SCRAPPED", "FREE", "STATIONS")
	var low []string
	for _, s := range st {
		free := fmt.Sprint(s.Free)
		if s.Free < s.LowWater {
			free += " (low)"
			low = append(low, s.LowWarning())
		}
		t.Row(s.Pool, fmt.Sprint(s.Size), fmt.Sprint(s.Burned), fmt.Sprint(s.Reserved), fmt.Sprint(s.Released), fmt.Sprint(s.Scrapped), free, stationsColumn(s))
	}
	t.Flush()
	blocksOut(e, open)
	for _, w := range low {
		fmt.Fprintf(e.stderr, "otpprov: warning: %s\n", w)
	}
	return nil
}

// ledgerCommand is `otpprov ledger ...`.
func ledgerCommand(ctx context.Context, e env, usage cli.OnUsageErrorFunc, jsonFlag, deviceFlag, deviceKind, socFlag, overlay, varFlag, varFile cli.Flag) *cli.Command {
	return &cli.Command{Name: "ledger", Usage: "the provisioning ledger: identity pools, allocations, records",
		Subcommands: append([]*cli.Command{
			{Name: "init", Usage: "create or upgrade the ledger and load the pools of POOLS (idempotent; a pool may grow, never shrink)", ArgsUsage: "POOLS",
				Flags: []cli.Flag{ledgerFlag}, OnUsageError: usage,
				Action: func(c *cli.Context) error { return cmdLedgerInit(ctx, c, e) }},
			{Name: "import", Usage: "load a station's journal into the ledger (verified first; records already there change nothing)", ArgsUsage: "JOURNAL",
				Flags: []cli.Flag{ledgerFlag}, OnUsageError: usage,
				Action: func(c *cli.Context) error { return cmdLedgerImport(ctx, c, e) }},
			{Name: "status", Usage: "per pool: size, burned, reserved, released, scrapped, free, values out at stations; the blocks out; warns when low",
				Flags: []cli.Flag{ledgerFlag, jsonFlag}, OnUsageError: usage,
				Action: func(c *cli.Context) error { return cmdLedgerStatus(ctx, c, e) }},
			{Name: "release", Usage: "give back a board's reserved values, when the board proves it holds none of their bits", ArgsUsage: "MANIFEST",
				Flags: []cli.Flag{ledgerFlag, deviceFlag, deviceKind, socFlag, overlay, varFlag, varFile}, OnUsageError: usage,
				Action: func(c *cli.Context) error { return cmdLedgerRelease(ctx, c, e) }},
			{Name: "scrap", Usage: "mark a board scrapped: its values stay with it, and plan or apply with the ledger refuse it (idempotent)",
				Flags: []cli.Flag{ledgerFlag, &cli.StringFlag{Name: "unique-id", Usage: "the board's UNIQUE_ID, as plan prints it: `ID` is 0x and 16 hex digits"},
					&cli.StringFlag{Name: "reason", Usage: "why, in a `TEXT` kept with the record"}}, OnUsageError: usage,
				Action: func(c *cli.Context) error { return cmdLedgerScrap(ctx, c, e) }},
			{Name: "show", Usage: "what the ledger holds for one board",
				Flags: []cli.Flag{ledgerFlag, jsonFlag, &cli.StringFlag{Name: "unique-id", Usage: "the board's UNIQUE_ID, as plan prints it: `ID` is 0x and 16 hex digits"}}, OnUsageError: usage,
				Action: func(c *cli.Context) error { return cmdLedgerShow(ctx, c, e) }},
			{Name: "find", Usage: "which board holds VALUE (a MAC address or a number)", ArgsUsage: "VALUE",
				Flags: []cli.Flag{ledgerFlag, jsonFlag}, OnUsageError: usage,
				Action: func(c *cli.Context) error { return cmdLedgerFind(ctx, c, e) }},
			{Name: "export", Usage: "every block, for an ERP: csv or json",
				Flags: []cli.Flag{ledgerFlag, &cli.StringFlag{Name: "format", Value: "csv", Usage: "csv or json"},
					&cli.StringFlag{Name: "since", Usage: "only blocks changed at or after `TIME` (2026-12-05, or RFC 3339)"}, outFlag(outUsage)},
				OnUsageError: usage, Before: checkOut,
				Action: func(c *cli.Context) error { return cmdLedgerExport(ctx, c, e) }}}, blockCommands(ctx, e, usage)...)}
}

// ledgerUse is the ledger an apply or plan took values from.
type ledgerUse struct {
	l    *ledger.Ledger
	unit ledger.Unit
	m    *manifest.Manifest // with the ledger's values
	lent bool               // l is the station's (records): it closes it
	// marked: the blocks on the board were marked burned (or that was
	// tried and said), once the device may have changed.
	marked bool
	warn   func(string)
}

func (u *ledgerUse) close() {
	if u != nil && !u.lent {
		u.l.Close()
	}
}

// parseForLedger parses a manifest whose pool variables take their values
// from --ledger: checked here without them (they come once the board is
// read); a value the operator gives for one is refused, so that no
// identity can come from anywhere but the ledger.
//
// vars are the operator's values as read, once: a --var-file may be a
// pipe, which a second read would find empty.
func parseForLedger(c *cli.Context, e env, path string, b []byte) (*manifest.Manifest, map[string]manifest.VarValue, error) {
	vars, err := varValues(c, e)
	if err != nil {
		return nil, nil, err
	}
	m, err := manifest.ParseOpts(path, b, manifest.Options{Maps: maps(c), Vars: vars, Check: true})
	if err != nil {
		return nil, nil, err
	}
	for _, v := range m.Variables {
		if g, given := vars[v.Name]; given && v.Pool != "" {
			return nil, nil, &exit{code: exitError, err: fmt.Errorf("variable %s takes its value from pool %s of the ledger; %s gives it too: an identity comes from the ledger only, nothing was read or written", v.Name, v.Pool, g.From),
				hint: "leave out the value (or leave out --ledger to review a manifest with values of your own)"}
		}
	}
	return m, vars, nil
}

// valuesFromLedger gives the pool variables the board's values from the
// ledger (handing a block out when allocate is set) and parses the
// manifest again with them. lent is a ledger already open (the station's,
// for its records): one connection, not two; nil opens --ledger.
func valuesFromLedger(ctx context.Context, c *cli.Context, e env, path string, b []byte, m0 *manifest.Manifest, given map[string]manifest.VarValue, state []uint32, allocate bool, lent *ledger.Ledger) (*manifest.Manifest, *ledgerUse, error) {
	l := lent
	if l == nil {
		var err error
		if l, err = openLedger(ctx, c); err != nil {
			return nil, nil, err
		}
	}
	closeOwn := func() {
		if lent == nil {
			l.Close()
		}
	}
	host, _ := os.Hostname()
	unit, err := l.Values(ctx, m0, m0.Map, state, planner.UniqueID(m0.Map, state), host, allocate)
	if errors.Is(err, ledger.ErrScrapped) {
		closeOwn()
		return nil, nil, &exit{code: exitError, err: err, hint: "take the board off the line; otpprov ledger show --unique-id ID lists the values it keeps"}
	}
	if err != nil {
		closeOwn()
		return nil, nil, err
	}
	warnLowAllocated(ctx, e, l, unit)
	vars := make(map[string]manifest.VarValue, len(given)+len(unit.Vars))
	for k, v := range given {
		vars[k] = v
	}
	for k, v := range unit.Vars {
		vars[k] = v
	}
	m, err := manifest.ParseOpts(path, b, manifest.Options{Maps: maps(c), Vars: vars})
	if err != nil {
		closeOwn()
		return nil, nil, err
	}
	if policy(c).Release != "" {
		// The release was checked against the first parse's bytes.
		if err := m0.SameInputs(m); err != nil {
			closeOwn()
			return nil, nil, &exit{code: exitError, err: fmt.Errorf("%w: nothing was written", err),
				hint: "keep a release's files unchanged while a station uses them, and run again"}
		}
	}
	warn := func(s string) { fmt.Fprintf(e.stderr, "otpprov: warning: %s\n", s) }
	return m, &ledgerUse{l: l, unit: unit, m: m, lent: lent != nil, warn: warn}, nil
}

// burned records, after an apply, which of the board's blocks now have
// bits on its fuses, from what the device reads back: a failed or partial
// burn counts (fuses only OR). A ledger that cannot be written here leaves
// them reserved, which hands them to nobody else either: said, never
// returned (the exit code is the device's).
func (u *ledgerUse) burned(ctx context.Context, dev *nvmem.Device) {
	if u == nil || u.marked {
		return
	}
	u.marked = true
	state, err := readState(dev)
	if err == nil {
		err = u.l.Burned(ctx, u.unit, u.m, u.m.Map, state)
	}
	if err != nil {
		u.warn(stayReserved(err))
	}
}

// onBoard is the board's blocks any bit of which the device now holds,
// read back, for the station to mark in one transaction with its
// outcome record (station.copyAfterBurn).
func (u *ledgerUse) onBoard(dev *nvmem.Device) ([]ledger.Block, error) {
	u.marked = true
	state, err := readState(dev)
	if err != nil {
		return nil, fmt.Errorf("reading the device back: %w", err)
	}
	return ledger.OnBoard(u.unit, u.m, u.m.Map, state), nil
}

func stayReserved(err error) string {
	return fmt.Sprintf("the ledger's blocks stay reserved (never handed out again): %v", err)
}

// entriesOut prints entries: a table for people, or the JSON document.
func entriesOut(c *cli.Context, e env, l *ledger.Ledger, es []ledger.Entry) error {
	if c.Bool("json") {
		var b bytes.Buffer
		if err := ledger.WriteJSON(&b, l.String(), es); err != nil {
			return err
		}
		return deliver(c, e, b.Bytes())
	}
	t := view.NewTable(e.stdout, "POOL", "VALUES", "UNIQUE_ID", "STATE", "STATION", "UPDATED")
	for _, x := range es {
		t.Row(x.Pool, strings.Join(x.Values, " "), x.UniqueID, x.State, x.Station, x.UpdatedAt)
	}
	return t.Flush()
}

func openLedger(ctx context.Context, c *cli.Context) (*ledger.Ledger, error) {
	u, err := ledgerURL(c)
	if err != nil {
		return nil, err
	}
	return ledger.Open(ctx, u)
}

func cmdLedgerShow(ctx context.Context, c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	id := c.String("unique-id")
	if id == "" {
		return usageError{"ledger show needs --unique-id ID (as plan prints it: 0x followed by 16 hex digits)"}
	}
	n, idErr := ledger.BoardID(id)
	if idErr == nil {
		id = n // 0x1 is 0x0000000000000001, as scrap takes it
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	defer l.Close()
	es, err := l.Entries(ctx, ledger.Filter{UniqueID: id})
	if err != nil {
		return err
	}
	s, scrapped, err := l.Scrapped(ctx, id)
	if err != nil {
		return err
	}
	if len(es) == 0 && !c.Bool("json") {
		if scrapped {
			fmt.Fprintln(e.stdout, scrapLine(s))
			return nil
		}
		// An ID written otherwise than plan prints it (d211...95 without
		// 0x) holds nothing, though its board may hold values: say how
		// to write it rather than leave "nothing" to be believed.
		hint := "otpprov ledger find VALUE names the board that holds a MAC address or a serial"
		if idErr != nil {
			hint = "write the UNIQUE_ID as plan prints it, 0x and hex digits (0x0123456789abcdef)"
		}
		return &exit{code: exitError, err: fmt.Errorf("the ledger %s holds nothing for the board %s", l, id), hint: hint}
	}
	if err := entriesOut(c, e, l, es); err != nil || !scrapped || c.Bool("json") {
		return err
	}
	fmt.Fprintln(e.stdout, scrapLine(s))
	return nil
}

func scrapLine(s ledger.Scrap) string {
	line := fmt.Sprintf("the board %s was scrapped on %s by %s at station %s", s.UniqueID, s.At, s.By, s.Station)
	if s.Reason != "" {
		line += ": " + s.Reason
	}
	return line
}

// cmdLedgerScrap marks a board scrapped, recording who, when and why.
func cmdLedgerScrap(ctx context.Context, c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	if c.String("unique-id") == "" {
		return usageError{"ledger scrap needs --unique-id ID (as plan prints it: 0x followed by 16 hex digits)"}
	}
	id, err := ledger.BoardID(c.String("unique-id"))
	if err != nil {
		return usageError{err.Error()}
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	defer l.Close()
	host, _ := os.Hostname()
	s, es, again, err := l.ScrapBoard(ctx, id, operator(e), host, c.String("reason"))
	if err != nil {
		return err
	}
	// The same report every time: a scrap run again says what holds.
	fmt.Fprintln(e.stdout, scrapLine(s))
	if again {
		fmt.Fprintf(e.stderr, "otpprov: note: the board %s was scrapped already: nothing changed (the first record stays)\n", id)
	}
	if len(es) == 0 {
		fmt.Fprintf(e.stdout, "the ledger %s holds no value of it; plan and apply with the ledger refuse it from now on\n", l)
		return nil
	}
	for _, x := range es {
		fmt.Fprintf(e.stdout, "%s %s: %s (kept by the board, never handed out again)\n", x.Pool, strings.Join(x.Values, " "), x.State)
	}
	return nil
}

// operator is who runs otpprov, for a record: the login, or "unknown".
func operator(e env) string {
	for _, k := range []string{"SUDO_USER", "USER", "LOGNAME"} {
		if v := e.getenv(k); v != "" {
			return v
		}
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

func cmdLedgerFind(ctx context.Context, c *cli.Context, e env) error {
	a, err := args(c, "VALUE")
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	defer l.Close()
	es, err := l.Find(ctx, a[0])
	if err != nil {
		return err
	}
	if len(es) == 0 && !c.Bool("json") {
		return &exit{code: exitError, err: fmt.Errorf("no board in the ledger %s holds %s%s", l, a[0], outAt(ctx, l, a[0]))}
	}
	return entriesOut(c, e, l, es)
}

func cmdLedgerExport(ctx context.Context, c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	var since time.Time
	if s := c.String("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			if t, err = time.Parse("2006-01-02", s); err != nil {
				return usageError{fmt.Sprintf("--since %s: give a date (2026-12-05) or a time (2026-12-05T08:00:00Z)", s)}
			}
		}
		since = t
	}
	format := c.String("format")
	if format != "csv" && format != "json" {
		return usageError{fmt.Sprintf("--format %s: csv or json", format)}
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	defer l.Close()
	es, err := l.Entries(ctx, ledger.Filter{Since: since})
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if format == "csv" {
		err = ledger.WriteCSV(&b, es)
	} else {
		err = ledger.WriteJSON(&b, l.String(), es)
	}
	if err != nil {
		return err
	}
	return deliver(c, e, b.Bytes())
}

// cmdLedgerRelease gives back a board's reserved values, when the board
// proves it holds none of their bits: a unit scrapped before it was
// burned, a plan never applied.
func cmdLedgerRelease(ctx context.Context, c *cli.Context, e env) error {
	a, err := args(c, "MANIFEST")
	if err != nil {
		return err
	}
	if _, err := ledgerURL(c); err != nil {
		return err
	}
	b, err := inputfile.Read(a[0], manifest.MaxSize)
	if err != nil {
		return err
	}
	m0, given, err := parseForLedger(c, e, a[0], b)
	if err != nil {
		return err
	}
	dev, _, state, err := readBoard(c, nvmem.ReadOnly, manifestClaim(m0))
	if err != nil {
		return err
	}
	defer dev.Close()
	m, use, err := valuesFromLedger(ctx, c, e, a[0], b, m0, given, state, false, nil)
	if errors.Is(err, ledger.ErrNotAllocated) {
		// Nothing to give back: a release is idempotent.
		fmt.Fprintf(e.stdout, "nothing released: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer use.close()
	released, err := use.l.Release(ctx, use.unit, m, m.Map, state)
	for _, r := range released {
		fmt.Fprintf(e.stdout, "released %s block at %d of the board %s: the board holds none of its bits\n", r.Pool, r.Base, r.UniqueID)
	}
	return err
}
