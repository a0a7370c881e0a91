package ledger

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otpprov/otpprov/internal/pgtest"
)

// On PostgreSQL each statement is a round trip, which is most of what an
// allocation costs against a bare counter update (BenchmarkAllocate): an
// allocation of a new block takes BEGIN, one statement for the pool and
// the board's block, one for the cursor and the block, COMMIT; a board
// that has its block, one statement fewer. Counted in the server's log
// of every statement (each extended-protocol statement logs its bind and
// its execute, sent together: the execute is counted).
func TestAllocateRoundTrips(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	l := initLedger(t, s.URL(), "  s: {type: u32, ranges: [\"1-1000\"]}\n")
	for _, stmt := range []string{`ALTER SYSTEM SET log_min_duration_statement = 0`, `SELECT pg_reload_conf()`} {
		if _, err := l.db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	trips := func() int {
		n := 0
		for _, line := range strings.Split(s.Log(), "\n") {
			if strings.Contains(line, "LOG:  duration:") && (strings.Contains(line, " statement: ") || strings.Contains(line, " execute ")) &&
				!strings.Contains(line, "otpprov-mark-") {
				n++
			}
		}
		return n
	}
	// mark runs a statement of its own and waits until the log shows it:
	// the reload has taken effect (pg_reload_conf only signals it), and
	// every statement before it is in the log (the log is written as the
	// server goes). It returns the round trips counted then.
	marks := 0
	mark := func() int {
		t.Helper()
		marks++
		tag := fmt.Sprintf("otpprov-mark-%d", marks)
		for try := 0; ; try++ {
			if _, err := l.db.ExecContext(ctx, "SELECT '"+tag+"'"); err != nil {
				t.Fatal(err)
			}
			for wait := 0; wait < 50 && !strings.Contains(s.Log(), tag); wait++ {
				time.Sleep(10 * time.Millisecond)
			}
			if strings.Contains(s.Log(), tag) {
				return trips()
			}
			if try == 20 {
				t.Fatalf("the server's log never showed %s:\n%s", tag, s.Log())
			}
		}
	}
	allocate := func(board string) {
		t.Helper()
		if _, err := l.Allocate(ctx, "s", board, "station-1"); err != nil {
			t.Fatal(err)
		}
	}
	mark()
	allocate("warm") // the driver prepares each statement once per connection
	const n = 10
	for _, c := range []struct {
		what  string
		board func(i int) string
		trips int
	}{
		{"a new block", func(i int) string { return fmt.Sprint("new-", i) }, 4},
		{"the board's block again", func(i int) string { return fmt.Sprint("new-", i) }, 3},
	} {
		before := mark()
		for i := 0; i < n; i++ {
			allocate(c.board(i))
		}
		got := mark() - before
		if got != n*c.trips {
			t.Errorf("%s: %d round trips for %d allocations, want %d each\n%s", c.what, got, n, c.trips, s.Log())
		}
	}
}
