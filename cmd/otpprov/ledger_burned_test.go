package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serialLine writes, into dir, the pools file and the SKU of the ledger's
// command tests: one pool, serial, over the range given ("1000-1999"),
// whose value goes to bank 14 word 1.
func serialLine(t *testing.T, dir, serialRange string) (pools, manifest string) {
	t.Helper()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pools = write("pools.yaml", "apiVersion: otpprov/v1\nkind: IdentityPools\nmetadata: {name: p}\npools:\n  serial: {type: u32, ranges: [\""+serialRange+"\"]}\n")
	manifest = write("m.yaml", "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: m}\nsoc: imx8mm\nvariables:\n  serial: {type: u32, pool: serial}\nfuses:\n  - {bank: 14, word: 1, value: \"${serial}\"}\n")
	return pools, manifest
}

// apply --ledger marks the board's block burned once its value is on the
// fuses, with --journal as without it. (With --journal the station
// closed the ledger with the journal, before the mark: the block stayed
// reserved for good, "sql: database is closed".)
func TestApplyLedgerMarksBurned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pools, m := serialLine(t, dir, "1000-1999")
	url := "sqlite:" + filepath.Join(dir, "line.db")
	s := &session{t: t, environ: map[string]string{}}
	ctx := context.Background()
	if code := s.run(ctx, nil, "ledger", "init", "--ledger", url, pools); code != exitOK {
		t.Fatalf("ledger init: %d %s", code, &s.stderr)
	}
	for i, journal := range []bool{false, true} {
		b := filepath.Join(dir, "b"+string(rune('1'+i)))
		if code := s.run(ctx, nil, "sim", "init", "--soc", "imx8mm", "--unique-id", "0x"+string(rune('1'+i)), b); code != exitOK {
			t.Fatal(&s.stderr)
		}
		args := []string{"apply", "--auto-approve", "--ledger", url, "--device", "sim:" + b}
		if journal {
			args = append(args, "--journal", filepath.Join(dir, "journal"))
		}
		if code := s.run(ctx, nil, append(args, m)...); code != exitOK || s.stderr.Len() != 0 {
			t.Fatalf("apply (journal %v): %d\n%s%s", journal, code, &s.stdout, &s.stderr)
		}
		if code := s.run(ctx, nil, "ledger", "show", "--ledger", url, "--unique-id", "0x000000000000000"+string(rune('1'+i))); code != exitOK || !strings.Contains(s.stdout.String(), " burned ") {
			t.Fatalf("after an apply (journal %v), the board's block is not burned: %d\n%s%s", journal, code, &s.stdout, &s.stderr)
		}
	}
}

// A board that arrives with a serial of the pool burned in a raw word
// (another line's, before the ledger) is adopted: the value is that
// board's, burned, and never handed to another board. (The manifest
// checked without values did not say which word a raw entry's variable
// goes to: nothing was adopted, the plan conflicted, and the ledger
// would hand that serial to the next board.)
func TestApplyLedgerAdoptsRawSerial(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pools, m := serialLine(t, dir, "1000-1001")
	url := "sqlite:" + filepath.Join(dir, "line.db")
	s := &session{t: t, environ: map[string]string{}}
	ctx := context.Background()
	if code := s.run(ctx, nil, "ledger", "init", "--ledger", url, pools); code != exitOK {
		t.Fatalf("ledger init: %d %s", code, &s.stderr)
	}
	b1, b2 := filepath.Join(dir, "b1"), filepath.Join(dir, "b2")
	for i, b := range []string{b1, b2} {
		if code := s.run(ctx, nil, "sim", "init", "--soc", "imx8mm", "--unique-id", "0x"+string(rune('1'+i)), b); code != exitOK {
			t.Fatal(&s.stderr)
		}
	}
	if code := s.run(ctx, nil, "write", "--device", "sim:"+b1, "--auto-approve", "14", "1", "1001"); code != exitOK {
		t.Fatalf("the serial burned before the line: %d %s", code, &s.stderr)
	}
	if code := s.run(ctx, nil, "apply", "--auto-approve", "--ledger", url, "--device", "sim:"+b1, m); code != exitOK || !strings.Contains(s.stdout.String(), "No changes") {
		t.Fatalf("apply on the board holding serial 1001: %d\n%s%s", code, &s.stdout, &s.stderr)
	}
	if code := s.run(ctx, nil, "ledger", "find", "--ledger", url, "1001"); code != exitOK || !strings.Contains(s.stdout.String(), "0x0000000000000001") || !strings.Contains(s.stdout.String(), " burned ") {
		t.Fatalf("serial 1001 is not board 1's, burned: %d\n%s%s", code, &s.stdout, &s.stderr)
	}
	if code := s.run(ctx, nil, "apply", "--auto-approve", "--ledger", url, "--device", "sim:"+b2, m); code != exitOK || !strings.Contains(s.stdout.String(), "0x000003e8") {
		t.Fatalf("board 2 must get 1000, never 1001: %d\n%s%s", code, &s.stdout, &s.stderr)
	}
}
