package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// A scrapped board keeps its values for good: they are counted scrapped,
// found as scrapped with who, when and why, never released, and plan or
// apply with the ledger refuse the board, handing it nothing. Scrapping
// it again changes nothing; a board scrapped before it got anything is
// refused as well.
func TestScrap(t *testing.T) { backends(t, testScrap) }

func testScrap(t *testing.T, url string) {
	ctx := context.Background()
	l := initLedger(t, url, unitPools)
	u := planned(t, l, "0x0000000000000001")
	if err := l.MarkBurned(ctx, "serial", "0x0000000000000001"); err != nil {
		t.Fatal(err)
	}
	s, es, again, err := l.ScrapBoard(ctx, "0x0000000000000001", "alice", "st-3", "cracked PCB")
	if err != nil || again || len(es) != 2 {
		t.Fatalf("scrap: %+v %v %v %v", s, es, again, err)
	}
	for _, e := range es {
		if e.State != Scrapped || e.Scrap == nil || e.Scrap.By != "alice" || e.Scrap.Station != "st-3" || e.Scrap.Reason != "cracked PCB" || e.Scrap.At != s.At {
			t.Fatalf("entry after scrap: %+v %+v", e, e.Scrap)
		}
	}
	// Again, with another reason: the first record stays.
	s2, _, again, err := l.ScrapBoard(ctx, "0x0000000000000001", "bob", "st-4", "other")
	if err != nil || !again || s2 != s {
		t.Fatalf("scrap again: %+v (first %+v) %v %v", s2, s, again, err)
	}
	st, err := l.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		want := map[string]uint64{"eth": 2, "serial": 1}[p.Pool]
		if p.Scrapped != want || p.Reserved != 0 || p.Burned != 0 {
			t.Fatalf("status %s: %+v, want %d scrapped and nothing else", p.Pool, p, want)
		}
	}
	found, err := l.Find(ctx, "00:04:9f:30:00:01")
	if err != nil || len(found) != 1 || found[0].State != Scrapped {
		t.Fatalf("find a scrapped board's MAC: %+v %v", found, err)
	}

	fm, _ := fusemap.Load("imx8mm")
	m0, err := manifest.ParseOpts("m.yaml", []byte(unitDoc), manifest.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	blank := make([]uint32, fm.Words)
	_, err = l.Values(ctx, m0, fm, blank, "0x0000000000000001", "st", true)
	if !errors.Is(err, ErrScrapped) || !strings.Contains(err.Error(), "scrapped on "+s.At+" by alice at station st-3 (cracked PCB)") {
		t.Fatalf("plan of a scrapped board: %v", err)
	}
	// Release: the board's values are looked up, and refused.
	lu, err := l.Values(ctx, m0, fm, blank, "0x0000000000000001", "st", false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.ParseOpts("m.yaml", []byte(unitDoc), manifest.Options{Vars: lu.Vars})
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := l.Release(ctx, lu, m, fm, blank); err == nil || len(rel) != 0 || !strings.Contains(err.Error(), "is scrapped") {
		t.Fatalf("release of a scrapped board: %v %v", rel, err)
	}
	if u.Blocks[0].Base != lu.Blocks[0].Base {
		t.Fatalf("the scrapped board's block moved: %d, was %d", lu.Blocks[0].Base, u.Blocks[0].Base)
	}

	// A board scrapped before the ledger handed it anything.
	if _, es, _, err := l.ScrapBoard(ctx, "0x0000000000000002", "alice", "st-3", ""); err != nil || len(es) != 0 {
		t.Fatalf("scrap of a board without values: %v %v", es, err)
	}
	if _, err := l.Values(ctx, m0, fm, blank, "0x0000000000000002", "st", true); !errors.Is(err, ErrScrapped) {
		t.Fatalf("plan of a board scrapped before it got values: %v", err)
	}
	if es, _ := l.Entries(ctx, Filter{UniqueID: "0x0000000000000002"}); len(es) != 0 {
		t.Fatalf("a scrapped board was handed values: %+v", es)
	}
	// The next board gets the next values: nothing of the scrapped ones.
	n := planned(t, l, "0x0000000000000003")
	if n.Vars["mac0"].Text != "00:04:9f:30:00:02" || n.Vars["serial"].Text != "1001" {
		t.Fatalf("the next board: %v", n.Vars)
	}
}

func TestBoardID(t *testing.T) {
	for in, want := range map[string]string{"0x1": "0x0000000000000001", "0X00000000DEADBEEF": "0x00000000deadbeef", " 0x0123456789abcdef ": "0x0123456789abcdef"} {
		if got, err := BoardID(in); err != nil || got != want {
			t.Errorf("BoardID(%q) = %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0x", "1234", "0xg1", "0x1 2"} {
		if got, err := BoardID(in); err == nil {
			t.Errorf("BoardID(%q) = %q, want an error", in, got)
		}
	}
}
