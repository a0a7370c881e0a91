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
			if strings.Contains(line, "LOG:  duration:") && (strings.Contains(line, " statement: ") || strings.Contains(line, " execute ")) {
				n++
			}
		}
		return n
	}
	allocate := func(board string) {
		t.Helper()
		if _, err := l.Allocate(ctx, "s", board, "station-1"); err != nil {
			t.Fatal(err)
		}
	}
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
		before := trips()
		for i := 0; i < n; i++ {
			allocate(c.board(i))
		}
		// The log is written as the server goes: wait for the last line.
		got := trips() - before
		for try := 0; got < n*c.trips && try < 100; try++ {
			time.Sleep(10 * time.Millisecond)
			got = trips() - before
		}
		if got != n*c.trips {
			t.Errorf("%s: %d round trips for %d allocations, want %d each\n%s", c.what, got, n, c.trips, s.Log())
		}
	}
}
