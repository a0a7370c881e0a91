package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// adoptDoc takes pool values in raw entries (a whole word, a masked low
// half, a masked high half), in a field split over two words, and one
// variable in a field and a raw entry both.
const adoptDoc = "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: m}\nsoc: imx8mm\nvariables:\n" +
	"  serial: {type: u32, pool: serial}\n  low: {type: u32, pool: low}\n  high: {type: u32, pool: high}\n" +
	"  split: {type: u32, pool: split}\n  both: {type: u32, pool: both}\n" +
	"fuses:\n" +
	"  - {bank: 14, word: 1, value: \"${serial}\"}\n" +
	"  - {bank: 14, word: 2, value: \"${low}\", mask: \"0x0000ffff\"}\n" +
	"  - {bank: 14, word: 3, value: \"${high}\", mask: \"0xffff0000\"}\n" +
	"  - {field: MAC_ADDR1, value: \"${split}\"}\n" +
	"  - {field: GP1, value: \"${both}\"}\n" +
	"  - {bank: 15, word: 0, value: \"${both}\"}\n"

const adoptPools = "  serial: {type: u32, ranges: [\"1000-1009\"]}\n  low: {type: u32, ranges: [\"100-109\"]}\n" +
	"  high: {type: u32, ranges: [\"131072-655359\"]}\n  split: {type: u32, ranges: [\"65536-131071\"]}\n" +
	"  both: {type: u32, ranges: [\"5000-5009\"]}\n"

// A pool value already on a board is the board's, wherever the manifest
// puts it: a raw entry's word (whole, or the bits of its mask, which are
// the value as written, unshifted), a field split over two words, a field
// and a raw entry of one variable. Unknown to the ledger: adopted as
// burned, and the board gets it, not a new one. Another board's: refused
// as a duplicate naming both.
func TestAdoptHeld(t *testing.T) {
	backends(t, func(t *testing.T, url string) {
		ctx := context.Background()
		l := initLedger(t, url, adoptPools)
		fm, err := fusemap.Load("imx8mm")
		if err != nil {
			t.Fatal(err)
		}
		m0, err := manifest.ParseOpts("m.yaml", []byte(adoptDoc), manifest.Options{Check: true})
		if err != nil {
			t.Fatal(err)
		}
		held := make([]uint32, fm.Words)
		held[fm.ReadIndex(14, 1)] = 1005
		held[fm.ReadIndex(14, 2)] = 0xabcd0000 | 107 // the other half is someone else's
		held[fm.ReadIndex(14, 3)] = 0x00050000 | 0x1234
		// MAC_ADDR1 is 9/1[31:16] (low 16 bits) + 9/2: 0x12345 split.
		held[fm.ReadIndex(9, 1)] = 0x2345 << 16
		held[fm.ReadIndex(9, 2)] = 0x1
		held[fm.ReadIndex(15, 0)] = 5003 // the raw entry only: GP1 blank
		u, err := l.Values(ctx, m0, fm, held, "0x1", "st", true)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"serial": "1005", "low": "107", "high": "327680", "split": "74565", "both": "5003"}
		for name, v := range want {
			if got := u.Vars[name].Text; got != v {
				t.Errorf("%s: got %q, want the value on the board %s", name, got, v)
			}
		}
		for _, b := range u.Blocks {
			if b.State != Burned {
				t.Errorf("%s block %d: %s, want burned (adopted)", b.Pool, b.Base, b.State)
			}
		}
		// The next board never gets them.
		blank := make([]uint32, fm.Words)
		u2, err := l.Values(ctx, m0, fm, blank, "0x2", "st", true)
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range want {
			if u2.Vars[name].Text == v {
				t.Errorf("%s: board 0x2 got %s, which board 0x1 holds", name, v)
			}
		}
		// A third board holding board 0x1's values: each a duplicate,
		// naming both boards and where the value is.
		for _, c := range []struct {
			name  string
			bank  int
			word  int
			value uint32
			where string
		}{
			{"serial", 14, 1, 1005, "bank 14 word 1"},
			{"low", 14, 2, 107, "bank 14 word 2"},
			{"high", 14, 3, 0x50000, "bank 14 word 3"},
			{"both", 15, 0, 5003, "bank 15 word 0"},
		} {
			dup := make([]uint32, fm.Words)
			dup[fm.ReadIndex(c.bank, c.word)] = c.value
			_, err := l.Values(ctx, m0, fm, dup, "0x3", "st", true)
			if !errors.Is(err, ErrDuplicate) || !strings.Contains(err.Error(), "0x3") || !strings.Contains(err.Error(), "the board 0x1") || !strings.Contains(err.Error(), c.where) {
				t.Errorf("%s of board 0x1 on board 0x3: %v", c.name, err)
			}
		}
		// Board 0x3 was refused each time: it holds nothing yet.
		if es, err := l.Entries(ctx, Filter{UniqueID: "0x3"}); err != nil || len(es) != 0 {
			t.Errorf("board 0x3 after the refusals: %v %v", es, err)
		}
	})
}
