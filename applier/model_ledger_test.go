package applier

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/ledgercheck"
	"github.com/otpprov/otpprov/internal/pgtest"
	"github.com/otpprov/otpprov/ledger"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// TestModelLedger is the model test of a line: random sequences of plan
// and apply over several boards of one SKU whose MACs and serial come
// from the ledger's pools (an SQLite ledger, and a few cases on a
// PostgreSQL one; each step a station opening it afresh), with the emulator's faults injected into the burns and
// stations killed at random moments (after the allocation, mid-burn,
// before the mark). After every step, what the ledger promises is
// checked against its tables (internal/ledgercheck, not the ledger's
// code) and the boards' fuses:
//
//  1. every bit a board holds in the words of a pool variable belongs to
//     the value of that board's own block in the ledger, reserved or
//     burned, and the block is burned once an apply of the board got as
//     far as marking (a station killed before it leaves it reserved,
//     which hands it to no other board either);
//  2. no value is live for two boards, and a board keeps its block from
//     its first allocation on;
//  3. below each range's cursor no value was skipped.
//
// Boards may arrive with a serial already burned elsewhere: adopted as
// theirs when the ledger does not know it, refused as a duplicate
// (nothing burned) when it is another board's.
//
// Cases are seeded by -model.seed and the case number, as TestModel's:
// `make test` runs -model.ledger cases (a few) on SQLite, and
// -model.ledger.postgres of them on PostgreSQL; more with the flags.
var (
	modelLedgerCases = flag.Int("model.ledger", 16, "model test: how many ledger cases (TestModelLedger) to run on SQLite")
	modelLedgerPG    = flag.Int("model.ledger.postgres", 3, "model test: how many of them to run on PostgreSQL too")
)

func TestModelLedger(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		modelLedger(t, *modelLedgerCases, func(c *ledgerCase) string { return "sqlite:" + filepath.Join(c.dir, "ledger.db") })
	})
	t.Run("postgres", func(t *testing.T) {
		// A fresh database per case on the process's server, made here:
		// pgtest may end the test, which only its own goroutine may do.
		count := min(*modelLedgerPG, *modelLedgerCases)
		if *modelOnly >= 0 {
			count = 1
		}
		urls := make([]string, count)
		for i := range urls {
			urls[i] = pgtest.Shared(t)
		}
		first := max(*modelOnly, 0)
		modelLedger(t, count, func(c *ledgerCase) string { return urls[c.n-first] })
	})
}

// modelLedger runs count cases (or -model.case alone), each on the
// ledger at url(case).
func modelLedger(t *testing.T, count int, url func(*ledgerCase) string) {
	first := 0
	if *modelOnly >= 0 {
		first, count = *modelOnly, 1
	}
	start := time.Now()
	stats := modelStats{}
	var (
		mu    sync.Mutex
		fails []*ledgerCase
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	next.Store(int64(first))
	// Independent cases, each waiting mostly on its ledger's fsyncs: run
	// several at once.
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1) - 1)
				mu.Lock()
				enough := len(fails) >= 3
				mu.Unlock()
				if n >= first+count || enough {
					return
				}
				c := &ledgerCase{seed: *modelSeed, n: n, dir: t.TempDir(), rng: rand.New(rand.NewPCG(*modelSeed, uint64(n)^0x1ed6e5))}
				c.url = url(c)
				c.err = c.run()
				mu.Lock()
				stats.merge(c.stats)
				if c.err != nil {
					fails = append(fails, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(fails, func(i, j int) bool { return fails[i].n < fails[j].n })
	for _, c := range fails {
		t.Errorf("ledger model case %d (seed %d): %v\nre-run it alone: go test ./applier -run '^TestModelLedger$' -v -args -model.seed=%d -model.case=%d\nmanifest:\n%s\nsteps:\n  %s",
			c.n, c.seed, c.err, c.seed, c.n, c.text, strings.Join(c.log, "\n  "))
	}
	t.Logf("%d ledger cases, seed %d, in %v\n%s", count, *modelSeed, time.Since(start).Round(time.Millisecond), stats)
	if len(fails) == 0 && count >= 16 && *modelOnly < 0 {
		for _, k := range []string{"step: apply", "step: plan", "outcome: burned and marked", "kill: after allocation", "kill: mid-burn", "kill: before mark", "fault fired", "adopted", "exhausted", "duplicate refused"} {
			if stats[k] == 0 {
				t.Errorf("no step had %q: the generator has stopped producing it", k)
			}
		}
	}
}

// ledgerVar is a pool variable of the case's SKU and where it goes.
type ledgerVar struct {
	name, pool string
	index      int            // its place in the board's block
	field      *fusemap.Field // nil: the serial's raw word
}

type ledgerBoard struct {
	otp       *nvmem.OTP
	id        string // its UNIQUE_ID, as the ledger keys it
	visited   bool   // a station has seen it: foreign values are adopted or refused by then
	pending   bool   // its last apply was stopped before the mark
	duplicate bool   // it holds another board's serial: refused, never ours to check
	blocks    map[string]uint64
}

type ledgerCase struct {
	seed   uint64
	n      int
	dir    string
	rng    *rand.Rand
	m      *fusemap.Map
	vars   []ledgerVar
	boards []*ledgerBoard
	text   string
	url    string
	log    []string
	stats  modelStats
	err    error
}

const ledgerPools = `apiVersion: otpprov/v1
kind: IdentityPools
metadata: {name: model}
pools:
  eth: {type: mac, ranges: ["00:04:9f:30:00:00-00:04:9f:30:00:03", "00:04:9f:40:00:00-00:04:9f:40:00:03"], perUnit: 2}
  serial: {type: u32, ranges: ["1000-1001", "2000-2999"]}
`

func (c *ledgerCase) logf(format string, args ...any) {
	c.log = append(c.log, fmt.Sprintf(format, args...))
}

func (c *ledgerCase) run() error {
	c.stats = modelStats{}
	ctx := context.Background()
	var err error
	if c.m, err = fusemap.Load("imx8mm"); err != nil {
		return err
	}
	ps, err := ledger.ParsePools("pools.yaml", []byte(ledgerPools))
	if err != nil {
		return err
	}
	l, _, err := ledger.Init(ctx, c.url, ps)
	if err != nil {
		return err
	}
	l.Close()

	// The SKU: a random choice of the pool variables, at least one.
	all := []ledgerVar{{"mac0", "eth", 0, c.m.Field("MAC_ADDR0")}, {"mac1", "eth", 1, c.m.Field("MAC_ADDR1")}, {"serial", "serial", 0, nil}}
	for len(c.vars) == 0 {
		for _, v := range all {
			if c.rng.IntN(3) > 0 {
				c.vars = append(c.vars, v)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: line-%d}\nsoc: imx8mm\nvariables:\n", c.n)
	for _, v := range c.vars {
		typ := "mac"
		if v.field == nil {
			typ = "u32"
		}
		fmt.Fprintf(&b, "  %s: {type: %s, pool: %s}\n", v.name, typ, v.pool)
	}
	b.WriteString("fuses:\n")
	for _, v := range c.vars {
		if v.field != nil {
			fmt.Fprintf(&b, "  - {field: %s, value: \"${%s}\"}\n", v.field.Name, v.name)
		} else {
			fmt.Fprintf(&b, "  - {bank: 14, word: 1, value: \"${%s}\"}\n", v.name)
		}
	}
	c.text = b.String()

	// The boards: distinct UNIQUE_IDs; now and then a serial burned
	// before the board reached this line.
	ident := c.m.Identity()
	for i := 3 + c.rng.IntN(5); i > 0; i-- {
		o := nvmem.NewOTP(c.m.Words)
		o.Map = c.m
		for _, p := range ident.Parts {
			o.Fuses[c.m.ReadIndex(p.Bank, p.Word)] = (c.rng.Uint32() | 1) & partMask(p)
		}
		if c.rng.IntN(4) == 0 {
			v := uint32(2000 + c.rng.IntN(2))
			o.Fuses[c.m.ReadIndex(14, 1)] = v
			c.logf("board %d arrives with serial %d burned", len(c.boards), v)
		}
		state, err := readState(o)
		if err != nil {
			return err
		}
		c.boards = append(c.boards, &ledgerBoard{otp: o, id: planner.UniqueID(c.m, state), blocks: map[string]uint64{}})
	}
	for step := 6 + c.rng.IntN(14); step > 0; step-- {
		bd := c.boards[c.rng.IntN(len(c.boards))]
		if err := c.step(ctx, bd); err != nil {
			return err
		}
		if err := c.check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// step is one station's run on one board: plan, or apply with faults
// and perhaps a kill.
func (c *ledgerCase) step(ctx context.Context, bd *ledgerBoard) error {
	l, err := ledger.Open(ctx, c.url)
	if err != nil {
		return err
	}
	defer l.Close()
	name := fmt.Sprintf("board %s", bd.id)
	path := filepath.Join(c.dir, "unit.yaml")
	m0, err := manifest.ParseOpts(path, []byte(c.text), manifest.Options{Check: true})
	if err != nil {
		return fmt.Errorf("the loader refused the SKU: %v", err)
	}
	state, err := readState(bd.otp)
	if err != nil {
		return err
	}
	apply := c.rng.IntN(3) > 0
	if apply {
		c.stats["step: apply"]++
	} else {
		c.stats["step: plan"]++
	}
	unit, err := l.Values(ctx, m0, m0.Map, state, bd.id, "st", true)
	bd.visited = true
	switch {
	case errors.Is(err, ledger.ErrExhausted):
		c.stats["exhausted"]++
		c.logf("%s: a pool is exhausted", name)
		return nil
	case errors.Is(err, ledger.ErrDuplicate):
		// Only a serial burned elsewhere may be another board's.
		v := uint64(bd.otp.Fuses[c.m.ReadIndex(14, 1)])
		if v < 2000 || v > 2001 {
			return fmt.Errorf("%s: a duplicate with no foreign serial on the board: %v", name, err)
		}
		bd.duplicate = true
		c.stats["duplicate refused"]++
		c.logf("%s: refused as a duplicate: %v", name, err)
		return nil
	case err != nil:
		return fmt.Errorf("%s: values: %v", name, err)
	}
	for _, blk := range unit.Blocks {
		if !blk.New && blk.State == ledger.Burned && bd.blocks[blk.Pool] == 0 {
			c.stats["adopted"]++
		}
		if old, ok := bd.blocks[blk.Pool]; ok && old != blk.Base {
			return fmt.Errorf("%s: its %s block moved from %d to %d", name, blk.Pool, old, blk.Base)
		}
		bd.blocks[blk.Pool] = blk.Base
	}
	m, err := manifest.ParseOpts(path, []byte(c.text), manifest.Options{Vars: unit.Vars})
	if err != nil {
		return fmt.Errorf("%s: the SKU with the ledger's values %v: %v", name, unit.Vars, err)
	}
	p, err := planner.Make(planner.Source{Name: m.Name, File: m.File, Digest: m.Digest}, m.Map, state, m.Targets)
	if err != nil {
		return fmt.Errorf("%s: plan: %v", name, err)
	}
	c.logf("%s: %s with %v, %d writes", name, map[bool]string{true: "apply", false: "plan"}[apply], unit.Vars, len(p.Writes()))
	if !apply || p.Rejected() || len(p.Writes()) == 0 {
		return nil
	}
	// A station killed after the allocation never burns.
	kill := c.rng.IntN(8)
	if kill == 0 {
		c.stats["kill: after allocation"]++
		c.logf("  killed after the allocation")
		return nil
	}
	writes := p.Writes()
	var faults []nvmem.Fault
	if c.rng.IntN(2) == 0 {
		kind := nvmem.FaultKinds[c.rng.IntN(len(nvmem.FaultKinds))]
		// A misdirected burn puts bits of one value in another's word:
		// no board's own value then; TestModel checks it fails.
		if gen := faultGens[kind]; gen != nil && !burnsElsewhere[kind] {
			faults = append(faults, gen(c.rng, c.m, writes))
		}
	}
	bd.otp.Faults = faults
	var f nvmem.File = bd.otp
	if kill == 1 {
		// Killed mid-burn: the writes after the k-th never happen.
		f = &killedAfter{OTP: bd.otp, writes: c.rng.IntN(len(writes))}
		c.stats["kill: mid-burn"]++
	}
	dev := nvmem.NewDevice("model", f)
	r, err := Apply(ctx, dev, p)
	if err != nil {
		return fmt.Errorf("%s: apply: %v", name, err)
	}
	for _, f := range faults {
		if f.Kind.WriteFault() && f.Write <= bd.otp.Writes || !f.Kind.WriteFault() && slices.ContainsFunc(bd.otp.Log, func(w nvmem.WordWrite) bool {
			return w.Word == f.Word && w.Value&(1<<f.Bit) != 0
		}) {
			c.stats["fault fired"]++
		}
	}
	c.logf("  faults %+v, kill %d: %s", faults, kill, r.Outcome())
	defer func() { bd.otp = reboot(bd.otp) }()
	if kill == 1 || kill == 2 {
		if kill == 2 {
			c.stats["kill: before mark"]++
		}
		bd.pending = true
		return nil
	}
	// As apply --ledger: the mark, from what the device reads back.
	back, rerr := dev.ReadAll()
	if rerr != nil {
		bd.pending = true
		c.logf("  read back failed: %v; blocks stay reserved", rerr)
		return nil
	}
	if err := l.Burned(ctx, unit, m, m.Map, nvmem.Words(back)); err != nil {
		return fmt.Errorf("%s: mark burned: %v", name, err)
	}
	bd.pending = false
	if r.Changed() {
		c.stats["outcome: burned and marked"]++
	}
	return nil
}

// killedAfter is the station killed after `writes` write calls: the
// rest never reach the device.
type killedAfter struct {
	*nvmem.OTP
	writes int
}

func (k *killedAfter) WriteAt(p []byte, off int64) (int, error) {
	if k.writes == 0 {
		return 0, syscall.EIO
	}
	k.writes--
	return k.OTP.WriteAt(p, off)
}

// check: the ledger's own invariants (2 and 3), then each board's fuses
// against its blocks (1).
func (c *ledgerCase) check(ctx context.Context) error {
	db, err := ledgercheck.Open(c.url)
	if err != nil {
		return err
	}
	defer db.Close()
	snap, err := ledgercheck.Check(ctx, db)
	if err != nil {
		return fmt.Errorf("ledger invariant: %v", err)
	}
	for _, bd := range c.boards {
		if !bd.visited || bd.duplicate {
			continue
		}
		for _, v := range c.vars {
			parts := c.parts(v)
			var on bool
			for _, pt := range parts {
				on = on || bd.otp.Fuses[c.m.ReadIndex(pt.bank, pt.word)]&pt.mask != 0
			}
			if !on {
				continue
			}
			blk, ok := snap.Board(v.pool, bd.id)
			if !ok {
				return fmt.Errorf("board %s holds bits of %s, but the ledger holds no %s block for it", bd.id, v.name, v.pool)
			}
			if blk.State != ledger.Reserved && blk.State != ledger.Burned {
				return fmt.Errorf("board %s holds bits of %s, whose block is %s", bd.id, v.name, blk.State)
			}
			own := blk.Base + uint64(v.index)
			for _, want := range c.bits(v, own) {
				got := bd.otp.Fuses[c.m.ReadIndex(want.bank, want.word)] & want.mask
				if extra := got &^ want.value; extra != 0 {
					return fmt.Errorf("board %s: bank %d word %d holds %#08x of %s, outside its own value %d (%#08x): bits of a value the ledger gave no board, or another's", bd.id, want.bank, want.word, got, v.name, own, want.value)
				}
			}
			if !bd.pending && blk.State != ledger.Burned {
				return fmt.Errorf("board %s holds bits of %s %d, and its apply got as far as the mark, but the ledger has it %s", bd.id, v.name, own, blk.State)
			}
		}
	}
	return nil
}

// parts are the words (and bits) where a pool variable goes.
func (c *ledgerCase) parts(v ledgerVar) []wantBits {
	return c.bits(v, 0)
}

// bits is what value asks of v's words, by the model's own encoding.
func (c *ledgerCase) bits(v ledgerVar, value uint64) []wantBits {
	if v.field == nil {
		return []wantBits{{14, 1, uint32(value), 0xffffffff}}
	}
	return slices.Clone(splitNumber(v.field, value))
}
