package ledger

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The child side of TestAllocateProcesses: a station of its own process,
// allocating for the boards it is given and printing each value.
func init() {
	url := os.Getenv("OTPPROV_LEDGER_CHILD")
	if url == "" {
		return
	}
	ctx := context.Background()
	l, err := Open(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	station := os.Getenv("OTPPROV_LEDGER_STATION")
	n, _ := strconv.Atoi(os.Getenv("OTPPROV_LEDGER_COUNT"))
	w := bufio.NewWriter(os.Stdout)
	for i := 0; i < n; i++ {
		// Every third board is shared by all stations: they must agree.
		board := fmt.Sprintf("%s-%d", station, i)
		if i%3 == 0 {
			board = fmt.Sprintf("shared-%d", i)
		}
		b, err := l.Allocate(ctx, "s", board, station)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(w, "%s %d\n", board, b.Base)
		if os.Getenv("OTPPROV_LEDGER_FLUSH") != "" {
			w.Flush() // killed at any moment: say each value as soon as it is committed
		}
	}
	w.Flush()
	l.Close()
	os.Exit(0)
}

// Stations as separate processes, each with its own connection, all
// allocating at once (8 x 250, as the issue asks): every board gets one
// value, whoever asked, every value goes to one board, and the values
// handed out have no gap.
func TestAllocateProcesses(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		initLedger(t, url, "  s: {type: u32, ranges: [\"1-1000000\"]}\n")
		const stations, each = 8, 250
		cmds := make([]*exec.Cmd, stations)
		outs := make([]*strings.Builder, stations)
		for s := range cmds {
			c := exec.Command(os.Args[0], "-test.run=^$")
			c.Env = append(os.Environ(), "OTPPROV_LEDGER_CHILD="+url, "OTPPROV_LEDGER_STATION="+fmt.Sprint(s), "OTPPROV_LEDGER_COUNT="+fmt.Sprint(each))
			outs[s] = &strings.Builder{}
			c.Stdout, c.Stderr = outs[s], os.Stderr
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[s] = c
		}
		for s, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("station %d: %v", s, err)
			}
		}
		byBoard := map[string]uint64{}
		byValue := map[uint64]string{}
		for s, out := range outs {
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != each {
				t.Fatalf("station %d printed %d allocations, want %d", s, len(lines), each)
			}
			for _, line := range lines {
				board, v, _ := strings.Cut(line, " ")
				value, _ := strconv.ParseUint(v, 10, 64)
				if prev, ok := byBoard[board]; ok && prev != value {
					t.Fatalf("board %s got %d and %d", board, prev, value)
				}
				if prev, ok := byValue[value]; ok && prev != board {
					t.Fatalf("value %d went to %s and %s", value, prev, board)
				}
				byBoard[board], byValue[value] = value, board
			}
		}
		shared := (each + 2) / 3
		if want := stations*(each-shared) + shared; len(byBoard) != want {
			t.Fatalf("%d boards allocated, want %d", len(byBoard), want)
		}
		for v := uint64(1); v <= uint64(len(byBoard)); v++ {
			if byValue[v] == "" {
				t.Fatalf("gap: %d was never handed out (%d values)", v, len(byBoard))
			}
		}
	})
}

// Stations killed (SIGKILL) at random moments while allocating: whatever
// a station saw committed is in the ledger for that board, no value is
// live for two boards, every block lies below its range's cursor and the
// cursor leaves no gap; a station started again hands out what follows.
func TestAllocateKilled(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := context.Background()
		l := initLedger(t, url, "  s: {type: u32, ranges: [\"1-1000000\"]}\n")
		seen := map[string]uint64{} // board -> value, from the stations' output
		for round := 0; round < 6; round++ {
			const stations = 4
			cmds := make([]*exec.Cmd, stations)
			outs := make([]*strings.Builder, stations)
			for s := range cmds {
				c := exec.Command(os.Args[0], "-test.run=^$")
				c.Env = append(os.Environ(), "OTPPROV_LEDGER_CHILD="+url, "OTPPROV_LEDGER_STATION="+fmt.Sprintf("r%d-s%d", round, s), "OTPPROV_LEDGER_COUNT=100000", "OTPPROV_LEDGER_FLUSH=1")
				outs[s] = &strings.Builder{}
				c.Stdout = outs[s]
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				cmds[s] = c
			}
			time.Sleep(time.Duration(150+40*round) * time.Millisecond)
			for _, c := range cmds {
				c.Process.Kill()
			}
			for _, c := range cmds {
				c.Wait()
			}
			for _, out := range outs {
				// A line cut by the kill is not a whole report: leave it.
				for _, line := range strings.Split(out.String(), "\n") {
					board, v, ok := strings.Cut(line, " ")
					if !ok {
						continue
					}
					value, err := strconv.ParseUint(v, 10, 64)
					if err != nil {
						continue
					}
					if prev, ok := seen[board]; ok && prev != value {
						t.Fatalf("board %s got %d, then %d", board, prev, value)
					}
					seen[board] = value
				}
			}
		}
		if len(seen) < 20 {
			t.Fatalf("only %d allocations before the kills: the test tests little", len(seen))
		}
		es, err := l.Entries(ctx, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		byBoard, byValue := map[string]uint64{}, map[uint64]string{}
		for _, e := range es {
			if prev, ok := byValue[e.Base]; ok {
				t.Fatalf("value %d is live for %s and %s", e.Base, prev, e.UniqueID)
			}
			byValue[e.Base], byBoard[e.UniqueID] = e.UniqueID, e.Base
		}
		for board, v := range seen {
			if byBoard[board] != v {
				t.Fatalf("station saw %s get %d committed; the ledger holds %d", board, v, byBoard[board])
			}
		}
		var next int64
		if err := l.db.QueryRowContext(ctx, `SELECT next_free FROM otpprov_ranges`).Scan(&next); err != nil {
			t.Fatal(err)
		}
		if int64(len(es)) != next-1 {
			t.Fatalf("%d blocks, but the cursor is at %d: a gap or a block beyond it", len(es), next)
		}
		for v := uint64(1); v < uint64(next); v++ {
			if byValue[v] == "" {
				t.Fatalf("gap at %d below the cursor %d", v, next)
			}
		}
		b, err := l.Allocate(ctx, "s", "after-the-kills", "st")
		if err != nil || b.Base != uint64(next) {
			t.Fatalf("the next board: %+v %v, want %d", b, err, next)
		}
		t.Logf("%d allocations committed across 6 rounds of kills; %d seen by stations", len(es), len(seen))
	})
}
