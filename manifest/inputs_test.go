package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

// Inputs lists every file a load read, with the digest of the bytes it
// used: the chain (base first), the overlays, the valueFrom files. A
// release is checked against these, so one missing here would be burned
// without being checked.
func TestInputsAreEveryFileRead(t *testing.T) {
	overlay := "../fusemap/testdata/overlay/acme.yaml"
	maps := func(soc string) (*fusemap.Map, error) {
		m, err := fusemap.Load(soc)
		if err != nil {
			return nil, err
		}
		o, err := fusemap.LoadOverlay(overlay)
		if err != nil {
			return nil, err
		}
		return o.Apply(m)
	}
	m, err := LoadOpts(chainSKU, Options{Maps: maps, Vars: given("serial", "7", "mac0", "00:04:9f:01:02:03")})
	if err != nil {
		t.Fatal(err)
	}
	sum := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	srk := filepath.Join("testdata/chain", "files/SRK_1_2_3_4_fuse.bin")
	want := []Input{
		{RoleBase, "testdata/chain/base.yaml", sum(chainBase)},
		{RoleManifest, chainSKU, sum(chainSKU)},
		{RoleOverlay, overlay, sum(overlay)},
		{RoleValueFrom, srk, sum(srk)},
	}
	if !reflect.DeepEqual(m.Inputs, want) {
		t.Errorf("Inputs:\n got %q\nwant %q", m.Inputs, want)
	}
}

// The digest is of the bytes parsed, not of the file as it is now: a
// manifest given as bytes (read once by the command) and a file changed
// since keep the bytes' digest.
func TestInputsDigestTheBytesParsed(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.yaml")
	b := []byte("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: m}\nsoc: imx8mm\nfuses:\n  - {bank: 14, word: 0, value: 1}\n")
	if err := os.WriteFile(p, []byte("something else\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ParseOpts(p, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	if len(m.Inputs) != 1 || m.Inputs[0].SHA256 != hex.EncodeToString(s[:]) {
		t.Errorf("Inputs %q, want the digest of the bytes parsed", m.Inputs)
	}
}

// A manifest parsed again (apply --ledger does, with the pool values)
// must have read the bytes the first parse read: a base rewritten in
// between is named.
func TestSameInputs(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(base, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: b}\nsoc: imx8mm\nfuses:\n  - {bank: 14, word: 0, value: 1}\n")
	sku := filepath.Join(dir, "sku.yaml")
	write(sku, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: s}\nextends: base.yaml\nfuses:\n  - {bank: 14, word: 1, value: 1}\n")
	first, err := Load(sku)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Load(sku)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.SameInputs(again); err != nil {
		t.Errorf("the same files: %v", err)
	}
	write(base, "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: b}\nsoc: imx8mm\nfuses:\n  - {bank: 14, word: 0, value: 3}\n")
	again, err = Load(sku)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.SameInputs(again); err == nil || !strings.Contains(err.Error(), "extends base "+base+" changed while otpprov read it") {
		t.Errorf("a base rewritten: %v", err)
	}
}
