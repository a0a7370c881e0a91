package ledger

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/journal"
	"github.com/otpprov/otpprov/manifest"
)

// unitDoc takes two MACs and a serial from the ledger: the MACs in bank
// 9 words 0-2, the serial in bank 14 word 1.
const unitDoc = "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: unit}\nsoc: imx8mm\nvariables:\n" +
	"  mac0: {type: mac, pool: eth}\n  mac1: {type: mac, pool: eth}\n  serial: {type: u32, pool: serial}\n" +
	"fuses:\n  - {field: MAC_ADDR0, value: \"${mac0}\"}\n  - {field: MAC_ADDR1, value: \"${mac1}\"}\n  - {bank: 14, word: 1, value: \"${serial}\"}\n"

const unitPools = "  eth: {type: mac, ranges: [\"00:04:9f:30:00:00-00:04:9f:30:00:ff\"], perUnit: 2}\n  serial: {type: u32, ranges: [\"1000-1999\"]}\n"

// planned allocates the board's values as plan --ledger does, footprint
// included.
func planned(t *testing.T, l *Ledger, id string) Unit {
	t.Helper()
	ctx := context.Background()
	fm, err := fusemap.Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	m0, err := manifest.ParseOpts("m.yaml", []byte(unitDoc), manifest.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := l.Values(ctx, m0, fm, make([]uint32, fm.Words), id, "st", true)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.ParseOpts("m.yaml", []byte(unitDoc), manifest.Options{Vars: u.Vars})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Footprint(ctx, u, m); err != nil {
		t.Fatal(err)
	}
	return u
}

// burnRecords appends one attempt on board id to the journal at path:
// an intent of words, then, unless outcome is "", the outcome with the
// words as done sets them.
func burnRecords(t *testing.T, path, id string, words []journal.Word, outcome string, done func([]journal.Word)) {
	t.Helper()
	ctx := context.Background()
	rec := journal.Record{Host: "station-1", ToolVersion: "test", Command: "apply", Device: "sim:b", UniqueID: id, Words: words}
	a, _, err := journal.Begin(ctx, path, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Intend(ctx); err != nil {
		t.Fatal(err)
	}
	if outcome == "" {
		return // the station died mid-burn
	}
	if done != nil {
		done(a.Words)
	}
	code := map[string]int{"applied": 0, "partial": 3, "nothing-written": 1}[outcome]
	if err := a.Finish(ctx, outcome, code, ""); err != nil {
		t.Fatal(err)
	}
}

func word(bank, w int, delta string) journal.Word {
	return journal.Word{Bank: bank, Word: w, Before: "0x00000000", Delta: delta, Status: "skipped"}
}

func states(t *testing.T, l *Ledger, id string) map[string]string {
	t.Helper()
	es, err := l.Entries(context.Background(), Filter{UniqueID: id})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		out[e.Pool] = e.State
	}
	return out
}

// An imported journal marks burned each reserved value whose words an
// attempt wrote to, or whose bits it read back; an intent without an
// outcome (the station died mid-burn) by the words it planned; an
// attempt that wrote nothing of a value leaves it reserved. Importing
// again changes nothing.
func TestImportMarksBurned(t *testing.T) { backends(t, testImportMarksBurned) }

func testImportMarksBurned(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, unitPools)
	path := filepath.Join(t.TempDir(), "j.jsonl")
	mac := []journal.Word{word(9, 0, "0x9f300000"), word(9, 1, "0x00010004"), word(9, 2, "0x00049f30")}
	serial := word(14, 1, "0x000003e8")

	// 0xa applied a saved plan of its serial alone: verified.
	planned(t, l, "0xa")
	burnRecords(t, path, "0xa", []journal.Word{serial}, "applied", func(ws []journal.Word) {
		ws[0].Status, ws[0].After = "verified", ws[0].Delta
	})
	// 0xb died mid-burn of its MACs: an intent, no outcome.
	planned(t, l, "0xb")
	burnRecords(t, path, "0xb", mac, "", nil)
	// 0xc recorded an intent, then nothing was written.
	planned(t, l, "0xc")
	burnRecords(t, path, "0xc", append(mac, serial), "nothing-written", nil)
	// 0xd: the first MAC word's write failed, and reads back 0: the
	// attempt wrote to it, so the MACs may be on the fuses.
	planned(t, l, "0xd")
	burnRecords(t, path, "0xd", append(mac, serial), "partial", func(ws []journal.Word) {
		ws[0].Status, ws[0].After = "write-failed", "0x00000000"
	})
	// 0xe's values were allocated without a footprint (the ledger before
	// it kept them): any bit its records show marks them both.
	if _, err := l.AllocateAll(ctx, []string{"eth", "serial"}, "0xe", "st"); err != nil {
		t.Fatal(err)
	}
	burnRecords(t, path, "0xe", []journal.Word{serial}, "applied", func(ws []journal.Word) {
		ws[0].Status, ws[0].After = "verified", ws[0].Delta
	})

	rep, err := importFile(t, l, path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"0xa": {"eth": Reserved, "serial": Burned},
		"0xb": {"eth": Burned, "serial": Reserved},
		"0xc": {"eth": Reserved, "serial": Reserved},
		"0xd": {"eth": Burned, "serial": Reserved},
		"0xe": {"eth": Burned, "serial": Burned},
	}
	for id, w := range want {
		if got := states(t, l, id); got["eth"] != w["eth"] || got["serial"] != w["serial"] {
			t.Errorf("board %s after the import: %v, want %v", id, got, w)
		}
	}
	if len(rep.Burned) != 5 {
		t.Errorf("import reports %d blocks marked burned, want 5: %+v", len(rep.Burned), rep.Burned)
	}
	rep, err = importFile(t, l, path)
	if err != nil || len(rep.Burned) != 0 || rep.Added != 0 {
		t.Fatalf("import again: %+v %v", rep, err)
	}
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		wantBurned := map[string]uint64{"eth": 3 * 2, "serial": 2}[s.Pool]
		if s.Burned != wantBurned {
			t.Errorf("status %s: burned %d, want %d", s.Pool, s.Burned, wantBurned)
		}
	}
}

// A footprint holds what every manifest that planned the block sets, and
// a plan made again writes nothing.
func TestFootprintUnion(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := context.Background()
		l := initLedger(t, url, unitPools)
		u := planned(t, l, "0x1")
		u = planned(t, l, "0x1")
		var eth Block
		for _, b := range u.Blocks {
			if b.Pool == "eth" {
				eth = b
			}
		}
		got, err := l.footprint(ctx, "eth", eth.Base)
		if err != nil {
			t.Fatal(err)
		}
		want := map[[2]int]uint32{{9, 0}: 0xffffffff, {9, 1}: 0xffffffff, {9, 2}: 0xffffffff}
		if len(got) != len(want) {
			t.Fatalf("eth footprint %v, want %v", got, want)
		}
		for w, m := range want {
			if got[w] != m {
				t.Fatalf("eth footprint %v, want %v", got, want)
			}
		}
		// Another manifest puts the serial in word 2 as well: both words.
		doc := "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: other}\nsoc: imx8mm\nvariables:\n  serial: {type: u32, pool: serial}\nfuses:\n  - {bank: 14, word: 2, value: \"${serial}\", mask: \"0x0000ffff\"}\n"
		m, err := manifest.ParseOpts("o.yaml", []byte(doc), manifest.Options{Vars: map[string]manifest.VarValue{"serial": {Text: "1000", From: From}}})
		if err != nil {
			t.Fatal(err)
		}
		var serial Block
		for _, b := range u.Blocks {
			if b.Pool == "serial" {
				serial = b
			}
		}
		if err := l.Footprint(ctx, Unit{Blocks: []Block{serial}}, m); err != nil {
			t.Fatal(err)
		}
		got, _ = l.footprint(ctx, "serial", serial.Base)
		if len(got) != 2 || got[[2]int{14, 1}] != 0xffffffff || got[[2]int{14, 2}] != 0xffff {
			t.Fatalf("serial footprint after a second manifest: %v", got)
		}
	})
}
