package ledger

import (
	"context"
	"errors"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// A released value goes to another board only when its pool says reuse;
// a value with a bit on the board is never released.
func TestReleaseAndReuse(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := context.Background()
		l := initLedger(t, url, "  again: {type: u32, ranges: [\"100-199\"], reuse: true}\n  once: {type: u32, ranges: [\"200-299\"]}\n")
		fm, err := fusemap.Load("imx8mm")
		if err != nil {
			t.Fatal(err)
		}
		doc := []byte("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: m}\nsoc: imx8mm\nvariables:\n  a: {type: u32, pool: again}\n  o: {type: u32, pool: once}\nfuses:\n  - {bank: 14, word: 1, value: \"${a}\"}\n  - {bank: 14, word: 2, value: \"${o}\"}\n")
		m0, err := manifest.ParseOpts("m.yaml", doc, manifest.Options{Check: true})
		if err != nil {
			t.Fatal(err)
		}
		blank := make([]uint32, fm.Words)
		unit := func(id string) (Unit, *manifest.Manifest) {
			u, err := l.Values(ctx, m0, fm, blank, id, "st", true)
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.ParseOpts("m.yaml", doc, manifest.Options{Vars: u.Vars})
			if err != nil {
				t.Fatal(err)
			}
			return u, m
		}
		u1, m1 := unit("0x1")
		// A bit of the "once" value on the board: burned, not released.
		onBoard := append([]uint32(nil), blank...)
		onBoard[fm.ReadIndex(14, 2)] = 0x8
		if _, err := l.Release(ctx, u1, m1, fm, onBoard); !errors.Is(err, ErrOnBoard) {
			t.Fatalf("release with a bit on the board: %v", err)
		}
		if es, _ := l.Entries(ctx, Filter{UniqueID: "0x1"}); es[1].State != Burned {
			t.Fatalf("the once block after a refused release: %s", es[1].State)
		}
		// A board holding nothing: both released (the burned one refused).
		u3, m3 := unit("0x3")
		released, err := l.Release(ctx, u3, m3, fm, blank)
		if err != nil || len(released) != 2 {
			t.Fatalf("release of a blank board: %v %v", released, err)
		}
		// The next boards: "again" hands out 0x3's value again, "once"
		// never does.
		u4, _ := unit("0x4")
		if u4.Vars["a"].Text != u3.Vars["a"].Text || u4.Vars["o"].Text == u3.Vars["o"].Text {
			t.Fatalf("after release: again %s (was %s), once %s (was %s)", u4.Vars["a"].Text, u3.Vars["a"].Text, u4.Vars["o"].Text, u3.Vars["o"].Text)
		}
	})
}
