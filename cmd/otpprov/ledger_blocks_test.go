package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/internal/pgtest"
)

// blockFixture reserves a block of pool b for the station st1 (b.block),
// imports it into station.db, returns it (b.return) and takes the return
// back once, so that every run of the block cases prints the same.
func blockFixture(t *testing.T, s *session, dir string) {
	t.Helper()
	ledger, station := "sqlite:"+filepath.Join(dir, "ledger.db"), "sqlite:"+filepath.Join(dir, "station.db")
	block, ret := filepath.Join(dir, "b.block"), filepath.Join(dir, "b.return")
	for _, args := range [][]string{
		{"ledger", "reserve", "--ledger", ledger, "--pool", "b", "--count", "2", "--station", "st1", "--out", block},
		{"ledger", "import-block", "--ledger", station, "--station", "st1", block},
		{"ledger", "return-block", "--ledger", station, "--out", ret, block},
		{"ledger", "return", "--ledger", ledger, ret},
	} {
		if code := s.run(context.Background(), nil, args...); code != exitOK {
			t.Fatalf("fixture %v: exit %d: %s", args, code, &s.stderr)
		}
	}
}

// The line's ledger on a real PostgreSQL server, a station's on SQLite:
// a block reserved on the line, applied from offline, returned; the
// line's own board never gets a value of the block, and after the
// return the line knows the station's board.
func TestBlocksPostgresLine(t *testing.T) {
	line := pgtest.Shared(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pools := write("pools.yaml", "apiVersion: otpprov/v1\nkind: IdentityPools\nmetadata: {name: p}\npools:\n  serial: {type: u32, ranges: [\"1000-1999\"]}\n")
	m := write("m.yaml", "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: m}\nsoc: imx8mm\nvariables:\n  serial: {type: u32, pool: serial}\nfuses:\n  - {bank: 14, word: 1, value: \"${serial}\"}\n")
	station := "sqlite:" + filepath.Join(dir, "st.db")
	block, ret := filepath.Join(dir, "b.block"), filepath.Join(dir, "b.return")
	s := &session{t: t, environ: map[string]string{}}
	ctx := context.Background()
	must := func(want string, args ...string) {
		t.Helper()
		if code := s.run(ctx, nil, args...); code != exitOK || !strings.Contains(s.stdout.String(), want) {
			t.Fatalf("%v: exit %d, want %q in stdout:\n%s%s", args, code, want, &s.stdout, &s.stderr)
		}
	}
	board := func(name, id string) string {
		d := filepath.Join(dir, name)
		must("", "sim", "init", "--soc", "imx8mm", "--unique-id", id, d)
		return "sim:" + d
	}
	c1, s1 := board("c1", "0x1"), board("s1", "0x11")
	must("created the ledger", "ledger", "init", "--ledger", line, pools)
	must("reserved 3 units of pool serial (3 values) for the station st1", "ledger", "reserve", "--ledger", line, "--pool", "serial", "--count", "3", "--station", "st1", "--out", block)
	must("imported the block", "ledger", "import-block", "--ledger", station, "--station", "st1", block)
	must("burn    0x000003e8", "apply", "--auto-approve", "--ledger", station, "--device", s1, m)
	must("burn    0x000003eb", "apply", "--auto-approve", "--ledger", line, "--device", c1, m)
	must("", "ledger", "return-block", "--ledger", station, "--out", ret, block)
	must("1 boards' values recorded, 2 values free again", "ledger", "return", "--ledger", line, ret)
	must("0x0000000000000011  burned", "ledger", "find", "--ledger", line, "1000")
	must("serial  1000  2       0         0         0         998   0", "ledger", "status", "--ledger", line)
}
