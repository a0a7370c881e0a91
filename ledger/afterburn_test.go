package ledger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// AfterBurn marks the blocks and copies the records in one transaction;
// a record the ledger does not take leaves the marks in all the same: a
// conflict (checked before any statement fails), and a record the
// database refuses (on PostgreSQL a failed statement aborts the whole
// transaction, marks included: they must go again alone).
func TestAfterBurn(t *testing.T) { backends(t, testAfterBurn) }

func testAfterBurn(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, "  serial: {type: u32, ranges: [\"1-100\"]}\n")
	state := func(id string) string {
		t.Helper()
		es, err := l.Entries(ctx, Filter{UniqueID: id})
		if err != nil || len(es) != 1 {
			t.Fatalf("entries of %s: %+v %v", id, es, err)
		}
		return es[0].State
	}
	block := func(id string) Block {
		t.Helper()
		b, err := l.Allocate(ctx, "serial", id, "station-1")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	path, restored := filepath.Join(dir, "j.jsonl"), filepath.Join(dir, "restored.jsonl")

	// Both in.
	recs := attempt(t, path, true) // seq 1-2
	taken, recErr, err := l.AfterBurn(ctx, []Block{block("0x1")}, recs, ViaApply)
	if err != nil || recErr != nil || taken != 2 || state("0x1") != Burned {
		t.Fatalf("marks and records: taken %d, %v, %v, %s", taken, recErr, err, state("0x1"))
	}
	if cs := chains(t, l); len(cs) != 1 || cs[0].Records != 2 {
		t.Fatalf("records after AfterBurn: %+v", cs)
	}

	// A conflict at seq 3: the journal restored from a copy.
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(restored, b, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // records of another time: other digests
	if _, _, err := l.AfterBurn(ctx, nil, attempt(t, path, true), ViaApply); err != nil {
		t.Fatal(err)
	}
	theirs := attempt(t, restored, false)
	taken, recErr, err = l.AfterBurn(ctx, []Block{block("0x2")}, theirs, ViaApply)
	if err != nil || !errors.Is(recErr, ErrRecordConflict) || taken != 0 || state("0x2") != Burned {
		t.Fatalf("marks with a conflicting record: taken %d, %v, %v, %s", taken, recErr, err, state("0x2"))
	}

	// A record the database refuses: PostgreSQL takes no NUL in text.
	// (SQLite does: there it goes in, and the marks with it.)
	bad := attempt(t, filepath.Join(dir, "other.jsonl"), false)
	bad[0].Line = append(bytes.Clone(bad[0].Line), 0)
	bad[0].Record.Host = "station\x00"
	taken, recErr, err = l.AfterBurn(ctx, []Block{block("0x3")}, bad, ViaApply)
	if err != nil || state("0x3") != Burned {
		t.Fatalf("marks with a record the database refuses: %v, %s", err, state("0x3"))
	}
	if l.Dialect() == Postgres && (recErr == nil || taken != 0) {
		t.Fatalf("PostgreSQL took a record with a NUL: taken %d, %v", taken, recErr)
	}
	if l.Dialect() == SQLite && (recErr != nil || taken != 1) {
		t.Fatalf("SQLite refused a record with a NUL: taken %d, %v", taken, recErr)
	}
}
