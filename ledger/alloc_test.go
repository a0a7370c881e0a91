package ledger

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpprov/otpprov/internal/pgtest"
)

func sqliteURL(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "ledger.db") }

// backends runs a test on each database a ledger may be: an SQLite file,
// and a fresh database of a real PostgreSQL server (internal/pgtest: in CI
// it fails when PostgreSQL is missing, elsewhere it skips loudly).
func backends(t *testing.T, test func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, sqliteURL(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, pgShared(t)) })
}

// pgShared is a fresh database of the process's PostgreSQL server.
func pgShared(t testing.TB) string { return pgtest.Shared(t) }

func pools(t testing.TB, body string) *Pools {
	t.Helper()
	ps, err := ParsePools("p.yaml", []byte("apiVersion: otpprov/v1\nkind: IdentityPools\nmetadata: {name: p}\npools:\n"+body))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func initLedger(t testing.TB, url, body string) *Ledger {
	t.Helper()
	l, _, err := Init(context.Background(), url, pools(t, body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Open refuses a database without a ledger, and Init makes one that Open
// then takes; Init again changes nothing.
func TestInitAndOpen(t *testing.T) { backends(t, testInitAndOpen) }

func testInitAndOpen(t *testing.T, url string) {
	ctx := context.Background()
	if _, err := Open(ctx, url); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "otpprov ledger init") {
		t.Fatalf("Open of an empty database: %v", err)
	}
	body := "  eth: {type: mac, ranges: [\"00:04:9f:00:00:00-00:04:9f:00:00:ff\"], perUnit: 2}\n"
	l, rep, err := Init(ctx, url, pools(t, body))
	if err != nil || rep.FromVersion != 0 || len(rep.Added) != 1 {
		t.Fatalf("Init: %+v %v", rep, err)
	}
	l.Close()
	l, rep, err = Init(ctx, url, pools(t, body))
	if err != nil || rep.FromVersion != SchemaVersion || len(rep.Added)+len(rep.Grown) != 0 {
		t.Fatalf("Init again: %+v %v", rep, err)
	}
	l.Close()
	l, err = Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := l.Status(ctx)
	if err != nil || len(st) != 1 || st[0].Size != 256 || st[0].Free != 256 {
		t.Fatalf("status: %+v %v", st, err)
	}
}

// The same board gets the same block every time; boards get consecutive
// aligned blocks; a pool runs out loudly.
func TestAllocate(t *testing.T) { backends(t, testAllocate) }

func testAllocate(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, "  eth: {type: mac, ranges: [\"00:04:9f:00:00:00-00:04:9f:00:00:05\"], perUnit: 2}\n")
	a, err := l.Allocate(ctx, "eth", "0x1", "st1")
	if err != nil || a.Base != 0x00049f000000 || !a.New || a.State != Reserved {
		t.Fatalf("first board: %+v %v", a, err)
	}
	again, err := l.Allocate(ctx, "eth", "0x1", "st2")
	if err != nil || again.Base != a.Base || again.New || again.Station != "st1" {
		t.Fatalf("same board again: %+v %v", again, err)
	}
	b, _ := l.Allocate(ctx, "eth", "0x2", "st1")
	c, _ := l.Allocate(ctx, "eth", "0x3", "st1")
	if b.Base != a.Base+2 || c.Base != a.Base+4 {
		t.Fatalf("blocks %x %x %x", a.Base, b.Base, c.Base)
	}
	if _, err := l.Allocate(ctx, "eth", "0x4", "st1"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("a fourth board from three blocks: %v", err)
	}
	if _, err := l.Allocate(ctx, "nope", "0x4", "st1"); !errors.Is(err, ErrNoPool) {
		t.Fatalf("an unknown pool: %v", err)
	}
	if _, err := l.Allocate(ctx, "eth", "unreadable", "st1"); err == nil {
		t.Fatal("a board without a readable UNIQUE_ID got a block")
	}
	if err := l.MarkBurned(ctx, "eth", "0x1"); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Status(ctx)
	if st[0].Burned != 2 || st[0].Reserved != 4 || st[0].Free != 0 {
		t.Errorf("status: %+v", st[0])
	}
}

// A pool may grow, never shrink, nor change type or perUnit once used.
func TestInitGrowsNeverShrinks(t *testing.T) { backends(t, testInitGrowsNeverShrinks) }

func testInitGrowsNeverShrinks(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, "  s: {type: u32, ranges: [\"100-109\"]}\n")
	for i := 0; i < 3; i++ {
		if _, err := l.Allocate(ctx, "s", fmt.Sprint(i+1), "st"); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// Wider, and a new range: the cursor keeps its place.
	l2, rep, err := Init(ctx, url, pools(t, "  s: {type: u32, ranges: [\"100-119\", \"500-509\"]}\n"))
	if err != nil || len(rep.Grown) != 1 {
		t.Fatalf("grow: %+v %v", rep, err)
	}
	b, err := l2.Allocate(ctx, "s", "0x4", "st")
	if err != nil || b.Base != 103 {
		t.Fatalf("after growing: %+v %v", b, err)
	}
	l2.Close()
	for _, c := range []struct{ body, want string }{
		{"  s: {type: u32, ranges: [\"100-105\"]}\n", "never shrink"},
		{"  s: {type: u32, ranges: [\"100-119\"]}\n", "never shrink"}, // a range dropped
		{"  s: {type: mac, ranges: [\"00:04:9f:00:00:00-00:04:9f:00:00:ff\"]}\n", "cannot become type mac"},
	} {
		if _, _, err := Init(ctx, url, pools(t, c.body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Init %q: %v, want %q", c.body, err, c.want)
		}
	}
}

// Many goroutines, each with its own connection pool as a station would
// have, allocating for distinct boards and for the same boards: every
// block distinct, no gaps, one block per board.
func TestAllocateConcurrent(t *testing.T) { backends(t, testAllocateConcurrent) }

func testAllocateConcurrent(t *testing.T, url string) {
	ctx := context.Background()
	initLedger(t, url, "  s: {type: u32, ranges: [\"1-100000\"]}\n")
	const stations, each = 8, 40
	var wg sync.WaitGroup
	got := make([][]uint64, stations)
	errs := make(chan error, stations)
	for s := 0; s < stations; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			l, err := Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer l.Close()
			for i := 0; i < each; i++ {
				// Half the boards are shared by every station.
				id := fmt.Sprintf("s%d-%d", s, i)
				if i%2 == 0 {
					id = fmt.Sprintf("shared-%d", i)
				}
				b, err := l.Allocate(ctx, "s", id, fmt.Sprint(s))
				if err != nil {
					errs <- err
					return
				}
				got[s] = append(got[s], b.Base)
			}
		}(s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, g := range got {
		for _, v := range g {
			seen[v] = true
		}
	}
	// Distinct boards: each station's own (each/2) plus the shared ones.
	want := stations*each/2 + each/2
	if len(seen) != want {
		t.Fatalf("%d distinct values for %d boards", len(seen), want)
	}
	for v := uint64(1); v <= uint64(want); v++ {
		if !seen[v] {
			t.Fatalf("gap: %d was never handed out", v)
		}
	}
}

// The questions a line asks: what a board has, which board has a value,
// what changed since a time.
func TestEntriesAndFind(t *testing.T) { backends(t, testEntriesAndFind) }

func testEntriesAndFind(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, "  eth: {type: mac, ranges: [\"00:04:9f:00:00:00-00:04:9f:00:00:ff\"], perUnit: 2}\n  s: {type: u32, ranges: [\"100-199\"]}\n")
	for _, id := range []string{"0x1", "0x2"} {
		for _, p := range []string{"eth", "s"} {
			if _, err := l.Allocate(ctx, p, id, "st"); err != nil {
				t.Fatal(err)
			}
		}
	}
	es, err := l.Entries(ctx, Filter{UniqueID: "0x2"})
	if err != nil || len(es) != 2 || es[0].Pool != "eth" || strings.Join(es[0].Values, " ") != "00:04:9f:00:00:02 00:04:9f:00:00:03" || es[1].Values[0] != "101" {
		t.Fatalf("entries of 0x2: %+v %v", es, err)
	}
	for value, board := range map[string]string{"00:04:9f:00:00:03": "0x2", "00:04:9f:00:00:00": "0x1", "100": "0x1", "101": "0x2"} {
		found, err := l.Find(ctx, value)
		if err != nil || len(found) != 1 || found[0].UniqueID != board {
			t.Errorf("find %s: %+v %v, want %s", value, found, err, board)
		}
	}
	if found, err := l.Find(ctx, "00:04:9f:00:00:04"); err != nil || len(found) != 0 {
		t.Errorf("find a value never handed out: %+v %v", found, err)
	}
	if all, _ := l.Entries(ctx, Filter{}); len(all) != 4 {
		t.Errorf("all entries: %d, want 4", len(all))
	}
	if later, _ := l.Entries(ctx, Filter{Since: time.Now().Add(time.Hour)}); len(later) != 0 {
		t.Errorf("entries since an hour from now: %d", len(later))
	}
}

// A pool the file no longer lists keeps its values: a new pool over its
// range is refused, or those values would go to two boards.
func TestInitRefusesOverDroppedPool(t *testing.T) { backends(t, testInitRefusesOverDroppedPool) }

func testInitRefusesOverDroppedPool(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, "  a: {type: u32, ranges: [\"100-199\"]}\n")
	if _, err := l.Allocate(ctx, "a", "0x1", "st"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, _, err := Init(ctx, url, pools(t, "  b: {type: u32, ranges: [\"150-250\"]}\n")); err == nil || !strings.Contains(err.Error(), "overlaps a range of pool a in the ledger") {
		t.Fatalf("a new pool over a dropped one's range: %v", err)
	}
	// Beside it: fine.
	l2, _, err := Init(ctx, url, pools(t, "  b: {type: u32, ranges: [\"200-250\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
}
