package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/yamldoc/wantfile"
)

// The .want format and its checks are shared with the fuse map tests.
type want = wantfile.Want

func readWant(t *testing.T, path string) []want { return wantfile.Read(t, path) }

func diagsOf(t *testing.T, err error) Diagnostics { return wantfile.Diags(t, err) }

func checkDiags(t *testing.T, file string, ds Diagnostics, ws []want) {
	t.Helper()
	wantfile.Check(t, file, ds, ws)
}

func dump(ds Diagnostics) string { return wantfile.Dump(ds) }

// checkDiagsWellFormed checks what holds for every error Parse returns.
func checkDiagsWellFormed(t *testing.T, file string, err error) {
	t.Helper()
	ds := diagsOf(t, err)
	for i, d := range ds {
		if d.Pos.File != file {
			t.Errorf("diagnostic %d: file %q, want %q", i, d.Pos.File, file)
		}
		if d.Message == "" {
			t.Errorf("diagnostic %d at %s has no message", i, d.Pos)
		}
		if d.Pos.Line < 0 || d.Pos.Col < 0 || (d.Pos.Line == 0 && d.Pos.Col != 0) {
			t.Errorf("diagnostic %d: bad position %d:%d", i, d.Pos.Line, d.Pos.Col)
		}
	}
	if !wantfile.Sorted(ds) {
		t.Errorf("diagnostics not sorted by position:\n%s", dump(ds))
	}
}

// checkManifest checks the invariants of every manifest Parse accepts.
func checkManifest(t *testing.T, file string, b []byte, m *Manifest) {
	t.Helper()
	if m == nil {
		t.Fatal("Parse returned a nil manifest and a nil error")
	}
	if m.File != file {
		t.Errorf("File = %q, want %q", m.File, file)
	}
	sum := sha256.Sum256(b)
	if want := "sha256:" + hex.EncodeToString(sum[:]); m.Digest != want {
		t.Errorf("Digest = %q, want %q", m.Digest, want)
	}
	soc, err := fusemap.Load(m.SoC.Name)
	if err != nil {
		t.Fatalf("SoC %q: %v", m.SoC.Name, err)
	}
	if !reflect.DeepEqual(soc.SoC, m.SoC) {
		t.Errorf("SoC = %+v, want %+v", m.SoC, soc)
	}
	if m.Name == "" {
		t.Error("accepted a manifest without a name")
	}
	if len(m.Fuses) == 0 || len(m.Targets) == 0 {
		t.Errorf("accepted a manifest with %d fuses, %d targets", len(m.Fuses), len(m.Targets))
	}
	inSoC := func(what string, bank, word, index int, value, mask uint32) {
		t.Helper()
		if mask == 0 {
			t.Errorf("%s: mask 0", what)
		}
		if value&^mask != 0 {
			t.Errorf("%s: value %#08x outside mask %#08x", what, value, mask)
		}
		if bank < 0 || bank >= soc.Banks() || word < 0 || word >= soc.WordsPerBank {
			t.Errorf("%s: bank %d word %d outside %s", what, bank, word, soc.Name)
		}
		if index != soc.ReadIndex(bank, word) || index < 0 || index >= soc.Words || !soc.Writable(index) {
			t.Errorf("%s: index %d for bank %d word %d of %s", what, index, bank, word, soc.Name)
		}
	}
	byIndex := map[int]Target{}
	entries := 0
	for i, tg := range m.Targets {
		inSoC("target "+strconv.Itoa(i), tg.Bank, tg.Word, tg.Index, tg.Value, tg.Mask)
		if i > 0 && m.Targets[i-1].Index >= tg.Index {
			t.Errorf("targets not in strictly increasing word order: %d then %d", m.Targets[i-1].Index, tg.Index)
		}
		if len(tg.Pos) == 0 {
			t.Errorf("target %d has no position", i)
		}
		entries += len(tg.Pos)
		byIndex[tg.Index] = tg
	}
	bits := 0
	for i, f := range m.Fuses {
		for _, b := range f.Bits {
			bits++
			k := soc.ReadIndex(b.Bank, b.Word)
			inSoC("fuse "+strconv.Itoa(i), b.Bank, b.Word, k, b.Value, b.Mask)
			tg, ok := byIndex[k]
			if !ok {
				t.Errorf("fuse %d (index %d) has no target", i, k)
				continue
			}
			if tg.Mask&b.Mask != b.Mask || tg.Value&b.Mask != b.Value {
				t.Errorf("fuse %d (%#08x/%#08x) is not what target %#08x/%#08x asks for", i, b.Value, b.Mask, tg.Value, tg.Mask)
			}
		}
	}
	if entries != bits {
		t.Errorf("targets hold %d entries, the manifest's entries set %d words", entries, bits)
	}
}

// testdataFiles lists testdata/DIR/*.yaml.
func testdataFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no testdata/%s/*.yaml", dir)
	}
	return files
}

func crlf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }

var bom = []byte("\uFEFF")
