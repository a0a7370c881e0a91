package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/internal/yamldoc"
)

// The shape the issue gives loads as written.
func TestPoolsLoad(t *testing.T) {
	ps, err := LoadPools("testdata/pools/line.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eth, serial := ps.Pool("eth"), ps.Pool("serial")
	if ps.Name != "acme-line-1" || eth == nil || serial == nil || len(ps.Pools) != 2 {
		t.Fatalf("pools: %+v", ps)
	}
	if eth.Type != MAC || eth.PerUnit != 2 || eth.Size() != 0x100000 || eth.Ranges[0].First != 0x00049f300000 || eth.Format(eth.Ranges[0].Last) != "00:04:9f:3f:ff:ff" {
		t.Errorf("eth: %+v", eth)
	}
	if serial.Type != U32 || serial.PerUnit != 1 || serial.Size() != 1000000 || serial.LowWater != 10000 || serial.Format(1000000) != "1000000" {
		t.Errorf("serial: %+v", serial)
	}
}

// Each refusal says where and what, and every problem is reported at once.
func TestPoolsInvalid(t *testing.T) {
	for _, c := range []struct {
		name, pools string
		want        []string
	}{
		{"overlap across pools", `
  a: {type: u32, ranges: ["100-199"]}
  b: {type: u32, ranges: ["150-250"]}`, []string{"x.yaml:6:27: pool b: this range overlaps a range of pool a at x.yaml:5:27"}},
		{"overlap within a pool, a wide range covering a later one", `
  a: {type: u32, ranges: ["100-999", "200-300", "400-500"]}`, []string{"x.yaml:5:38: pool a: this range overlaps a range of pool a at x.yaml:5:27", "x.yaml:5:49: pool a: this range overlaps"}},
		{"multicast end", `
  eth: {type: mac, ranges: ["01:00:5e:00:00:00-01:00:5e:00:00:ff"]}`, []string{"multicast bit set"}},
		{"locally administered", `
  eth: {type: mac, ranges: ["02:00:00:00:00:00-02:00:00:00:00:ff"]}`, []string{"first octet is 02: locally administered"}},
		{"range crossing into multicast", `
  eth: {type: mac, ranges: ["00:ff:ff:ff:ff:00-04:00:00:00:00:ff"]}`, []string{"first octet is 01: multicast"}},
		{"reversed", `
  s: {type: u32, ranges: ["200-100"]}`, []string{"its first value is after its last"}},
		{"not 32 bits", `
  s: {type: u32, ranges: ["1-4294967296"]}`, []string{`"4294967296" is not a 32-bit number`}},
		{"not aligned to perUnit", `
  eth: {type: mac, ranges: ["00:04:9f:00:00:01-00:04:9f:00:00:10"], perUnit: 2}`, []string{"not made of whole blocks of perUnit 2"}},
		{"perUnit on numbers", `
  s: {type: u32, ranges: ["1-10"], perUnit: 2}`, []string{"perUnit is for mac pools"}},
		{"not a range", `
  s: {type: u32, ranges: ["100"]}`, []string{"not FIRST-LAST"}},
		{"unknown key", `
  s: {type: u32, ranges: ["1-10"], reused: true}`, []string{"reused"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := "apiVersion: otpprov/v1\nkind: IdentityPools\nmetadata: {name: x}\npools:" + c.pools + "\n"
			_, err := ParsePools("x.yaml", []byte(doc))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A well-written range of multicast or locally administered addresses is
// refused with a hint that says what to give instead, not only the syntax
// the range already has.
func TestPoolsMACRangeHint(t *testing.T) {
	for _, r := range []string{"01:04:9f:30:00:00-01:04:9f:30:00:ff", "02:00:00:00:00:00-02:00:00:00:00:ff"} {
		doc := "apiVersion: otpprov/v1\nkind: IdentityPools\nmetadata: {name: x}\npools:\n  eth: {type: mac, ranges: [\"" + r + "\"]}\n"
		_, err := ParsePools("x.yaml", []byte(doc))
		var ds yamldoc.Diagnostics
		if !errors.As(err, &ds) || len(ds) != 1 {
			t.Fatalf("%s: %v", r, err)
		}
		if !strings.Contains(ds[0].Hint, "unicast, globally administered") {
			t.Errorf("%s: hint %q does not say what a range must hold", r, ds[0].Hint)
		}
	}
}

// A file that is not a pools file at all is refused with its place.
func TestPoolsNotPools(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "m.yaml")
	os.WriteFile(f, []byte("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: m}\nsoc: imx8mm\nfuses: []\n"), 0o644)
	if _, err := LoadPools(f); err == nil || !strings.Contains(err.Error(), "m.yaml:2:7") {
		t.Errorf("a manifest as pools: %v", err)
	}
}
