package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

func mustMap(t *testing.T, name string) *fusemap.Map {
	t.Helper()
	m, err := fusemap.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSoC(t *testing.T, name string) fusemap.SoC {
	t.Helper()
	soc, err := fusemap.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return soc.SoC
}

// TestParseSpec: the manifest exactly as the specification shows it.
func TestParseSpec(t *testing.T) {
	const file = "testdata/valid/spec.yaml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(file, b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkManifest(t, file, b, m)

	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(m.Digest) {
		t.Errorf("Digest %q is not sha256:<64 hex digits>", m.Digest)
	}
	sum := sha256.Sum256(b)
	pos := Pos{File: file, Line: 8, Col: 5} // "name: board-rev", the entry's first key
	want := &Manifest{
		File:        file,
		Files:       []string{file},
		Variables:   []Variable{},
		Digest:      "sha256:" + hex.EncodeToString(sum[:]),
		Inputs:      []Input{{Role: RoleManifest, Path: file, SHA256: hex.EncodeToString(sum[:])}},
		Name:        "cc8mm-base",
		Description: "optional text",
		SoC:         mustSoC(t, "imx8mm"),
		Map:         mustMap(t, "imx8mm"),
		Fuses:       []Fuse{{Name: "board-rev", Bits: []Bits{{Bank: 14, Word: 0, Value: 0xf, Mask: 0xf}}, Pos: pos}},
		Targets: []Target{{Index: 56, WriteIndex: 56, Bank: 14, Word: 0, Value: 0xf, Mask: 0xf,
			Names: []string{"board-rev"}, Pos: []Pos{pos}}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Parse(spec.yaml) =\n%+v\nwant\n%+v", m, want)
	}

	// Load reads the same file to the same manifest.
	l, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("Load(spec.yaml) =\n%+v\nwant\n%+v", l, want)
	}
}

// TestParseNumbers: every accepted spelling of a 32-bit word.
func TestParseNumbers(t *testing.T) {
	const head = "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: n}\nsoc: imx8mm\nfuses:\n"
	tests := []struct {
		name        string
		entry       string // the fields after bank/word
		value, mask uint32
	}{
		{"quoted hex", `value: "0x0000000f"`, 0xf, 0xffffffff},
		{"single-quoted hex", `value: '0x0f'`, 0xf, 0xffffffff},
		{"quoted hex, upper case", `value: "0XABCDEF01"`, 0xabcdef01, 0xffffffff},
		{"quoted hex, one digit", `value: "0x1"`, 1, 0xffffffff},
		{"quoted hex max", `value: "0xffffffff"`, 0xffffffff, 0xffffffff},
		{"quoted mask", `value: 0x3, mask: "0x0000000f"`, 3, 0xf},
		{"decimal", `value: 15`, 15, 0xffffffff},
		{"decimal zero", `value: 0`, 0, 0xffffffff},
		{"decimal max", `value: 4294967295`, 0xffffffff, 0xffffffff},
		{"decimal mask", `value: 1, mask: 255`, 1, 0xff},
		{"hex", `value: 0x0000000f`, 0xf, 0xffffffff},
		{"hex, upper-case digits", `value: 0xDEADBEEF`, 0xdeadbeef, 0xffffffff},
		{"hex, 0X prefix", `value: 0X10`, 0x10, 0xffffffff},
		{"hex max", `value: 0xffffffff`, 0xffffffff, 0xffffffff},
		{"hex, unquoted leading zeros beyond 8 digits", `value: 0x000000000001`, 1, 0xffffffff},
		{"binary", `value: 0b1111`, 0xf, 0xffffffff},
		{"binary with mask", `value: 0b01, mask: 0b11`, 1, 3},
		{"binary max", `value: 0b11111111111111111111111111111111`, 0xffffffff, 0xffffffff},
		{"default mask", `value: 0x80000000`, 0x80000000, 0xffffffff},
		{"explicit full mask", `value: 0, mask: 0xffffffff`, 0, 0xffffffff},
		{"one-bit mask", `value: 0x80000000, mask: 0x80000000`, 0x80000000, 0x80000000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(head + "  - {bank: 14, word: 3, " + tt.entry + "}\n")
			m, err := Parse("n.yaml", b)
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, b)
			}
			checkManifest(t, "n.yaml", b, m)
			want := Target{Index: 59, WriteIndex: 59, Bank: 14, Word: 3, Value: tt.value, Mask: tt.mask,
				Pos: []Pos{{File: "n.yaml", Line: 6, Col: 5}}}
			if len(m.Targets) != 1 || !reflect.DeepEqual(m.Targets[0], want) {
				t.Errorf("Targets = %+v, want [%+v]", m.Targets, want)
			}
			if len(m.Fuses) != 1 || len(m.Fuses[0].Bits) != 1 || m.Fuses[0].Bits[0].Value != tt.value || m.Fuses[0].Bits[0].Mask != tt.mask {
				t.Errorf("Fuses = %+v, want value %#08x mask %#08x", m.Fuses, tt.value, tt.mask)
			}
		})
	}
}

// TestParseValid: every file under testdata/valid parses, also with CRLF
// line endings and with a UTF-8 byte order mark, to the same manifest.
func TestParseValid(t *testing.T) {
	for _, file := range testdataFiles(t, "valid") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte("\r")) || bytes.HasPrefix(b, bom) {
				t.Fatal("testdata/valid files are plain LF text: the CRLF and BOM variants are made here")
			}
			m, err := Parse(file, b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkManifest(t, file, b, m)
			for _, v := range []struct {
				name string
				b    []byte
			}{
				{"CRLF", crlf(b)},
				{"BOM", append(append([]byte{}, bom...), b...)},
				{"BOM+CRLF", append(append([]byte{}, bom...), crlf(b)...)},
			} {
				vm, err := Parse(file, v.b)
				if err != nil {
					t.Errorf("%s: Parse: %v", v.name, err)
					continue
				}
				checkManifest(t, file, v.b, vm)
				if vm.Digest == m.Digest {
					t.Errorf("%s: same digest as the LF file: the digest is of the file's bytes", v.name)
				}
				if vm.Inputs[0].SHA256 == m.Inputs[0].SHA256 {
					t.Errorf("%s: same input digest as the LF file: it is of the bytes parsed", v.name)
				}
				vm.Digest = m.Digest
				vm.Inputs[0].SHA256 = m.Inputs[0].SHA256
				if !reflect.DeepEqual(vm, m) {
					t.Errorf("%s: got\n%+v\nwant (as LF)\n%+v", v.name, vm, m)
				}
			}
		})
	}
}

// TestParseSoCs: the geometry of each SoC, at the edges.
func TestParseSoCs(t *testing.T) {
	tests := []struct {
		soc        string
		bank, word int
		index      int
	}{
		{"imx8mm", 0, 0, 0},
		{"imx8mm", 63, 3, 255},
		{"imx8mn", 63, 3, 255},
		{"imx8mq", 63, 3, 255},
		{"imx8mp", 63, 3, 255}, // the last word the driver writes correctly
		{"imx8mp", 14, 2, 58},
	}
	for _, tt := range tests {
		t.Run(tt.soc, func(t *testing.T) {
			b := []byte("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: s}\nsoc: " + tt.soc +
				"\nfuses:\n  - bank: " + strconv.Itoa(tt.bank) + "\n    word: " + strconv.Itoa(tt.word) + "\n    value: 4\n    mask: 0xfffffffc\n")
			m, err := Parse("s.yaml", b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkManifest(t, "s.yaml", b, m)
			if m.SoC.Name != tt.soc {
				t.Errorf("SoC = %q, want %q", m.SoC.Name, tt.soc)
			}
			if len(m.Targets) != 1 || m.Targets[0].Index != tt.index {
				t.Errorf("Targets = %+v, want index %d", m.Targets, tt.index)
			}
		})
	}
}

// TestMerge: entries for one word that agree on the bits both select merge
// into one target; targets come out in word order.
func TestMerge(t *testing.T) {
	const file = "testdata/valid/merge.yaml"
	m, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	p := func(line int) Pos { return Pos{File: file, Line: line, Col: 5} }
	want := []Target{
		{Index: 7, WriteIndex: 7, Bank: 1, Word: 3, Value: 7, Mask: 0xffffffff, Names: []string{"other"}, Pos: []Pos{p(21)}},
		// The third entry has no name: it adds a position, not a name.
		{Index: 56, WriteIndex: 56, Bank: 14, Word: 0, Value: 0x35, Mask: 0xff,
			Names: []string{"low-nibble", "high-nibble"}, Pos: []Pos{p(7), p(12), p(17)}},
	}
	if !reflect.DeepEqual(m.Targets, want) {
		t.Errorf("Targets =\n%+v\nwant\n%+v", m.Targets, want)
	}
	if len(m.Fuses) != 4 || m.Fuses[0].Name != "low-nibble" || m.Fuses[3].Name != "other" {
		t.Errorf("Fuses = %+v, want the 4 entries in file order", m.Fuses)
	}

	const head = "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: n}\nsoc: imx8mm\nfuses:\n"
	tests := []struct {
		name        string
		entries     string
		value, mask uint32
		names       []string
	}{
		{"identical entries", "  - {name: a, bank: 14, word: 0, value: 1}\n  - {name: b, bank: 14, word: 0, value: 1}\n",
			1, 0xffffffff, []string{"a", "b"}},
		{"disjoint masks", "  - {bank: 14, word: 0, value: 0x1, mask: 0x1}\n  - {bank: 14, word: 0, value: 0x0, mask: 0x2}\n",
			1, 3, nil},
		{"overlapping masks that agree", "  - {bank: 14, word: 0, value: 0x11, mask: 0xff}\n  - {bank: 14, word: 0, value: 0x10, mask: 0xf0}\n",
			0x11, 0xff, nil},
		{"narrow then full", "  - {bank: 14, word: 0, value: 0x1, mask: 0x1}\n  - {bank: 14, word: 0, value: 0xff}\n",
			0xff, 0xffffffff, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := []byte(head + tt.entries)
			m, err := Parse("n.yaml", b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkManifest(t, "n.yaml", b, m)
			if len(m.Targets) != 1 {
				t.Fatalf("got %d targets, want 1: %+v", len(m.Targets), m.Targets)
			}
			tg := m.Targets[0]
			if tg.Value != tt.value || tg.Mask != tt.mask || !reflect.DeepEqual(tg.Names, tt.names) || len(tg.Pos) != 2 {
				t.Errorf("target = %+v, want value %#08x mask %#08x names %q and 2 positions", tg, tt.value, tt.mask, tt.names)
			}
		})
	}
}

// TestParseInvalid: each testdata/invalid/NAME.yaml is refused with exactly
// the diagnostics listed in NAME.want, in order. The same file with CRLF
// line endings, or a UTF-8 byte order mark, gives the same diagnostics.
func TestParseInvalid(t *testing.T) {
	files := testdataFiles(t, "invalid")
	wants, _ := filepath.Glob("testdata/invalid/*.want")
	if len(wants) != len(files) {
		t.Errorf("%d .yaml files but %d .want files in testdata/invalid", len(files), len(wants))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ws := readWant(t, strings.TrimSuffix(file, ".yaml")+".want")
			m, err := Parse(file, b)
			if m != nil {
				t.Errorf("Parse returned a manifest along with its error")
			}
			ds := diagsOf(t, err)
			checkDiagsWellFormed(t, file, err)
			checkDiags(t, file, ds, ws)

			for _, v := range []struct {
				name string
				b    []byte
			}{
				{"CRLF", crlf(b)},
				{"BOM", append(append([]byte{}, bom...), b...)},
			} {
				_, err := Parse(file, v.b)
				vds := diagsOf(t, err)
				if !reflect.DeepEqual(vds, ds) {
					t.Errorf("%s: diagnostics differ from the plain file's:\n%s\nwant\n%s", v.name, dump(vds), dump(ds))
				}
			}
		})
	}
}

// TestParseInvalidReportsAllAtOnce: the several-errors file has problems
// found by each stage (YAML walk, schema, geometry and masks), written so
// that the stages find them out of file order; they come back sorted.
func TestParseInvalidReportsAllAtOnce(t *testing.T) {
	_, err := Load("testdata/invalid/several_errors.yaml")
	ds := diagsOf(t, err)
	if len(ds) < 3 {
		t.Fatalf("got %d diagnostics, want all of them:\n%s", len(ds), dump(ds))
	}
	for i := 1; i < len(ds); i++ {
		if ds[i-1].Pos.Line >= ds[i].Pos.Line {
			t.Errorf("diagnostics not in line order:\n%s", dump(ds))
		}
	}
	got := err.Error()
	wantPrefix := "testdata/invalid/several_errors.yaml:2:12: bank 64 is outside imx8mm, which has banks 0..63\n" +
		"testdata/invalid/several_errors.yaml:3:32: ambiguous number 010"
	if !strings.HasPrefix(got, wantPrefix) {
		t.Errorf("Error() =\n%s\nwant it to start with\n%s", got, wantPrefix)
	}
	if n := strings.Count(got, "\n") + 1; n != len(ds) {
		t.Errorf("Error() has %d lines for %d diagnostics", n, len(ds))
	}
}

// TestDeviceHint: a top-level device key is refused with the reason; the
// same key elsewhere is only an unknown key.
func TestDeviceHint(t *testing.T) {
	_, err := Load("testdata/invalid/device_key.yaml")
	ds := diagsOf(t, err)
	if len(ds) != 1 || ds[0].Hint != "a manifest never chooses the device: the operator does, with --device or OTPPROV_DEVICE" {
		t.Errorf("got\n%s", dump(ds))
	}
	b := []byte("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: n, device: x}\nsoc: imx8mm\nfuses:\n  - {bank: 14, word: 0, value: 1}\n")
	_, err = Parse("n.yaml", b)
	ds = diagsOf(t, err)
	if len(ds) != 1 || strings.Contains(ds[0].Hint, "--device") || !strings.Contains(ds[0].Message, `unknown key "device" in metadata`) {
		t.Errorf("metadata.device: got\n%s", dump(ds))
	}
}

// TestParseSize: a file of exactly MaxSize bytes is read; one byte more is
// refused before it is parsed, by Parse and by Load.
func TestParseSize(t *testing.T) {
	spec, err := os.ReadFile("testdata/valid/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pad := func(n int) []byte {
		b := append([]byte{}, spec...)
		line := "# " + strings.Repeat("x", 77) + "\n"
		for len(b)+len(line) <= n {
			b = append(b, line...)
		}
		for len(b) < n-1 {
			b = append(b, '#')
		}
		return append(b, '\n')[:n]
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		size int
		ok   bool
	}{
		{MaxSize, true},
		{MaxSize + 1, false},
		{3 * MaxSize, false},
	} {
		b := pad(tt.size)
		if len(b) != tt.size {
			t.Fatalf("made %d bytes, want %d", len(b), tt.size)
		}
		path := filepath.Join(dir, "big.yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		for name, parse := range map[string]func() (*Manifest, error){
			"Parse": func() (*Manifest, error) { return Parse(path, b) },
			"Load":  func() (*Manifest, error) { return Load(path) },
		} {
			m, err := parse()
			if tt.ok {
				if err != nil {
					t.Errorf("%s of %d bytes: %v", name, tt.size, err)
				} else if m.Name != "cc8mm-base" {
					t.Errorf("%s of %d bytes: name %q", name, tt.size, m.Name)
				}
				continue
			}
			checkDiags(t, path, diagsOf(t, err), []want{{Msg: "manifest is larger than 1048576 bytes", Hint: "right file"}})
		}
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want a not-exist error", err)
	}
	var ds Diagnostics
	if errors.As(err, &ds) {
		t.Errorf("Load(missing) returned Diagnostics %v: an I/O error is not a manifest problem", ds)
	}
	if _, err := Load(t.TempDir()); err == nil || errors.As(err, &ds) {
		t.Errorf("Load(directory) = %v, want an I/O error", err)
	}
}

func TestPosString(t *testing.T) {
	tests := []struct {
		pos  Pos
		want string
	}{
		{Pos{File: "m.yaml"}, "m.yaml"},
		{Pos{File: "m.yaml", Line: 3}, "m.yaml:3"},
		{Pos{File: "m.yaml", Line: 3, Col: 7}, "m.yaml:3:7"},
	}
	for _, tt := range tests {
		if got := tt.pos.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.pos, got, tt.want)
		}
	}
	ds := Diagnostics{
		{Pos: Pos{File: "m.yaml", Line: 2, Col: 1}, Message: "one", Hint: "not printed"},
		{Pos: Pos{File: "m.yaml"}, Message: "two"},
	}
	if got, want := ds.Error(), "m.yaml:2:1: one\nm.yaml: two"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
