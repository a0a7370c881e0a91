package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/internal/pgtest"
)

// The line's database is a real PostgreSQL server, stopped and crashed
// around applies: with the database down an apply burns nothing; values
// committed before a crash (kill -9 of every server process) are the
// board's after it; a board applied again gets the same values.
func TestApplyLedgerPostgresDown(t *testing.T) {
	srv := pgtest.New(t, pgtest.Durable())
	url := srv.URL()
	dir := t.TempDir()
	pools, m := serialLine(t, dir, "1000-1999")
	s := &session{t: t, environ: map[string]string{}}
	ctx := context.Background()
	if code := s.run(ctx, nil, "ledger", "init", "--ledger", url, pools); code != exitOK {
		t.Fatalf("ledger init: %d %s", code, &s.stderr)
	}
	board := func(name, id string) string {
		d := filepath.Join(dir, name)
		if code := s.run(ctx, nil, "sim", "init", "--soc", "imx8mm", "--unique-id", id, d); code != exitOK {
			t.Fatal(&s.stderr)
		}
		return "sim:" + d
	}
	b1, b2 := board("b1", "0x1"), board("b2", "0x2")
	counters := func(b string) string {
		c, _ := os.ReadFile(filepath.Join(strings.TrimPrefix(b, "sim:"), "counters.json"))
		return string(c)
	}

	// Down: refused before the device is written.
	srv.Stop(t)
	if code := s.run(ctx, nil, "apply", "--auto-approve", "--ledger", url, "--device", b1, m); code != exitError {
		t.Fatalf("apply with the database down: exit %d, want 1: %s", code, &s.stderr)
	}
	if !strings.Contains(counters(b1), `"writes":0`) {
		t.Fatalf("the board was written with the database down: %s", counters(b1))
	}

	// Up: board 1 gets 1000; then every server process is killed and the
	// server started again: the value is still board 1's, board 2 gets
	// the next, and board 1 applied again burns nothing new.
	srv.Start(t)
	if code := s.run(ctx, nil, "apply", "--auto-approve", "--ledger", url, "--device", b1, m); code != exitOK {
		t.Fatalf("apply: %d %s", code, &s.stderr)
	}
	if !strings.Contains(s.stdout.String(), "0x000003e8") {
		t.Fatalf("board 1 did not get 1000:\n%s", &s.stdout)
	}
	srv.Kill(t)
	srv.Start(t)
	if code := s.run(ctx, nil, "apply", "--auto-approve", "--ledger", url, "--device", b2, m); code != exitOK || !strings.Contains(s.stdout.String(), "0x000003e9") {
		t.Fatalf("board 2 after the crash: %d\n%s%s", code, &s.stdout, &s.stderr)
	}
	if code := s.run(ctx, nil, "apply", "--auto-approve", "--ledger", url, "--device", b1, m); code != exitOK || !strings.Contains(s.stdout.String(), "No changes") {
		t.Fatalf("board 1 again: %d\n%s%s", code, &s.stdout, &s.stderr)
	}
	if code := s.run(ctx, nil, "ledger", "status", "--ledger", url); code != exitOK || !strings.Contains(s.stdout.String(), "serial  1000  2       0") {
		t.Fatalf("status: %d\n%s%s", code, &s.stdout, &s.stderr)
	}
}
