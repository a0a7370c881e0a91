package manifest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

// want is one expected diagnostic: its exact position and a substring of
// its message (and, if given, of its hint).
type want struct {
	line, col int
	msg, hint string
}

func (w want) String() string {
	s := strconv.Itoa(w.line)
	if w.col != 0 {
		s += ":" + strconv.Itoa(w.col)
	}
	s += ": " + w.msg
	if w.hint != "" {
		s += " || " + w.hint
	}
	return s
}

// wantLine is one line of a .want file: "LINE:COL: message-substring",
// "LINE: message-substring" when the parser gives no column, "0: ..." when
// it gives no position at all; an optional " || hint-substring" follows.
var wantLine = regexp.MustCompile(`^(\d+)(?::(\d+))?: (.+?)(?: \|\| (.+))?$`)

func readWant(t *testing.T, path string) []want {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ws []want
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := wantLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s:%d: malformed want line %q", path, n, line)
		}
		w := want{msg: m[3], hint: m[4]}
		w.line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			w.col, _ = strconv.Atoi(m[2])
		}
		ws = append(ws, w)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ws) == 0 {
		t.Fatalf("%s: no expected diagnostics", path)
	}
	return ws
}

// diagsOf returns err as Diagnostics, failing the test if it is anything
// else or empty.
func diagsOf(t *testing.T, err error) Diagnostics {
	t.Helper()
	if err == nil {
		t.Fatal("Parse succeeded, want diagnostics")
	}
	var ds Diagnostics
	if !errors.As(err, &ds) {
		t.Fatalf("error is %T (%v), want Diagnostics", err, err)
	}
	if len(ds) == 0 {
		t.Fatal("error is an empty Diagnostics")
	}
	return ds
}

// checkDiags compares diagnostics with the expected ones, in order.
func checkDiags(t *testing.T, file string, ds Diagnostics, ws []want) {
	t.Helper()
	if len(ds) != len(ws) {
		t.Errorf("got %d diagnostics, want %d:\n%s\nwant:\n%s", len(ds), len(ws), dump(ds), wantDump(ws))
		return
	}
	for i, d := range ds {
		w := ws[i]
		if d.Pos.File != file {
			t.Errorf("diagnostic %d: file %q, want %q", i, d.Pos.File, file)
		}
		if d.Pos.Line != w.line || d.Pos.Col != w.col {
			t.Errorf("diagnostic %d at %d:%d, want %d:%d (%s)", i, d.Pos.Line, d.Pos.Col, w.line, w.col, d.Message)
		}
		if !strings.Contains(d.Message, w.msg) {
			t.Errorf("diagnostic %d: message %q does not contain %q", i, d.Message, w.msg)
		}
		if w.hint != "" && !strings.Contains(d.Hint, w.hint) {
			t.Errorf("diagnostic %d: hint %q does not contain %q", i, d.Hint, w.hint)
		}
	}
}

func dump(ds Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("\t" + d.Pos.String() + ": " + d.Message)
		if d.Hint != "" {
			b.WriteString(" || " + d.Hint)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func wantDump(ws []want) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString("\t" + w.String() + "\n")
	}
	return b.String()
}

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
	if !sort.SliceIsSorted(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	}) {
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
	soc, err := fusemap.Lookup(m.SoC.Name)
	if err != nil {
		t.Fatalf("SoC %q: %v", m.SoC.Name, err)
	}
	if !reflect.DeepEqual(soc, m.SoC) {
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
