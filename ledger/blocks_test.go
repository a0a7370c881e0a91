package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// 16 units of 2 MACs, and 20 serial numbers.
const linePools = "  eth: {type: mac, ranges: [\"00:04:9f:00:00:00-00:04:9f:00:00:1f\"], perUnit: 2}\n  serial: {type: u32, ranges: [\"100-119\"]}\n"

// reserveBlock reserves and carries the block through its file, as a
// station gets it.
func reserveBlock(t *testing.T, l *Ledger, pool, station string, units, lowWater uint64) *Reservation {
	t.Helper()
	r, err := l.Reserve(context.Background(), pool, station, units, lowWater)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseBlock("block.yaml", r.BlockYAML())
	if err != nil {
		t.Fatalf("the block otpprov wrote does not load: %v\n%s", err, r.BlockYAML())
	}
	return back
}

// returnBlock closes the block on the station and carries the return
// through its file.
func returnBlock(t *testing.T, st *Ledger, id string) *Return {
	t.Helper()
	ret, err := st.ReturnBlock(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseReturn("return.yaml", ret.ReturnYAML())
	if err != nil {
		t.Fatalf("the return otpprov wrote does not load: %v\n%s", err, ret.ReturnYAML())
	}
	return back
}

func statusOf(t *testing.T, l *Ledger, pool string) PoolStatus {
	t.Helper()
	st, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Pool == pool {
			return s
		}
	}
	t.Fatalf("no pool %s in %+v", pool, st)
	return PoolStatus{}
}

// A block goes to a station and back: the line never hands out its
// values meanwhile, the station allocates only from it, its boards come
// back in their states, and only the tail the station never reached
// returns to the pool, after the pool's own ranges.
func TestBlockRoundTrip(t *testing.T) { backends(t, testBlockRoundTrip) }

func testBlockRoundTrip(t *testing.T, url string) {
	ctx := context.Background()
	line := initLedger(t, url, linePools)
	a, _ := line.Allocate(ctx, "eth", "0xa", "line")
	blk := reserveBlock(t, line, "eth", "st1", 5, 4)
	if len(blk.Spans) != 1 || blk.Spans[0].First != a.Base+2 || blk.Spans[0].Last != a.Base+11 || blk.Units != 5 || blk.PerUnit != 2 {
		t.Fatalf("block %+v after the line's first board at %x", blk, a.Base)
	}
	s := statusOf(t, line, "eth")
	if s.Stations.Out != 10 || s.Stations.Blocks != 1 || s.Free != 32-2-10 {
		t.Fatalf("status with the block out: %+v", s)
	}
	// The line's next boards skip the block.
	b, _ := line.Allocate(ctx, "eth", "0xb", "line")
	if b.Base != blk.Spans[0].Last+1 {
		t.Fatalf("the line's next board got %x, inside or past the block %x-%x", b.Base, blk.Spans[0].First, blk.Spans[0].Last)
	}

	station, err := ImportBlock(ctx, sqliteURL(t), blk, "st1")
	if err != nil {
		t.Fatal(err)
	}
	defer station.Close()
	var got []uint64
	for i := 1; i <= 3; i++ {
		x, err := station.Allocate(ctx, "eth", fmt.Sprintf("0x%d", i), "st1")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, x.Base)
	}
	if got[0] != blk.Spans[0].First || got[2] != blk.Spans[0].First+4 {
		t.Fatalf("the station allocated %x, not from its block %x-", got, blk.Spans[0].First)
	}
	if err := station.MarkBurned(ctx, "eth", "0x1"); err != nil {
		t.Fatal(err)
	}
	if low, _ := station.Low(ctx, []string{"eth"}); len(low) != 0 {
		t.Fatalf("low after 3 of 5 units (low water 2 units): %+v", low)
	}
	station.Allocate(ctx, "eth", "0x4", "st1")
	if low, _ := station.Low(ctx, []string{"eth"}); len(low) != 1 || !strings.Contains(low[0].LowWarning(), "reserve another block") {
		t.Fatalf("no low warning with one unit left: %+v", low)
	}
	// The station's fourth board is released (proved blank): it comes
	// back as released, never as free.
	if _, err := station.db.ExecContext(ctx, `UPDATE otpprov_blocks SET state = 'released' WHERE unique_id = '0x4'`); err != nil {
		t.Fatal(err)
	}

	ret := returnBlock(t, station, blk.ID)
	if len(ret.Entries) != 4 || ret.Spans[0].Used != 4 {
		t.Fatalf("return: %+v", ret)
	}
	// Closed on the station: nothing more is handed out of it.
	if _, err := station.Allocate(ctx, "eth", "0x9", "st1"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("the station allocated after returning its block: %v", err)
	}
	rep, err := line.TakeReturn(ctx, ret)
	if err != nil || rep.Added != 4 || rep.Freed != 2 || rep.Again {
		t.Fatalf("take return: %+v %v", rep, err)
	}
	es, _ := line.Entries(ctx, Filter{UniqueID: "0x1"})
	if len(es) != 1 || es[0].State != Burned || es[0].Base != got[0] {
		t.Fatalf("the station's burned board in the line's ledger: %+v", es)
	}
	es, _ = line.Entries(ctx, Filter{UniqueID: "0x2"})
	if len(es) != 1 || es[0].State != Reserved {
		t.Fatalf("the station's reserved board in the line's ledger: %+v", es)
	}
	s = statusOf(t, line, "eth")
	if s.Stations.Out != 0 || s.Stations.Returned != 2 || s.Free != 32-4-10+2 {
		t.Fatalf("status after the return: %+v", s)
	}
	// Again: nothing changes, nothing is freed twice.
	rep, err = line.TakeReturn(ctx, ret)
	if err != nil || !rep.Again || rep.Same != 4 || rep.Freed != 0 {
		t.Fatalf("the same return again: %+v %v", rep, err)
	}
	// The station burned board 2 meanwhile: a new return moves its state on.
	station.MarkBurned(ctx, "eth", "0x2")
	rep, err = line.TakeReturn(ctx, returnBlock(t, station, blk.ID))
	if err != nil || rep.Changed != 1 || rep.Freed != 0 {
		t.Fatalf("a later return: %+v %v", rep, err)
	}

	// The line spends its own range, then gets the tail, then runs out:
	// never a value the station handed out.
	held := map[uint64]bool{}
	for _, e := range ret.Entries {
		held[e.Base] = true
	}
	var tail []uint64
	for i := 0; ; i++ {
		x, err := line.Allocate(ctx, "eth", fmt.Sprintf("0x1%03d", i), "line")
		if errors.Is(err, ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if held[x.Base] {
			t.Fatalf("the line handed out %x, which the station gave a board", x.Base)
		}
		if x.Base >= blk.Spans[0].First && x.Base <= blk.Spans[0].Last {
			tail = append(tail, x.Base)
		}
	}
	if len(tail) != 1 || tail[0] != blk.Spans[0].First+8 {
		t.Fatalf("the block's tail handed out by the line: %x", tail)
	}
	if s := statusOf(t, line, "eth"); s.Free != 0 || s.Stations.Returned != 0 {
		t.Fatalf("status when spent: %+v", s)
	}
}

// What a ledger refuses: more units than are free, a block imported
// twice, into the ledger that reserved it, at another station, over a
// pool of the station's own or of another type, and a pools file over a
// block's pool.
func TestBlockRefusals(t *testing.T) { backends(t, testBlockRefusals) }

func testBlockRefusals(t *testing.T, url string) {
	ctx := context.Background()
	line := initLedger(t, url, linePools)
	if _, err := line.Reserve(ctx, "eth", "st1", 17, 0); !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "has 16 free units") {
		t.Fatalf("17 units of 16: %v", err)
	}
	if _, err := line.Reserve(ctx, "eth", "st 1", 1, 0); !errors.Is(err, ErrBlock) {
		t.Fatalf("a station name with a space: %v", err)
	}
	if _, err := line.Reserve(ctx, "nope", "st1", 1, 0); !errors.Is(err, ErrNoPool) {
		t.Fatalf("no such pool: %v", err)
	}
	blk := reserveBlock(t, line, "eth", "st1", 2, 0)
	if _, err := ImportBlock(ctx, url, blk, "st1"); !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), "this very ledger") {
		t.Fatalf("a block imported by the ledger that reserved it: %v", err)
	}
	stURL := sqliteURL(t)
	if _, err := ImportBlock(ctx, stURL, blk, "st2"); !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), "reserved for the station st1, this is st2") {
		t.Fatalf("another station: %v", err)
	}
	st, err := ImportBlock(ctx, stURL, blk, "st1")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := ImportBlock(ctx, stURL, blk, "st1"); !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), "imported it already") {
		t.Fatalf("twice: %v", err)
	}
	// A second block of the same pool from the same ledger joins it.
	blk2 := reserveBlock(t, line, "eth", "st1", 1, 0)
	st, err = ImportBlock(ctx, stURL, blk2, "st1")
	if err != nil {
		t.Fatalf("a second block of the pool: %v", err)
	}
	if s := statusOf(t, st, "eth"); s.Size != 6 || s.Free != 6 || s.FromBlock != blk.Ledger {
		t.Fatalf("the station's pool of two blocks: %+v", s)
	}
	// A pools file over the block's pool: refused (it would widen it to
	// the line's range).
	if _, err := st.init(ctx, pools(t, linePools)); err == nil || !strings.Contains(err.Error(), "came from a block of the ledger") {
		t.Fatalf("ledger init over a block's pool: %v", err)
	}
	// Nor does a station lend its block on.
	if _, err := st.Reserve(ctx, "eth", "st9", 1, 0); !errors.Is(err, ErrBlock) {
		t.Fatalf("a station reserving from its block: %v", err)
	}
	st.Close()

	// A station with its own pool of that name, or one of another type.
	own := initLedger(t, sqliteURL(t), "  eth: {type: mac, ranges: [\"00:04:9f:01:00:00-00:04:9f:01:00:0f\"], perUnit: 2}\n")
	if err := own.importBlock(ctx, blk, "st1"); !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), "from a pools file") {
		t.Fatalf("over a pool of a pools file: %v", err)
	}
	other := initLedger(t, sqliteURL(t), "  eth: {type: u32, ranges: [\"5-9\"]}\n")
	if err := other.importBlock(ctx, blk, "st1"); !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), "type u32 with perUnit 1") {
		t.Fatalf("over a pool of another type: %v", err)
	}
	// A range overlapping another pool's (an edited block).
	near := initLedger(t, sqliteURL(t), "  wifi: {type: mac, ranges: [\"00:04:9f:00:00:00-00:04:9f:00:00:0f\"]}\n")
	if err := near.importBlock(ctx, blk, "st1"); !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), "overlaps the range") {
		t.Fatalf("overlapping another pool: %v", err)
	}
}

// A return is held to what the ledger reserved: a return changed after
// the station wrote it (its seal), and, even sealed with the block's key,
// other ranges, values outside the block, a cursor that hides a board, a
// return to another ledger, and values the ledger holds for other boards
// are refused, and nothing is taken.
func TestBlockHostileReturns(t *testing.T) { backends(t, testBlockHostileReturns) }

func testBlockHostileReturns(t *testing.T, url string) {
	ctx := context.Background()
	line := initLedger(t, url, linePools)
	line.Allocate(ctx, "eth", "0xa", "line")
	blk := reserveBlock(t, line, "eth", "st1", 4, 0)
	st, err := ImportBlock(ctx, sqliteURL(t), blk, "st1")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Allocate(ctx, "eth", "0x1", "st1")
	st.Allocate(ctx, "eth", "0x2", "st1")
	good := returnBlock(t, st, blk.ID)
	edit := func(change func(r *Return)) *Return {
		r := *good
		r.Spans = append([]Span(nil), good.Spans...)
		r.Entries = append([]Entry(nil), good.Entries...)
		change(&r)
		// Sealed again with the block's key: the checks below hold even
		// against someone who has the block file.
		r.Seal = r.seal(blk.SealKey)
		return &r
	}
	unsealed := edit(func(r *Return) { r.Spans[0].Used = 1; r.Entries = r.Entries[:1] })
	unsealed.Seal = good.Seal
	if _, err := line.TakeReturn(ctx, unsealed); !errors.Is(err, ErrBlock) || !strings.Contains(err.Error(), "seal does not match") {
		t.Fatalf("a return edited after the station wrote it: %v", err)
	}
	for name, c := range map[string]struct {
		ret  *Return
		want string
	}{
		"range widened":         {edit(func(r *Return) { r.Spans[0].Last += 2 }), "names values outside the block"},
		"entry outside":         {edit(func(r *Return) { r.Entries[1].Base = r.Spans[0].Last + 1 }), "names values outside the block"},
		"entry off a unit":      {edit(func(r *Return) { r.Entries[1].Base++ }), "not a unit of the block"},
		"entry dropped":         {edit(func(r *Return) { r.Entries = r.Entries[:1] }), "below the station's cursor"},
		"used beyond the block": {edit(func(r *Return) { r.Spans[0].Used = 5 }), "5 units used, of 4"},
		"another station":       {edit(func(r *Return) { r.Station = "st2" }), "for the station st1"},
		"another ledger":        {edit(func(r *Return) { r.Ledger = strings.Repeat("0", 32) }), "return it there"},
		"the line's own board":  {edit(func(r *Return) { r.Entries[0].UniqueID = "0xa" }), "the ledger " + line.shown + " gave it eth 00:04:9f:00:00:00"},
	} {
		if _, err := line.TakeReturn(ctx, c.ret); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if s := statusOf(t, line, "eth"); s.Stations.Out != 8 || s.Reserved != 2 {
		t.Fatalf("refused returns changed the ledger: %+v", s)
	}
	if _, err := line.TakeReturn(ctx, good); err != nil {
		t.Fatal(err)
	}
	// Taken: a return that now says another board has a value, or that
	// fewer units were used (freeing one a board has), is refused.
	if _, err := line.TakeReturn(ctx, edit(func(r *Return) { r.Entries[1].UniqueID = "0x77" })); !errors.Is(err, ErrDuplicate) ||
		!strings.Contains(err.Error(), "to the board 0x77") || !strings.Contains(err.Error(), "for the board 0x2") {
		t.Fatalf("a value of the block for another board: %v", err)
	}
	if _, err := line.TakeReturn(ctx, edit(func(r *Return) { r.Spans[0].Used = 1; r.Entries = r.Entries[:1] })); err == nil || !strings.Contains(err.Error(), "returned with 2 units used") {
		t.Fatalf("a second return with a lower cursor: %v", err)
	}
}

// Stations reserving at once, while the line allocates: every block and
// every board's value disjoint, every unit accounted for.
func TestReserveConcurrent(t *testing.T) { backends(t, testReserveConcurrent) }

func testReserveConcurrent(t *testing.T, url string) {
	ctx := context.Background()
	initLedger(t, url, "  serial: {type: u32, ranges: [\"1000-1999\"]}\n")
	const stations, rounds = 4, 5
	var mu sync.Mutex
	owner := map[uint64]string{}
	take := func(v uint64, who string) {
		mu.Lock()
		defer mu.Unlock()
		if o, ok := owner[v]; ok {
			t.Errorf("%d went to %s and %s", v, o, who)
		}
		owner[v] = who
	}
	var wg sync.WaitGroup
	// Each station on its own connection, as separate processes would be.
	station := func(work func(l *Ledger)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Open(ctx, url)
			if err != nil {
				t.Error(err)
				return
			}
			defer l.Close()
			work(l)
		}()
	}
	for s := 0; s < stations; s++ {
		station(func(l *Ledger) {
			for i := 0; i < rounds; i++ {
				r, err := l.Reserve(ctx, "serial", fmt.Sprintf("st%d", s), 7, 0)
				if err != nil {
					t.Error(err)
					return
				}
				for _, sp := range r.Spans {
					for v := sp.First; v <= sp.Last; v++ {
						take(v, "block "+r.ID)
					}
				}
			}
		})
		station(func(l *Ledger) {
			for i := 0; i < rounds; i++ {
				b, err := l.Allocate(ctx, "serial", fmt.Sprintf("0x%d%d", s, i), "line")
				if err != nil {
					t.Error(err)
					return
				}
				take(b.Base, "board "+b.UniqueID)
			}
		})
	}
	wg.Wait()
	// No gap: the values taken are exactly the first ones of the range.
	want := stations*rounds*7 + stations*rounds
	for v := uint64(1000); v < uint64(1000+want); v++ {
		if _, ok := owner[v]; !ok {
			t.Errorf("%d was skipped", v)
		}
	}
	if len(owner) != want {
		t.Errorf("%d values taken, want %d", len(owner), want)
	}
}

// A value adopted from a board ahead of the cursor (burned outside the
// ledger) is never put in a block: the station would hand it out again.
func TestReserveSkipsAdopted(t *testing.T) { backends(t, testReserveSkipsAdopted) }

func testReserveSkipsAdopted(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, "  serial: {type: u32, ranges: [\"100-119\"]}\n")
	ps, err := l.pools(ctx, []string{"serial"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.claim(ctx, ps["serial"], 102, 102, "bank 14 word 1", "0xad", "line"); err != nil {
		t.Fatal(err)
	}
	r, err := l.Reserve(ctx, "serial", "st1", 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Spans) != 2 || r.Spans[0] != (Span{100, 101, -1}) || r.Spans[1] != (Span{103, 104, -1}) {
		t.Fatalf("block around the adopted 102: %+v", r.Spans)
	}
	if _, err := ParseBlock("b.yaml", r.BlockYAML()); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLow is what the low-water check adds to an allocation that
// handed a block out (SQLite, two pools).
func BenchmarkLow(b *testing.B) {
	ctx := context.Background()
	l := initLedger(b, sqliteURL(b), linePools)
	for i := 0; i < 10; i++ {
		l.AllocateAll(ctx, []string{"eth", "serial"}, fmt.Sprintf("0x%d", i), "st")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Low(ctx, []string{"eth", "serial"}); err != nil {
			b.Fatal(err)
		}
	}
}

// A scrap crosses a return both ways: a board the station scrapped is
// refused by the line's plan and apply from then on (its scrap record
// taken with it, before anything is allocated to it), and a board the
// line scrapped while its block was out keeps its values as scrapped, as
// ledger scrap leaves a board's blocks.
func TestBlockReturnScrapped(t *testing.T) { backends(t, testBlockReturnScrapped) }

func testBlockReturnScrapped(t *testing.T, url string) {
	ctx := context.Background()
	line := initLedger(t, url, linePools)
	blk := reserveBlock(t, line, "eth", "st1", 4, 0)
	station, err := ImportBlock(ctx, sqliteURL(t), blk, "st1")
	if err != nil {
		t.Fatal(err)
	}
	defer station.Close()
	for _, id := range []string{"0x1", "0x2"} {
		if _, err := station.Allocate(ctx, "eth", id, "st1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := station.ScrapBoard(ctx, "0x1", "alice", "st1", "cracked PCB"); err != nil {
		t.Fatal(err)
	}
	station.MarkBurned(ctx, "eth", "0x2")
	if _, _, _, err := line.ScrapBoard(ctx, "0x2", "bob", "line", "dropped"); err != nil {
		t.Fatal(err)
	}
	if _, err := line.TakeReturn(ctx, returnBlock(t, station, blk.ID)); err != nil {
		t.Fatal(err)
	}
	if _, found, err := line.Scrapped(ctx, "0x1"); err != nil || !found {
		t.Fatalf("the board the station scrapped is not scrapped on the line: %v %v", found, err)
	}
	if err := line.refuseScrapped(ctx, "0x1"); !errors.Is(err, ErrScrapped) || !strings.Contains(err.Error(), "st1") {
		t.Fatalf("the line's plan of the board the station scrapped: %v", err)
	}
	es, _ := line.Entries(ctx, Filter{UniqueID: "0x2"})
	if len(es) != 1 || es[0].State != Scrapped {
		t.Fatalf("the board the line scrapped, after its block's return: %+v", es)
	}
}
