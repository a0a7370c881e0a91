package ledger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/otpprov/otpprov/internal/ledgercheck"
	"github.com/otpprov/otpprov/internal/pgtest"
)

// dropTimeout is OTPPROV_LEDGER_TIMEOUT in the network drop tests: short,
// so that a blackholed connection fails them quickly.
const dropTimeout = time.Second

// checkInvariants reads the ledger's tables through url (past any proxy)
// and fails t on a violation of what the ledger promises.
func checkInvariants(t *testing.T, url string) *ledgercheck.Snapshot {
	t.Helper()
	db, err := ledgercheck.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := ledgercheck.Check(context.Background(), db)
	if err != nil {
		t.Fatalf("ledger invariant: %v", err)
	}
	return s
}

// bounded runs f, which must end (with an error) within the answer
// timeout and some slack: a station must never wait forever for a
// ledger that stopped answering. When it does not, the proxy is cut to
// free it, and the test fails.
func bounded(t *testing.T, px *pgtest.Proxy, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- f() }()
	select {
	case err := <-done:
		t.Logf("%s: ended after %v: %v", what, time.Since(began).Round(10*time.Millisecond), err)
		return err
	case <-time.After(10 * dropTimeout):
		px.Set(pgtest.Cut)
		<-done
		t.Fatalf("%s: still waiting %v after the network was blackholed (the answer timeout is %v): a station would hang forever", what, 10*dropTimeout, dropTimeout)
		return nil
	}
}

// A network drop between a station and a PostgreSQL ledger, at each
// moment of an allocation and after it, through a proxy that cuts or
// blackholes the connections (internal/pgtest): the allocation either
// happened or did not, the next attempt finds the board's block if it
// did (the ambiguous commit), nothing is handed out twice and no value
// is skipped; and a ledger that stops answering fails the operation
// within the answer timeout instead of holding the station.
func TestNetworkDrop(t *testing.T) {
	t.Setenv("OTPPROV_LEDGER_TIMEOUT", dropTimeout.String())
	srv := pgtest.New(t)
	px := pgtest.NewProxy(t, srv)
	ctx := context.Background()
	n := 0
	// setup gives a fresh ledger: its URL past the proxy (to check it),
	// and the ledger opened through the proxy (the station's).
	setup := func(t *testing.T, tcp bool) (string, *Ledger) {
		n++
		name := fmt.Sprintf("drop%d", n)
		direct := srv.CreateDatabase(t, name)
		initLedger(t, direct, "  s: {type: u32, ranges: [\"1-1000\"]}\n")
		via := px.URL(name)
		if tcp {
			via = px.TCPURL(name)
		}
		px.Set(pgtest.Pass)
		l, err := Open(ctx, via)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return direct, l
	}
	fired := func(t *testing.T, tr *pgtest.Trigger) {
		t.Helper()
		select {
		case <-tr.Fired:
		default:
			t.Fatalf("the drop (%q) never happened: the test tested nothing", tr.Match)
		}
	}

	// The COMMIT never reaches the server: it rolls back, and the next
	// attempt hands the board the same first value (no gap).
	t.Run("before commit", func(t *testing.T) {
		direct, l := setup(t, false)
		tr := px.On(&pgtest.Trigger{Dir: pgtest.ToServer, Match: "commit\x00", Before: true, Then: pgtest.Cut})
		if b, err := l.Allocate(ctx, "s", "0xb1", "st"); err == nil {
			t.Fatalf("allocated %+v with the COMMIT cut", b)
		}
		fired(t, tr)
		if s := checkInvariants(t, direct); len(s.Blocks) != 0 {
			t.Fatalf("a COMMIT that never reached the server left %+v", s.Blocks)
		}
		px.Set(pgtest.Pass)
		b, err := l.Allocate(ctx, "s", "0xb1", "st")
		if err != nil || b.Base != 1 || !b.New {
			t.Fatalf("after the network came back: %+v %v, want a new block at 1", b, err)
		}
		checkInvariants(t, direct)
	})

	// The classic ambiguous commit: the server committed, the answer was
	// lost. The station reports an error (it cannot know), and the next
	// attempt finds the board's block: never a second one.
	for _, mode := range []pgtest.Mode{pgtest.Cut, pgtest.Blackhole} {
		for _, tcp := range []bool{false, true} {
			t.Run(fmt.Sprintf("answer to commit lost, %s, tcp %v", mode, tcp), func(t *testing.T) {
				direct, l := setup(t, tcp)
				if _, err := l.Allocate(ctx, "s", "0xb0", "st"); err != nil {
					t.Fatal(err)
				}
				tr := px.On(&pgtest.Trigger{Dir: pgtest.ToClient, Match: "COMMIT\x00", Before: true, Then: mode})
				err := bounded(t, px, "allocation", func() error {
					_, err := l.Allocate(ctx, "s", "0xb1", "st")
					return err
				})
				if err == nil {
					t.Fatal("the allocation reported success though its answer never came")
				}
				fired(t, tr)
				s := checkInvariants(t, direct)
				if b, ok := s.Board("s", "0xb1"); !ok || b.Base != 2 || b.State != Reserved {
					t.Fatalf("the committed block is not the board's: %+v %v", b, ok)
				}
				px.Set(pgtest.Pass)
				b, err := l.Allocate(ctx, "s", "0xb1", "st")
				if err != nil || b.Base != 2 || b.New {
					t.Fatalf("the retry: %+v %v, want the board's block at 2, not a new one", b, err)
				}
				if c, err := l.Allocate(ctx, "s", "0xb2", "st"); err != nil || c.Base != 3 {
					t.Fatalf("the next board: %+v %v, want 3", c, err)
				}
				checkInvariants(t, direct)
			})
		}
	}

	// Dropped after the allocation, before the board's block is marked
	// burned: it stays reserved for that board, handed to no other; the
	// mark, once the network is back, makes it burned.
	for _, mode := range []pgtest.Mode{pgtest.Cut, pgtest.Blackhole} {
		t.Run("before the mark, "+mode.String(), func(t *testing.T) {
			direct, l := setup(t, false)
			if _, err := l.Allocate(ctx, "s", "0xb1", "st"); err != nil {
				t.Fatal(err)
			}
			px.Set(mode)
			if err := bounded(t, px, "mark burned", func() error { return l.MarkBurned(ctx, "s", "0xb1") }); err == nil {
				t.Fatal("marked burned with the network down")
			}
			px.Set(pgtest.Pass)
			if b, err := l.Allocate(ctx, "s", "0xb2", "st"); err != nil || b.Base != 2 {
				t.Fatalf("the next board: %+v %v, want 2 (1 is still the first board's)", b, err)
			}
			if b, ok := checkInvariants(t, direct).Board("s", "0xb1"); !ok || b.Base != 1 || b.State != Reserved {
				t.Fatalf("the first board's block: %+v %v", b, ok)
			}
			if err := l.MarkBurned(ctx, "s", "0xb1"); err != nil {
				t.Fatal(err)
			}
			if b, _ := checkInvariants(t, direct).Board("s", "0xb1"); b.State != Burned {
				t.Fatalf("after the mark: %+v", b)
			}
		})
	}

	// A blackholed network while connecting: Open fails within the
	// bound (connect_timeout is not set in the URL).
	t.Run("blackhole at connect", func(t *testing.T) {
		_, l := setup(t, false)
		l.Close()
		px.Set(pgtest.Blackhole)
		err := bounded(t, px, "open", func() error {
			l, err := Open(ctx, px.URL(fmt.Sprintf("drop%d", n)))
			if err == nil {
				l.Close()
			}
			return err
		})
		if err == nil {
			t.Fatal("opened a ledger through a blackholed network")
		}
		px.Set(pgtest.Pass)
	})
}

// OTPPROV_LEDGER_TIMEOUT must be a duration: anything else is refused
// before connecting.
func TestAnswerTimeoutSetting(t *testing.T) {
	t.Setenv("OTPPROV_LEDGER_TIMEOUT", "soon")
	if _, err := Open(context.Background(), "postgres:///x?host=/nonexistent"); !errors.Is(err, ErrURL) {
		t.Fatalf("a bad OTPPROV_LEDGER_TIMEOUT: %v", err)
	}
	t.Setenv("OTPPROV_LEDGER_TIMEOUT", "")
	if d, err := answerTimeout(); d != AnswerTimeout || err != nil {
		t.Fatalf("the default: %v %v", d, err)
	}
}
