package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/ledgercheck"
	"github.com/otpprov/otpprov/internal/pgtest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

// A network drop between a station and its PostgreSQL ledger at each
// moment of an apply, cut (the station sees it at once) or blackholed
// (nothing comes back: only the ledger's answer timeout ends the wait):
// while allocating (the COMMIT lost, or its answer: the ambiguous
// commit), between the allocation and the burn, between the burn and
// marking the block burned, and while recording the journal's intent
// and outcome. After each: the apply ended within the bound, with the
// exit code the device's state calls for; no identity is on a board
// that the ledger does not hold as reserved or burned by that board;
// nothing is live for two boards and no value is skipped; and, the
// network back, the board applied again gets the same value and the
// next board the next one.
func TestApplyLedgerNetworkDrop(t *testing.T) {
	// Not t.Setenv, which forbids the parallel subtests: this test is
	// not parallel, so no other test runs until its subtests are done
	// and its cleanup has put the variable back.
	old, had := os.LookupEnv("OTPPROV_LEDGER_TIMEOUT")
	os.Setenv("OTPPROV_LEDGER_TIMEOUT", "1s")
	t.Cleanup(func() {
		if had {
			os.Setenv("OTPPROV_LEDGER_TIMEOUT", old)
		} else {
			os.Unsetenv("OTPPROV_LEDGER_TIMEOUT")
		}
	})
	srv := pgtest.New(t)
	imx8mm, err := fusemap.Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	serialAt := imx8mm.ReadIndex(14, 1)
	type dropCase struct {
		name    string
		journal bool
		trigger pgtest.Trigger // its Then is each mode in turn
		code    int            // the dropped apply's exit code
		burned  bool           // the dropped apply burned the board
	}
	commitSent := func(nth int) pgtest.Trigger {
		return pgtest.Trigger{Dir: pgtest.ToServer, Match: "commit\x00", Nth: nth, Before: true}
	}
	commitAnswer := func(nth int, before bool) pgtest.Trigger {
		return pgtest.Trigger{Dir: pgtest.ToClient, Match: "COMMIT\x00", Nth: nth, Before: before}
	}
	// The commits of an apply, in order: the allocation (all pools in
	// one), then with --journal the intent's record, the outcome's, and
	// last the mark burned.
	cases := []dropCase{
		{name: "allocation's COMMIT lost", trigger: commitSent(1), code: exitError},
		{name: "allocation's answer lost", trigger: commitAnswer(1, true), code: exitError},
		{name: "between allocation and burn", journal: true, trigger: commitAnswer(1, false), code: exitError},
		{name: "between burn and mark", trigger: commitAnswer(1, false), code: exitOK, burned: true},
		{name: "recording the intent", journal: true, trigger: commitSent(2), code: exitError},
		{name: "recording the outcome", journal: true, trigger: commitSent(3), code: exitOK, burned: true},
	}
	n := 0
	for _, c := range cases {
		for _, mode := range []pgtest.Mode{pgtest.Cut, pgtest.Blackhole} {
			n++
			name := fmt.Sprintf("line%d", n)
			t.Run(fmt.Sprintf("%s, %s", c.name, mode), func(t *testing.T) {
				t.Parallel()
				// A proxy of its own: its triggers see this station only.
				px := pgtest.NewProxy(t, srv)
				direct, via := srv.CreateDatabase(t, name), px.URL(name)
				dir := t.TempDir()
				pools, m := serialLine(t, dir, "1000-1999")
				s := &session{t: t, environ: map[string]string{}}
				ctx := context.Background()
				px.Set(pgtest.Pass)
				if code := s.run(ctx, nil, "ledger", "init", "--ledger", direct, pools); code != exitOK {
					t.Fatalf("ledger init: %d %s", code, &s.stderr)
				}
				boards := map[string]string{} // sim: -> its directory
				board := func(name, id string) string {
					d := filepath.Join(dir, name)
					if code := s.run(ctx, nil, "sim", "init", "--soc", "imx8mm", "--unique-id", id, d); code != exitOK {
						t.Fatal(&s.stderr)
					}
					boards["sim:"+d] = d
					return "sim:" + d
				}
				b1, b2 := board("b1", "0x1"), board("b2", "0x2")
				apply := func(b string) int {
					args := []string{"apply", "--auto-approve", "--ledger", via, "--device", b}
					if c.journal {
						args = append(args, "--journal", filepath.Join(dir, "journal"))
					}
					return s.run(ctx, nil, append(args, m)...)
				}
				// serial reads a board's serial word and UNIQUE_ID.
				serial := func(b string) (uint32, string) {
					sim, err := nvmem.OpenSim(boards[b], nvmem.ReadOnly)
					if err != nil {
						t.Fatal(err)
					}
					defer sim.Close()
					buf, err := nvmem.NewDevice(b, sim).ReadAll()
					if err != nil {
						t.Fatal(err)
					}
					state := nvmem.Words(buf)
					return state[serialAt], planner.UniqueID(imx8mm, state)
				}
				// check: the ledger's invariants, and every serial on a
				// board is held by that board; returns its block's state.
				check := func(b string) string {
					t.Helper()
					db, err := ledgercheck.Open(direct)
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					snap, err := ledgercheck.Check(ctx, db)
					if err != nil {
						t.Fatalf("ledger invariant: %v", err)
					}
					v, id := serial(b)
					blk, held := snap.Board("serial", id)
					if v != 0 {
						owner, ok := snap.Owner("serial", uint64(v))
						if !ok || owner.UniqueID != id {
							t.Fatalf("the board %s holds serial %d, which the ledger holds for %+v (%v)", id, v, owner, ok)
						}
					}
					if !held {
						return ""
					}
					return blk.State
				}

				tr := c.trigger
				tr.Then = mode
				px.On(&tr)
				done := make(chan int, 1)
				began := time.Now()
				go func() { done <- apply(b1) }()
				var code int
				select {
				case code = <-done:
				case <-time.After(20 * time.Second):
					px.Set(pgtest.Cut)
					<-done
					t.Fatalf("the apply still waited for the ledger 20 s after the drop (the answer timeout is 1 s): a station hangs")
				}
				t.Logf("the dropped apply: exit %d after %v\n%s", code, time.Since(began).Round(10*time.Millisecond), &s.stderr)
				select {
				case <-tr.Fired:
				default:
					t.Fatalf("the drop never happened (%+v): the test tested nothing", c.trigger)
				}
				if code != c.code {
					t.Fatalf("the dropped apply: exit %d, want %d\n%s%s", code, c.code, &s.stdout, &s.stderr)
				}
				if v, _ := serial(b1); (v != 0) != c.burned || (c.burned && v != 1000) {
					t.Fatalf("after the dropped apply the board holds serial %d, want burned %v (1000)", v, c.burned)
				}
				if st := check(b1); c.trigger.Dir == pgtest.ToServer && c.trigger.Nth == 1 {
					if st != "" {
						t.Fatalf("a COMMIT the server never got left the board a block (%s)", st)
					}
				} else if st != "reserved" {
					t.Fatalf("the board's block after the drop is %q, want reserved (allocated, never marked)", st)
				}

				// The network is back: the same board gets the same value,
				// marked burned, and the next board the next one.
				px.Set(pgtest.Pass)
				if code := apply(b1); code != exitOK {
					t.Fatalf("board 1 again: exit %d\n%s%s", code, &s.stdout, &s.stderr)
				}
				if v, _ := serial(b1); v != 1000 {
					t.Fatalf("board 1 holds %d after the network came back, want 1000", v)
				}
				if st := check(b1); st != "burned" {
					t.Fatalf("board 1's block is %q after a whole apply, want burned", st)
				}
				if code := apply(b2); code != exitOK {
					t.Fatalf("board 2: exit %d\n%s%s", code, &s.stdout, &s.stderr)
				}
				if v, _ := serial(b2); v != 1001 {
					t.Fatalf("board 2 holds %d, want 1001", v)
				}
				if st := check(b2); st != "burned" {
					t.Fatalf("board 2's block is %q, want burned", st)
				}
				if c.journal {
					// What the ledger missed of the journal, import adds.
					if code := s.run(ctx, nil, "ledger", "import", "--ledger", direct, filepath.Join(dir, "journal")); code != exitOK {
						t.Fatalf("ledger import: %d %s", code, &s.stderr)
					}
					if code := s.run(ctx, nil, "ledger", "status", "--ledger", direct); code != exitOK || strings.Contains(s.stderr.String(), "warning") {
						t.Fatalf("status after the import: %d\n%s%s", code, &s.stdout, &s.stderr)
					}
				}
			})
		}
	}
}
