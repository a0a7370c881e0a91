package ledger

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
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
			// Killed once each station has reported a few allocations, a
			// few more each round: mid-stream whatever the machine's
			// load, never before any commit (a fixed sleep was both).
			for _, line := range killedRound(t, url, round, 4, 3+2*round) {
				board, v, _ := strings.Cut(line, " ")
				value, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					t.Fatalf("station printed %q", line)
				}
				if prev, ok := seen[board]; ok && prev != value {
					t.Fatalf("board %s got %d, then %d", board, prev, value)
				}
				seen[board] = value
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

// killedRound starts stations allocating without end, reads their reports
// as they come, and kills each (SIGKILL) once it has reported at least
// reported allocations; it returns every whole line they printed, those
// after the kill signal included. A station that stops or stays
// silent for the deadline fails the test: the kill would prove nothing.
func killedRound(t *testing.T, url string, round, stations, reported int) []string {
	t.Helper()
	type report struct {
		station int
		line    string
		end     bool
	}
	reports := make(chan report)
	stop := make(chan struct{})
	defer close(stop)
	cmds := make([]*exec.Cmd, stations)
	errs := make([]*strings.Builder, stations)
	defer func() {
		for _, c := range cmds {
			if c != nil && c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}
	}()
	for s := range cmds {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), "OTPPROV_LEDGER_CHILD="+url, "OTPPROV_LEDGER_STATION="+fmt.Sprintf("r%d-s%d", round, s), "OTPPROV_LEDGER_COUNT=100000", "OTPPROV_LEDGER_FLUSH=1")
		errs[s] = &strings.Builder{}
		c.Stderr = errs[s]
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[s] = c
		go func(s int) {
			r := bufio.NewReader(out)
			for {
				// A line cut by the kill (no newline) is not a whole report.
				line, err := r.ReadString('\n')
				rep := report{station: s, line: strings.TrimSuffix(line, "\n"), end: err != nil}
				if err != nil {
					rep.line = ""
				}
				select {
				case reports <- rep:
				case <-stop:
					return
				}
				if err != nil {
					return
				}
			}
		}(s)
	}
	var lines []string
	counts := make([]int, stations)
	killed := make([]bool, stations)
	deadline := time.After(2 * time.Minute)
	for ended := 0; ended < stations; {
		select {
		case rep := <-reports:
			s := rep.station
			if rep.end {
				ended++
				if !killed[s] {
					t.Fatalf("round %d: station %d ended before its kill, after %d reports: %s", round, s, counts[s], errs[s])
				}
				continue
			}
			lines = append(lines, rep.line)
			if counts[s]++; counts[s] >= reported && !killed[s] {
				// Each station on its own: the others go on allocating,
				// and one starved of the database's lock gets it. A
				// moment later, at random: anywhere in a transaction.
				time.AfterFunc(rand.N(20*time.Millisecond), func() { cmds[s].Process.Kill() })
				killed[s] = true
			}
		case <-deadline:
			t.Fatalf("round %d: reports after 2 minutes: %v, want %d each", round, counts, reported)
		}
	}
	for _, c := range cmds {
		c.Wait()
	}
	return lines
}
