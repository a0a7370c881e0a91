package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpprov/otpprov/journal"
)

// attempt appends one apply attempt to the journal at path (an intent
// and an outcome when it burns, one refused outcome otherwise) and
// returns the records appended, as BeginWith hands them on.
func attempt(t *testing.T, path string, burns bool) []journal.Appended {
	t.Helper()
	var got []journal.Appended
	rec := journal.Record{Host: "station-1", ToolVersion: "test", Command: "apply", Device: "sim:b", UniqueID: "0x1",
		Words: []journal.Word{{Bank: 9, Word: 0, Offset: 0x90, WriteOffset: 0x90, Before: "0x00000000", Delta: "0x00000001", Status: "skipped"}}}
	a, _, err := journal.BeginWith(context.Background(), path, rec, nil, func(x journal.Appended) { got = append(got, x) })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	outcome, code := "refused", 1
	if burns {
		if err := a.Intend(context.Background()); err != nil {
			t.Fatal(err)
		}
		a.Words[0].Status, a.Words[0].After = "verified", "0x00000001"
		outcome, code = "applied", 0
	}
	if err := a.Finish(context.Background(), outcome, code, ""); err != nil {
		t.Fatal(err)
	}
	return got
}

func importFile(t *testing.T, l *Ledger, path string) (ImportReport, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return l.Import(context.Background(), f)
}

func chains(t *testing.T, l *Ledger) []Chain {
	t.Helper()
	cs, err := l.Chains(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// A database of version 1 (before records) is refused by Open, with what
// to do, and upgraded by Init, keeping what it held; records then go in.
func TestUpgradeFromVersion1(t *testing.T) { backends(t, testUpgradeFromVersion1) }

func testUpgradeFromVersion1(t *testing.T, url string) {
	ctx := context.Background()
	old, err := open(ctx, url, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range migrations[1] {
		if _, err := old.db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.db.ExecContext(ctx, `INSERT INTO otpprov_pools (name, type, per_unit, reuse, low_water) VALUES ('eth', 'mac', 2, 0, 10)`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if _, err := Open(ctx, url); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), fmt.Sprintf("version 1, this otpprov's is %d: upgrade it with otpprov ledger init", SchemaVersion)) {
		t.Fatalf("Open of a version 1 ledger: %v", err)
	}
	l, rep, err := Init(ctx, url, pools(t, "  serial: {type: u32, ranges: [\"1-100\"]}\n"))
	if err != nil || rep.FromVersion != 1 || len(rep.Added) != 1 {
		t.Fatalf("Init of a version 1 ledger: %+v %v", rep, err)
	}
	defer l.Close()
	if v, err := l.version(ctx); err != nil || v != SchemaVersion {
		t.Fatalf("version after the upgrade: %d %v", v, err)
	}
	var n int
	if err := l.db.QueryRowContext(ctx, `SELECT count(*) FROM otpprov_pools WHERE name = 'eth'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the version 1 pool after the upgrade: %d %v", n, err)
	}
	for _, a := range attempt(t, filepath.Join(t.TempDir(), "j.jsonl"), true) {
		if added, err := l.Record(ctx, a, ViaApply); err != nil || !added {
			t.Fatalf("record after the upgrade: %v %v", added, err)
		}
	}
}

// Records copied live are held once: the same record again, or the
// journal imported after them, adds nothing. Records missing in the
// ledger (a station without it for a while) are a gap, which Chains
// shows and an import fills.
func TestRecordsAndImport(t *testing.T) { backends(t, testRecordsAndImport) }

func testRecordsAndImport(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, "  serial: {type: u32, ranges: [\"1-100\"]}\n")
	path := filepath.Join(t.TempDir(), "j.jsonl")
	offline := append(attempt(t, path, true), attempt(t, path, false)...) // seq 1-3, not in the ledger
	live := attempt(t, path, true)                                        // seq 4-5
	for _, a := range live {
		if added, err := l.Record(ctx, a, ViaApply); err != nil || !added {
			t.Fatalf("record seq %d: %v %v", a.Record.Seq, added, err)
		}
		if added, err := l.Record(ctx, a, ViaApply); err != nil || added {
			t.Fatalf("record seq %d again: %v %v", a.Record.Seq, added, err)
		}
	}
	cs := chains(t, l)
	if len(cs) != 1 || cs[0].Chain != offline[0].LineDigest() || cs[0].Records != 2 || cs[0].Last != 5 || cs[0].Missing() != 3 || cs[0].Station != "station-1" {
		t.Fatalf("chains after the live records: %+v", cs)
	}
	rep, err := importFile(t, l, path)
	if err != nil || rep.Records != 5 || rep.Added != 3 || rep.Chain != cs[0].Chain {
		t.Fatalf("import: %+v %v", rep, err)
	}
	if cs := chains(t, l); cs[0].Records != 5 || cs[0].Missing() != 0 {
		t.Fatalf("chains after the import: %+v", cs)
	}
	rep, err = importFile(t, l, path)
	if err != nil || rep.Records != 5 || rep.Added != 0 {
		t.Fatalf("import again: %+v %v", rep, err)
	}
	// What the ledger holds is the line, its kind and board.
	var kind, line, via, station string
	if err := l.db.QueryRowContext(ctx, l.q(`SELECT kind, record, via, station FROM otpprov_records WHERE seq = $1`), 4).Scan(&kind, &line, &via, &station); err != nil {
		t.Fatal(err)
	}
	if kind != journal.KindIntent || line != string(live[0].Line) || via != ViaApply || station != "station-1" {
		t.Errorf("seq 4 held as %s %s %s %q", kind, via, station, line)
	}
	// A journal of more records than one batch.
	big := filepath.Join(t.TempDir(), "big.jsonl")
	for i := 0; i < importBatch/2+1; i++ {
		attempt(t, big, true)
	}
	rep, err = importFile(t, l, big)
	if err != nil || rep.Records != importBatch+2 || rep.Added != rep.Records {
		t.Fatalf("import of %d records: %+v %v", importBatch+2, rep, err)
	}
	if cs := chains(t, l); len(cs) != 2 {
		t.Fatalf("two journals, chains %+v", cs)
	}
}

// A journal edited after the fact is refused whole: nothing is loaded.
func TestImportRefusesAnEditedJournal(t *testing.T) { backends(t, testImportRefusesAnEditedJournal) }

func testImportRefusesAnEditedJournal(t *testing.T, url string) {
	l := initLedger(t, url, "  serial: {type: u32, ranges: [\"1-100\"]}\n")
	path := filepath.Join(t.TempDir(), "j.jsonl")
	attempt(t, path, true)
	attempt(t, path, true)
	b, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines[2] = bytes.Replace(lines[2], []byte(`"uniqueId":"0x1"`), []byte(`"uniqueId":"0x2"`), 1)
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := importFile(t, l, path)
	var je *journal.Error
	if !errors.As(err, &je) || je.Line != 3 || !strings.Contains(err.Error(), "edited") {
		t.Fatalf("import of an edited journal: %v", err)
	}
	if cs := chains(t, l); len(cs) != 0 {
		t.Fatalf("records loaded from a journal that does not verify: %+v", cs)
	}
}

// A journal rewritten after the ledger took its records (restored from
// an older copy, then appended to) disagrees with the ledger: at the same
// seq, or with the record before or after it. Each is refused, naming
// both records' digests.
func TestRecordConflicts(t *testing.T) { backends(t, testRecordConflicts) }

func testRecordConflicts(t *testing.T, url string) {
	ctx := context.Background()
	dir := t.TempDir()
	path, restored := filepath.Join(dir, "j.jsonl"), filepath.Join(dir, "restored.jsonl")
	attempt(t, path, true) // seq 1-2
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(restored, b, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)          // records of another time: other digests
	ours := attempt(t, path, true)        // seq 3-4
	theirs := attempt(t, restored, false) // seq 3, another record

	// The same seq.
	l := initLedger(t, url, "  serial: {type: u32, ranges: [\"1-100\"]}\n")
	if _, err := importFile(t, l, path); err != nil {
		t.Fatal(err)
	}
	_, err := importFile(t, l, restored)
	if !errors.Is(err, ErrRecordConflict) || !strings.Contains(err.Error(), "record seq 3 of journal "+short(ours[0].Chain)+" (station station-1) is "+theirs[0].Record.Digest+" in the journal and "+ours[0].Record.Digest+" in the ledger") {
		t.Fatalf("import of the restored journal: %v", err)
	}
	if cs := chains(t, l); cs[0].Records != 4 {
		t.Fatalf("after the refused import: %+v", cs)
	}

	// The record before: the ledger has the restored journal's seq 3,
	// and the station's seq 4 follows its own seq 3.
	l2 := initLedger(t, pgOrSQLite(t, url), "  serial: {type: u32, ranges: [\"1-100\"]}\n")
	if _, err := importFile(t, l2, restored); err != nil {
		t.Fatal(err)
	}
	_, err = l2.Record(ctx, ours[1], ViaApply)
	if !errors.Is(err, ErrRecordConflict) || !strings.Contains(err.Error(), "record seq 4 of journal") || !strings.Contains(err.Error(), "the ledger's seq 3 ("+theirs[0].Record.Digest+")") {
		t.Fatalf("a record after another seq 3: %v", err)
	}

	// The record after: the ledger has the station's seq 4 only; the
	// restored journal's seq 3 does not precede it.
	l3 := initLedger(t, pgOrSQLite(t, url), "  serial: {type: u32, ranges: [\"1-100\"]}\n")
	if _, err := l3.Record(ctx, ours[1], ViaApply); err != nil {
		t.Fatal(err)
	}
	_, err = l3.Record(ctx, theirs[0], ViaImport)
	if !errors.Is(err, ErrRecordConflict) || !strings.Contains(err.Error(), "the ledger's record seq 4") || !strings.Contains(err.Error(), theirs[0].Record.Digest) {
		t.Fatalf("a record before another seq 4: %v", err)
	}
	if cs := chains(t, l3); cs[0].Records != 1 {
		t.Fatalf("after the refused record: %+v", cs)
	}
}

// pgOrSQLite is a fresh database of the same kind as url.
func pgOrSQLite(t *testing.T, url string) string {
	if strings.HasPrefix(url, "sqlite:") {
		return sqliteURL(t)
	}
	return pgShared(t)
}
