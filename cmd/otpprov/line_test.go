package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpprov/otpprov/internal/pgtest"
)

// A line on PostgreSQL, as `make demo` runs one on SQLite: stations are
// otpprov processes applying examples/line/unit.yaml at once, each board
// reached by three stations, some at the same moment (the board's lock
// refuses the second writer, which tries again). Afterwards every board
// holds one block of each pool, no value is on two boards, and each board
// verifies against the ledger's values.
func TestLineOnPostgres(t *testing.T) {
	url := pgtest.Shared(t)
	bin, err := exec.LookPath("otpprov")
	if err != nil {
		t.Fatalf("the otpprov test binary is not on PATH: %v", err)
	}
	examples, err := filepath.Abs("../../examples/line")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(examples, "unit.yaml")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	otpprov := func(args ...string) (int, string, string) {
		cmd := exec.CommandContext(ctx, bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Env = append(cmd.Environ(), "NO_COLOR=1", "OTPPROV_LEDGER="+url)
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Errorf("otpprov %s: %v", strings.Join(args, " "), err)
			code = -1
		}
		return code, stdout.String(), stderr.String()
	}
	if code, _, stderr := otpprov("ledger", "init", filepath.Join(examples, "pools.yaml")); code != 0 {
		t.Fatalf("ledger init: exit %d\n%s", code, stderr)
	}
	const boards, stations = 6, 4
	sims := make([]string, boards)
	for b := range sims {
		sims[b] = "sim:" + filepath.Join(dir, fmt.Sprintf("unit%d", b))
		if code, _, stderr := otpprov("sim", "init", "--soc", "imx8mm", "--unique-id", fmt.Sprintf("0x%x", 0x5eed0000+b), strings.TrimPrefix(sims[b], "sim:")); code != 0 {
			t.Fatalf("sim init: %s", stderr)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	retries := 0
	for s := range stations {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 {
				b := (s + i) % boards
				for try := 0; ; try++ {
					code, stdout, stderr := otpprov("apply", "--auto-approve", "--device", sims[b], unit)
					if code == 0 {
						break
					}
					// Another station holds the board: it said so, and
					// wrote nothing; try again.
					if code == 1 && strings.Contains(stderr, "lock") && try < 50 {
						mu.Lock()
						retries++
						mu.Unlock()
						time.Sleep(20 * time.Millisecond)
						continue
					}
					t.Errorf("station %d, board %d: exit %d\n%s%s", s, b, code, stdout, stderr)
					return
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d applies refused by a board's lock and tried again", retries)
	if t.Failed() {
		return
	}

	code, stdout, stderr := otpprov("ledger", "export", "--format", "json")
	if code != 0 {
		t.Fatalf("ledger export: exit %d\n%s", code, stderr)
	}
	var doc struct {
		Entries []struct {
			Pool     string   `json:"pool"`
			Values   []string `json:"values"`
			UniqueID string   `json:"uniqueId"`
			State    string   `json:"state"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("ledger export: %v\n%s", err, stdout)
	}
	blocks := map[string]int{} // board/pool -> blocks
	owner := map[string]string{}
	for _, e := range doc.Entries {
		if e.State != "burned" {
			t.Errorf("%s %v of %s is %s after a verified apply, want burned", e.Pool, e.Values, e.UniqueID, e.State)
		}
		blocks[e.UniqueID+"/"+e.Pool]++
		for _, v := range e.Values {
			if o, dup := owner[v]; dup {
				t.Errorf("%s is on %s and on %s", v, o, e.UniqueID)
			}
			owner[v] = e.UniqueID
		}
	}
	t.Logf("%d blocks, %d values", len(doc.Entries), len(owner))
	if len(blocks) != 2*boards {
		t.Errorf("%d board/pool blocks for %d boards of 2 pools: %v", len(blocks), boards, blocks)
	}
	for k, n := range blocks {
		if n != 1 {
			t.Errorf("%s has %d blocks, want 1", k, n)
		}
	}
	// What each board holds is what the ledger says it holds.
	for _, sim := range sims {
		if code, stdout, stderr := otpprov("verify", "--device", sim, unit); code != 0 {
			t.Errorf("verify --ledger %s: exit %d\n%s%s", sim, code, stdout, stderr)
		}
	}
}
