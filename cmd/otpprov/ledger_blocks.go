package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/otpprov/otpprov/ledger"
)

// blockCommands are the offline stations' commands under `otpprov ledger`.
func blockCommands(ctx context.Context, e env, usage cli.OnUsageErrorFunc) []*cli.Command {
	station := func(usage string) *cli.StringFlag { return &cli.StringFlag{Name: "station", Usage: usage} }
	return []*cli.Command{
		{Name: "reserve", Usage: "reserve a block of a pool for an offline station: --count units, written to --out BLOCK for ledger import-block there",
			Flags: []cli.Flag{ledgerFlag, &cli.StringFlag{Name: "pool", Usage: "the `POOL` to reserve from (required)"},
				&cli.Uint64Flag{Name: "count", Usage: "how many units (boards) the block serves: `N`", DefaultText: "none, required"},
				station("the station the block is for: `NAME` (required)"),
				&cli.Uint64Flag{Name: "low-water", Usage: "the station warns below `N` values left", DefaultText: "a tenth of the block, at least one unit"},
				outFlag("write the block to `FILE` (required)")},
			OnUsageError: usage, Before: checkOut,
			Action: func(c *cli.Context) error { return cmdLedgerReserve(ctx, c, e) }},
		{Name: "import-block", Usage: "load a BLOCK into this station's ledger (created if missing): the only source of its pool here", ArgsUsage: "BLOCK",
			Flags:        []cli.Flag{ledgerFlag, station("this station's `NAME` (default: the host name)")},
			OnUsageError: usage,
			Action:       func(c *cli.Context) error { return cmdLedgerImportBlock(ctx, c, e) }},
		{Name: "return-block", Usage: "close a BLOCK on this station and write what it handed out, for ledger return on the line's ledger", ArgsUsage: "BLOCK",
			Flags:        []cli.Flag{ledgerFlag, &cli.StringFlag{Name: "block", Usage: "the block's `ID`, instead of its file BLOCK"}, outFlag(outUsage)},
			OnUsageError: usage, Before: checkOut,
			Action: func(c *cli.Context) error { return cmdLedgerReturnBlock(ctx, c, e) }},
		{Name: "return", Usage: "take a station's RETURN back: its boards' values recorded, the block's unused tail free again", ArgsUsage: "RETURN",
			Flags: []cli.Flag{ledgerFlag}, OnUsageError: usage,
			Action: func(c *cli.Context) error { return cmdLedgerReturn(ctx, c, e) }},
	}
}

func cmdLedgerReserve(ctx context.Context, c *cli.Context, e env) error {
	if _, err := args(c); err != nil {
		return err
	}
	pool, station, out, count := c.String("pool"), c.String("station"), c.String("out"), c.Uint64("count")
	if pool == "" || station == "" || out == "" || count == 0 {
		return usageError{"ledger reserve needs --pool POOL, --count N (units, at least 1), --station NAME and --out BLOCK"}
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	defer l.Close()
	r, err := l.Reserve(ctx, pool, station, count, c.Uint64("low-water"))
	if err != nil {
		return err
	}
	if err := saveFile(out, r.BlockYAML()); err != nil {
		// Committed: its values stay reserved for the station, handed
		// out to nobody, though no station can use them.
		return &exit{code: exitError, err: fmt.Errorf("the block %s is reserved in the ledger %s, but its file was not written: %w", r.ID, l, err),
			hint: "its values stay out of the pool (never handed out twice); reserve another block for the station"}
	}
	fmt.Fprintf(e.stdout, "reserved %d units of pool %s (%d values) for the station %s: %s\n", r.Units, r.Pool, r.Values(), r.Station, out)
	return warnLow(ctx, e, l, []string{pool})
}

func cmdLedgerImportBlock(ctx context.Context, c *cli.Context, e env) error {
	a, err := args(c, "BLOCK")
	if err != nil {
		return err
	}
	u, err := ledgerURL(c)
	if err != nil {
		return err
	}
	r, err := ledger.LoadBlock(a[0])
	if err != nil {
		return err
	}
	station := c.String("station")
	if station == "" {
		station, _ = os.Hostname()
	}
	l, err := ledger.ImportBlock(ctx, u, r, station)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(e.stdout, "imported the block %s into the ledger %s: %d units of pool %s (%d values) for the station %s\n", r.ID, l, r.Units, r.Pool, r.Values(), r.Station)
	return nil
}

func cmdLedgerReturnBlock(ctx context.Context, c *cli.Context, e env) error {
	id := c.String("block")
	switch {
	case c.NArg() == 1 && id == "":
		r, err := ledger.LoadBlock(c.Args().First())
		if err != nil {
			return err
		}
		id = r.ID
	case c.NArg() != 0 || id == "":
		return usageError{"ledger return-block takes the block's file, BLOCK, or its id with --block ID (import-block printed it), not both"}
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	defer l.Close()
	ret, err := l.ReturnBlock(ctx, id)
	if err != nil {
		return err
	}
	if err := deliver(c, e, ret.ReturnYAML()); err != nil {
		return err
	}
	// Written to a file, the return said nothing at all: an operator
	// closing a block must see that it is closed and what comes next.
	if out := c.String("out"); out != "" {
		var used int64
		for _, s := range ret.Spans {
			used += s.Used
		}
		fmt.Fprintf(e.stdout, "closed the block %s of pool %s on this station (%d of %d units used, %d boards): %s; take it back on the line's ledger with otpprov ledger return --ledger URL %s\n",
			ret.ID, ret.Pool, used, ret.Units, len(ret.Entries), out, out)
	}
	return nil
}

func cmdLedgerReturn(ctx context.Context, c *cli.Context, e env) error {
	a, err := args(c, "RETURN")
	if err != nil {
		return err
	}
	ret, err := ledger.LoadReturn(a[0])
	if err != nil {
		return err
	}
	l, err := openLedger(ctx, c)
	if err != nil {
		return err
	}
	defer l.Close()
	rep, err := l.TakeReturn(ctx, ret)
	if err != nil {
		return err
	}
	if rep.Again {
		fmt.Fprintf(e.stdout, "the block %s was returned before: %d boards' values, %d of them moved on (burned or scrapped since)\n", ret.ID, rep.Added+rep.Changed+rep.Same, rep.Changed+rep.Added)
		return nil
	}
	fmt.Fprintf(e.stdout, "took back the block %s from the station %s: %d boards' values recorded, %d values free again\n", ret.ID, ret.Station, rep.Added+rep.Changed+rep.Same, rep.Freed)
	return nil
}

// warnLow warns, on stderr, of the pools below their low water; called
// once per run, and only by runs that took values out of a pool.
func warnLow(ctx context.Context, e env, l *ledger.Ledger, pools []string) error {
	low, err := l.Low(ctx, pools)
	if err != nil {
		return err
	}
	for _, s := range low {
		fmt.Fprintf(e.stderr, "otpprov: warning: %s\n", s.LowWarning())
	}
	return nil
}

// warnLowAllocated is warnLow for the pools an allocation handed a block
// out of: a run that only found the board's blocks asks nothing more.
func warnLowAllocated(ctx context.Context, e env, l *ledger.Ledger, u ledger.Unit) {
	var pools []string
	for _, b := range u.Blocks {
		if b.New {
			pools = append(pools, b.Pool)
		}
	}
	if len(pools) == 0 {
		return
	}
	// A warning that cannot be read is no reason to stop a burn.
	if err := warnLow(ctx, e, l, pools); err != nil {
		fmt.Fprintf(e.stderr, "otpprov: warning: the pools' low water was not checked: %v\n", err)
	}
}

// stationsJSON is a pool's blocks at stations in ledger status --json.
type stationsJSON struct {
	Out      uint64 `json:"out"`      // values in blocks out at stations
	Blocks   int    `json:"blocks"`   // blocks out
	Returned uint64 `json:"returned"` // values stations gave back, free again
}

func stationsOf(s ledger.PoolStatus) stationsJSON {
	return stationsJSON{s.Stations.Out, s.Stations.Blocks, s.Stations.Returned}
}

// stationsColumn is the STATIONS column of ledger status: values out at
// stations, and in how many blocks.
func stationsColumn(s ledger.PoolStatus) string {
	if s.Stations.Blocks == 0 {
		return "0"
	}
	return strconv.FormatUint(s.Stations.Out, 10) + " (" + strconv.Itoa(s.Stations.Blocks) + " blocks)"
}

// openBlocks are the blocks a ledger lent that are not back, and those a
// station holds and has not returned.
func openBlocks(ctx context.Context, l *ledger.Ledger) ([]ledger.Reservation, error) {
	all, err := l.Reservations(ctx)
	if err != nil {
		return nil, err
	}
	var out []ledger.Reservation
	for _, r := range all {
		if r.ReturnedAt == "" {
			out = append(out, r)
		}
	}
	return out, nil
}

// blockJSON is a block in ledger status --json.
type blockJSON struct {
	ID         string `json:"id"`
	Role       string `json:"role"` // lent: out at a station; held: this station's
	Ledger     string `json:"ledger"`
	Pool       string `json:"pool"`
	Station    string `json:"station"`
	Units      uint64 `json:"units"`
	Values     uint64 `json:"values"`
	ReservedAt string `json:"reservedAt"`
}

func blocksJSON(rs []ledger.Reservation) []blockJSON {
	out := []blockJSON{}
	for _, r := range rs {
		out = append(out, blockJSON{r.ID, r.Role, r.Ledger, r.Pool, r.Station, r.Units, r.Values(), r.ReservedAt})
	}
	return out
}

// blocksOut lists the open blocks under the status table.
func blocksOut(e env, rs []ledger.Reservation) {
	if len(rs) > 0 {
		fmt.Fprintln(e.stdout)
	}
	for _, r := range rs {
		if r.Role == ledger.Lent {
			fmt.Fprintf(e.stdout, "block %s: %d units of pool %s out at the station %s since %s\n", r.ID, r.Units, r.Pool, r.Station, r.ReservedAt)
		} else {
			fmt.Fprintf(e.stdout, "block %s: %d units of pool %s from the ledger %s, held here (return it with ledger return-block)\n", r.ID, r.Units, r.Pool, r.Ledger)
		}
	}
}

// outAt says, for ledger find, which blocks out at stations hold a value
// no board holds here: it may be a board's at that station.
func outAt(ctx context.Context, l *ledger.Ledger, value string) string {
	rs, err := l.OutAt(ctx, value)
	if err != nil || len(rs) == 0 {
		return ""
	}
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "; it is in the block %s of pool %s, out at the station %s since %s (ledger return brings its boards)", r.ID, r.Pool, r.Station, r.ReservedAt)
	}
	return b.String()
}
