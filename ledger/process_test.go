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
