package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The family of testdata/chain: base.yaml, a SKU of it (sku-a.yaml), a
// board of it (board.yaml) with its SKU (sku-b.yaml), and a SKU, a board
// and its base in subdirectories (family/), each below the one naming it.
const (
	chainBase  = "testdata/chain/base.yaml"
	chainSKU   = "testdata/chain/sku-a.yaml"
	chainBoard = "testdata/chain/board.yaml"
	chainSKUB  = "testdata/chain/sku-b.yaml"
	chainEVK   = "testdata/chain/family/boards/evk.yaml"
	chainSKUC  = "testdata/chain/family/sku-c.yaml"
	chainEVKB  = "testdata/chain/family/boards/common/base.yaml"
)

// baseTargets is what base.yaml asks for with serial 7, and what a board
// adds: BOOT_CFG (0 if none) beside the base's SEC_CONFIG_CLOSE, and sku-id
// (0 if none) in the bits 15:8 of 14/0 that the base's mask leaves free.
func baseTargets(bootCfg, skuID uint32) []Target {
	ts := []Target{tg(7, 1, 3, 0x02000000, 0x02000000, "SEC_CONFIG_CLOSE")}
	if bootCfg != 0 {
		ts[0] = tg(7, 1, 3, 0x02000000|bootCfg, 0x0200ffff, "SEC_CONFIG_CLOSE", "BOOT_CFG")
	}
	ts = append(ts, srkTargets8M...)
	rev := tg(56, 14, 0, 0x13, 0xff, "board-rev")
	if skuID != 0 {
		rev = tg(56, 14, 0, skuID<<8|0x13, 0xffff, "board-rev", "sku-id")
	}
	return append(ts, rev, tg(57, 14, 1, 7, 0xffffffff, "serial"))
}

// digestOf is the digest of files as Manifest.Digest is, computed here:
// one file's own, or of every file's digest, base first.
func digestOf(t *testing.T, files ...string) string {
	t.Helper()
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 1 {
			h.Write(b)
			break
		}
		sum := sha256.Sum256(b)
		h.Write(sum[:])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// TestChainSKU: a SKU inherits its base's soc, fuses and variables; its
// own entries add words, agree with the base's on the same bits, or set
// bits the base's mask leaves free; the targets are the union.
func TestChainSKU(t *testing.T) {
	m, err := LoadOpts(chainSKU, Options{Vars: given("serial", "7", "mac0", "00:04:9f:01:02:03")})
	if err != nil {
		t.Fatalf("LoadOpts: %v", err)
	}
	if m.File != chainSKU || !reflect.DeepEqual(m.Files, []string{chainBase, chainSKU}) {
		t.Errorf("File %q, Files %q; want %q, base first", m.File, m.Files, chainSKU)
	}
	// metadata is the SKU's alone: the base's description is not its.
	if m.Name != "sku-a" || m.Description != "" {
		t.Errorf("Name %q, Description %q; want sku-a and none", m.Name, m.Description)
	}
	if m.SoC.Name != "imx8mm" || m.Map == nil || m.Map.Name != "imx8mm" {
		t.Errorf("SoC %q, Map %v: want the base's imx8mm", m.SoC.Name, m.Map)
	}
	base := baseTargets(0, 0x0a) // 1/3, SRK_HASH's 8 words, then 14/0 and 14/1
	want := append(append([]Target{}, base[:9]...),
		tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x00000004, 0x0000ffff, "MAC_ADDR0"))
	want = append(want, base[9:]...)
	if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, want) {
		t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(want))
	}
	// A target names where each entry that asked for it is, in its file.
	pos := func(file string, line int) Pos { return Pos{File: file, Line: line, Col: 5} }
	wantPos := map[[2]int][]Pos{
		{1, 3}:  {pos(chainBase, 14), pos(chainSKU, 13)},
		{6, 0}:  {pos(chainBase, 12)},
		{9, 0}:  {pos(chainSKU, 11)},
		{14, 0}: {pos(chainBase, 16), pos(chainSKU, 15)},
		{14, 1}: {pos(chainBase, 21)},
	}
	for _, tg := range m.Targets {
		if w, ok := wantPos[[2]int{tg.Bank, tg.Word}]; ok && !reflect.DeepEqual(tg.Pos, w) {
			t.Errorf("%d/%d: Pos %v, want %v", tg.Bank, tg.Word, tg.Pos, w)
		}
	}
	// Fuses: the base's entries, then the SKU's.
	var names []string
	for _, f := range m.Fuses {
		names = append(names, f.Name+"@"+filepath.Base(f.Pos.File))
	}
	if w := "SRK_HASH@base.yaml SEC_CONFIG_CLOSE@base.yaml board-rev@base.yaml serial@base.yaml MAC_ADDR0@sku-a.yaml SEC_CONFIG_CLOSE@sku-a.yaml sku-id@sku-a.yaml"; strings.Join(names, " ") != w {
		t.Errorf("Fuses %s, want %s", strings.Join(names, " "), w)
	}
	wantVars := []Variable{
		{Name: "serial", Type: VarU32, Shown: "7", From: "--var"},
		{Name: "mac0", Type: VarMAC, Shown: "00:04:9f:01:02:03", From: "--var"},
	}
	if !reflect.DeepEqual(m.Variables, wantVars) {
		t.Errorf("Variables =\n%+v\nwant\n%+v", m.Variables, wantVars)
	}
}

// TestChainFiles: each chain of testdata/chain, read from its last file:
// the files base first, the metadata of that file, the union of targets.
// family/ proves extends and valueFrom relative to the file naming them.
func TestChainFiles(t *testing.T) {
	tests := []struct {
		file        string
		files       []string
		name, descr string
		want        []Target
	}{
		{chainBase, []string{chainBase}, "family-base", "the family's base", baseTargets(0, 0)},
		{chainBoard, []string{chainBase, chainBoard}, "board", "", baseTargets(0x2022, 0)},
		{chainSKUB, []string{chainBase, chainBoard, chainSKUB}, "sku-b", "three levels", baseTargets(0x2022, 0x0b)},
		{chainEVK, []string{chainEVKB, chainEVK}, "evk", "", baseTargets(0x1000, 0)},
		{chainSKUC, []string{chainEVKB, chainEVK, chainSKUC}, "sku-c", "", baseTargets(0x1000, 0x0c)},
		{"testdata/chain/default.yaml", []string{chainBase, "testdata/chain/default.yaml"}, "default", "", baseTargets(0, 0)},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			m, err := LoadOpts(tt.file, Options{Vars: given("serial", "7")})
			if err != nil {
				t.Fatalf("LoadOpts: %v", err)
			}
			if !reflect.DeepEqual(m.Files, tt.files) {
				t.Errorf("Files %q, want %q", m.Files, tt.files)
			}
			if m.Name != tt.name || m.Description != tt.descr {
				t.Errorf("Name %q, Description %q; want %q, %q", m.Name, m.Description, tt.name, tt.descr)
			}
			if m.SoC.Name != "imx8mm" {
				t.Errorf("SoC %q", m.SoC.Name)
			}
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(tt.want))
			}
			if want := digestOf(t, tt.files...); m.Digest != want {
				t.Errorf("Digest %s, want %s", m.Digest, want)
			}
		})
	}
}

// TestChainDigest: a chain's digest covers every file, base first: it is
// not the SKU file's own, and changes when the base does, even though the
// SKU's bytes do not.
func TestChainDigest(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base, sku := filepath.Join(dir, "chain", "base.yaml"), filepath.Join(dir, "chain", "sku-a.yaml")
	copyFile(chainBase, base)
	copyFile(chainSKU, sku)
	copyFile("testdata/chain/files/SRK_1_2_3_4_fuse.bin", filepath.Join(dir, "chain", "files", "SRK_1_2_3_4_fuse.bin"))
	vars := Options{Vars: given("serial", "7", "mac0", "00:04:9f:01:02:03")}
	load := func() string {
		t.Helper()
		m, err := LoadOpts(sku, vars)
		if err != nil {
			t.Fatalf("LoadOpts: %v", err)
		}
		return m.Digest
	}
	first := load()
	orig, err := LoadOpts(chainSKU, vars)
	if err != nil {
		t.Fatal(err)
	}
	if first != orig.Digest {
		t.Errorf("the same files elsewhere: digest %s, was %s", first, orig.Digest)
	}
	if own := digestOf(t, sku); first == own {
		t.Errorf("chain digest %s is the SKU file's own", first)
	}
	b0, _ := os.ReadFile(base)
	b1, _ := os.ReadFile(sku)
	d0, d1 := sha256.Sum256(b0), sha256.Sum256(b1)
	sum := sha256.Sum256(append(d0[:], d1[:]...))
	if want := "sha256:" + hex.EncodeToString(sum[:]); first != want {
		t.Errorf("Digest %s, want sha256(sha256(base) || sha256(sku)) = %s", first, want)
	}

	// A change to the base, even one that changes no target, is another
	// chain.
	if err := os.WriteFile(base, append(b0, "# reviewed\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	second := load()
	if second == first {
		t.Errorf("digest %s unchanged after the base changed", second)
	}
	// The base's real change: another board revision.
	if err := os.WriteFile(base, []byte(strings.Replace(string(b0), "value: 0x00000013", "value: 0x00000014", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if third := load(); third == first || third == second {
		t.Errorf("digest %s after changing the base's value, was %s and %s", third, first, second)
	}
	// Back as it was: the digest is the first one again.
	if err := os.WriteFile(base, b0, 0o644); err != nil {
		t.Fatal(err)
	}
	if again := load(); again != first {
		t.Errorf("digest %s with the base restored, want %s", again, first)
	}
	// And the SKU's own change changes it too.
	if err := os.WriteFile(sku, append(b1, "# reviewed\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if fourth := load(); fourth == first {
		t.Errorf("digest %s unchanged after the SKU changed", fourth)
	}
}

// TestChainSoC: a SKU may repeat its base's soc or omit it; another soc is
// refused at the SKU's, naming the base's.
func TestChainSoC(t *testing.T) {
	m, err := LoadOpts(chainSKU, Options{Vars: given("serial", "7", "mac0", "00:04:9f:01:02:03")})
	if err != nil {
		t.Fatal(err)
	}
	if m.SoC.Name != "imx8mm" {
		t.Errorf("a SKU without soc: SoC %q, want the base's imx8mm", m.SoC.Name)
	}
	_, err = LoadOpts("testdata/chain/other-soc.yaml", Options{Vars: given("serial", "7")})
	checkDiagsAt(t, err, []diagAt{{"testdata/chain/other-soc.yaml", 6, 6,
		"soc imx8mp differs from soc imx8mm at testdata/chain/base.yaml:8:6", "one SoC"}})
}

// TestChainErrors: what is wrong along a chain is reported in the file
// where it is, naming the other file where that helps.
func TestChainErrors(t *testing.T) {
	const dir = "testdata/chain/"
	tests := []struct {
		file string
		want []diagAt
	}{
		{"conflict.yaml", []diagAt{
			{dir + "conflict.yaml", 7, 5, "bank 1 word 3: SEC_CONFIG_CLOSE (value 0x00000000) disagrees with the entry at testdata/chain/base.yaml:14:5 (SEC_CONFIG_CLOSE, 0x02000000) on bits 25", "make the entries agree"},
			{dir + "conflict.yaml", 9, 5, "bank 14 word 0: value 0x00000014 disagrees with the entry at testdata/chain/base.yaml:16:5 (0x00000013) on bits 2..0", ""},
		}},
		{"cycle-a.yaml", []diagAt{{dir + "cycle-b.yaml", 4, 1,
			"extends cycle-a.yaml: a cycle (testdata/chain/cycle-a.yaml is already in the chain: testdata/chain/cycle-a.yaml -> testdata/chain/cycle-b.yaml)",
			"cannot extend itself"}}},
		{"cycle-b.yaml", []diagAt{{dir + "cycle-a.yaml", 4, 1,
			"extends cycle-b.yaml: a cycle (testdata/chain/cycle-b.yaml is already in the chain: testdata/chain/cycle-b.yaml -> testdata/chain/cycle-a.yaml)", ""}}},
		{"self.yaml", []diagAt{{dir + "self.yaml", 4, 1,
			"extends self.yaml: a cycle (testdata/chain/self.yaml is already in the chain: testdata/chain/self.yaml)", "cannot extend itself"}}},
		{"missing-base.yaml", []diagAt{{dir + "missing-base.yaml", 4, 1,
			"extends nowhere.yaml: testdata/chain/nowhere.yaml: no such file or directory", "relative to the manifest that names it"}}},
		// A base that is not a manifest at all says who named it.
		{"empty-base.yaml", []diagAt{{dir + "empty.yaml", 0, 0,
			"manifest is empty", "(named by extends at testdata/chain/empty-base.yaml:4:1)"}}},
		{"redeclare.yaml", []diagAt{{dir + "redeclare.yaml", 7, 3,
			"variable serial is declared at testdata/chain/base.yaml:10:3 as u32; here it is declared otherwise", "may give a default"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var vars map[string]VarValue
			if !strings.HasPrefix(tt.file, "cycle") && !strings.HasPrefix(tt.file, "self") && tt.file != "missing-base.yaml" && tt.file != "empty-base.yaml" {
				vars = given("serial", "7")
			}
			_, err := LoadOpts(dir+tt.file, Options{Vars: vars})
			checkDiagsAt(t, err, tt.want)
		})
	}
}

// writeTree writes files (by slash path) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const head = "apiVersion: otpprov/v1\nkind: FuseManifest\n"

// TestChainInline: chains written here, each file's problems reported in
// that file, all at once.
func TestChainInline(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // base.yaml, sku.yaml and others
		vars  map[string]VarValue
		want  []diagAt // in base.yaml, sku.yaml: made absolute below; none: it loads
		check func(t *testing.T, m *Manifest)
	}{
		{"a base of two YAML documents", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\n---\nfuses: []\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nfuses:\n  - {bank: 14, word: 0, value: 1}\n",
		}, nil, []diagAt{{"base.yaml", 5, 1, "a second YAML document", ""}}, nil},
		{"problems in the base and the SKU", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nfuses:\n  - {bank: 64, word: 0, value: 1}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nfuses:\n  - {bank: 14, word: 0, value: 0, mask: 0}\n",
		}, nil, []diagAt{
			{"base.yaml", 6, 12, "bank 64 is outside imx8mm", ""},
			{"sku.yaml", 6, 41, "mask 0x00000000 selects no bits", ""},
		}, nil},
		{"a base without soc", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nfuses:\n  - {bank: 14, word: 0, value: 1}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nsoc: imx8mm\n",
		}, nil, []diagAt{{"base.yaml", 1, 1, "missing key \"soc\"", ""}}, nil},
		{"a SKU without fuses", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nfuses:\n  - {bank: 14, word: 0, value: 1}\n",
			"sku.yaml":  head + "metadata: {name: sku, description: same words}\nextends: base.yaml\n",
		}, nil, nil, func(t *testing.T, m *Manifest) {
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, []Target{tg(56, 14, 0, 1, 0xffffffff)}) || m.Name != "sku" || m.Description != "same words" {
				t.Errorf("%s %q: Targets\n%s", m.Name, m.Description, targetDump(m.Targets))
			}
		}},
		{"a base variable used in the SKU, a SKU variable used in the base", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  mac0: {type: mac}\nfuses:\n  - {bank: 14, word: 0, value: \"${rev}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nvariables:\n  rev: {type: u32, default: 3}\nfuses:\n  - {field: MAC_ADDR0, value: \"${mac0}\"}\n",
		}, given("mac0", "00:04:9f:01:02:03"), nil, func(t *testing.T, m *Manifest) {
			want := []Target{tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 4, 0xffff, "MAC_ADDR0"), tg(56, 14, 0, 3, 0xffffffff)}
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, want) {
				t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(want))
			}
			wantVars := []Variable{{Name: "mac0", Type: VarMAC, Shown: "00:04:9f:01:02:03", From: "--var"}, {Name: "rev", Type: VarU32, Shown: "3", From: "default"}}
			if !reflect.DeepEqual(m.Variables, wantVars) {
				t.Errorf("Variables = %+v, want %+v", m.Variables, wantVars)
			}
		}},
		{"a base variable no file uses", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  mac0: {type: mac, default: \"00:04:9f:01:02:03\"}\nfuses:\n  - {bank: 14, word: 0, value: 1}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\n",
		}, nil, []diagAt{{"base.yaml", 6, 3, "variable mac0 is declared but never used", ""}}, nil},
		{"a SKU variable used where the base declares none", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nfuses:\n  - {bank: 14, word: 0, value: \"${rev}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nfuses:\n  - {bank: 14, word: 1, value: \"${serial}\"}\n",
		}, nil, []diagAt{{"base.yaml", 6, 32, "unknown variable rev", ""}, {"sku.yaml", 6, 32, "unknown variable serial", ""}}, nil},
		{"a SKU gives a base variable a default", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  rev: {type: u32, description: board revision}\nfuses:\n  - {bank: 14, word: 0, value: \"${rev}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nvariables:\n  rev: {type: u32, default: 5}\n",
		}, nil, nil, func(t *testing.T, m *Manifest) {
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, []Target{tg(56, 14, 0, 5, 0xffffffff)}) {
				t.Errorf("Targets =\n%s", targetDump(m.Targets))
			}
			if w := []Variable{{Name: "rev", Type: VarU32, Shown: "5", From: "default"}}; !reflect.DeepEqual(m.Variables, w) {
				t.Errorf("Variables = %+v, want %+v", m.Variables, w)
			}
		}},
		{"a SKU's default over the base's", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  rev: {type: u32, default: 1}\nfuses:\n  - {bank: 14, word: 0, value: \"${rev}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nvariables:\n  rev: {type: u32, default: 2}\n",
		}, nil, nil, func(t *testing.T, m *Manifest) {
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, []Target{tg(56, 14, 0, 2, 0xffffffff)}) {
				t.Errorf("Targets =\n%s", targetDump(m.Targets))
			}
		}},
		{"a value given over both defaults", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  rev: {type: u32, default: 1}\nfuses:\n  - {bank: 14, word: 0, value: \"${rev}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nvariables:\n  rev: {type: u32, default: 2}\n",
		}, given("rev", "9"), nil, func(t *testing.T, m *Manifest) {
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, []Target{tg(56, 14, 0, 9, 0xffffffff)}) {
				t.Errorf("Targets =\n%s", targetDump(m.Targets))
			}
			if w := []Variable{{Name: "rev", Type: VarU32, Shown: "9", From: "--var"}}; !reflect.DeepEqual(m.Variables, w) {
				t.Errorf("Variables = %+v, want %+v", m.Variables, w)
			}
		}},
		{"a base variable redeclared without a value", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  rev: {type: u32}\nfuses:\n  - {bank: 14, word: 0, value: \"${rev}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nvariables:\n  rev: {type: u32, description: the board's}\n",
		}, nil, []diagAt{{"sku.yaml", 6, 3, "variable rev (u32) has no value", "--var rev=VALUE"}}, nil},
		{"an inherited default is checked where it is written", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  rev: {type: u32, default: \"x1\"}\nfuses:\n  - {bank: 14, word: 0, value: \"${rev}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nvariables:\n  rev: {type: u32, description: the board's}\n",
		}, nil, []diagAt{{"base.yaml", 6, 3, `variable rev from its default: "x1" is not a 32-bit number`, ""}}, nil},
		{"a base variable made secret", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  rev: {type: u32, default: 1}\nfuses:\n  - {bank: 14, word: 0, value: \"${rev}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nvariables:\n  rev: {type: u32, secret: true}\n",
		}, nil, []diagAt{{"sku.yaml", 6, 3, "variable rev is declared at base.yaml:6:3 as u32; here it is declared otherwise", ""}}, nil},
		{"a base hex variable with other bytes", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  k: {type: hex, bytes: 4, default: \"01020304\"}\nfuses:\n  - {bank: 14, word: 0, value: \"${k}\"}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nvariables:\n  k: {type: hex, bytes: 2}\n",
		}, nil, []diagAt{{"sku.yaml", 6, 3, "variable k is declared at base.yaml:6:3 as hex", ""}}, nil},
		{"a secret base variable used in the SKU", map[string]string{
			"base.yaml": head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  key: {type: hex, bytes: 32, secret: true}\nfuses:\n  - {bank: 14, word: 0, value: 1}\n",
			"sku.yaml":  head + "metadata: {name: sku}\nextends: base.yaml\nfuses:\n  - {field: SRK_HASH, value: \"${key}\"}\n",
		}, given("key", srkHex), nil, func(t *testing.T, m *Manifest) {
			for _, tg := range m.Targets {
				if want := map[bool]uint32{true: 0xffffffff, false: 0}[tg.Bank == 6 || tg.Bank == 7]; tg.Secret != want {
					t.Errorf("%d/%d: Secret %#08x, want %#08x", tg.Bank, tg.Word, tg.Secret, want)
				}
			}
			if m.Variables[0].Shown != redacted(srkHex) {
				t.Errorf("Shown %q", m.Variables[0].Shown)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			m, err := LoadOpts(filepath.Join(dir, "sku.yaml"), Options{Vars: tt.vars})
			if tt.want != nil {
				ws := make([]diagAt, len(tt.want))
				for i, w := range tt.want {
					w.file = filepath.Join(dir, w.file)
					w.msg = strings.Replace(w.msg, "at base.yaml", "at "+filepath.Join(dir, "base.yaml"), 1)
					ws[i] = w
				}
				checkDiagsAt(t, err, ws)
				return
			}
			if err != nil {
				t.Fatalf("LoadOpts: %v", err)
			}
			tt.check(t, m)
		})
	}
}

// TestChainCycleOtherNames: a manifest reached again by another name, a
// path through a directory or a symbolic link, is the same manifest.
func TestChainCycleOtherNames(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"a.yaml": head + "metadata: {name: a}\nextends: ./sub/../b.yaml\nsoc: imx8mm\nfuses:\n  - {bank: 14, word: 0, value: 1}\n",
		"b.yaml": head + "metadata: {name: b}\nextends: sub/link.yaml\n",
		"c.yaml": head + "metadata: {name: c}\nextends: a.yaml\n",
		"sub/x":  "",
	})
	if err := os.Symlink(filepath.Join(dir, "a.yaml"), filepath.Join(dir, "sub", "link.yaml")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	a, b, c := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.yaml")
	_, err := LoadOpts(a, Options{})
	checkDiagsAt(t, err, []diagAt{{b, 4, 1, "extends sub/link.yaml: a cycle (" + a + " is already in the chain: " + a + " -> " + b + ")", ""}})
	// c.yaml -> a.yaml -> b.yaml -> a.yaml: the cycle is reported where it
	// closes, c.yaml is only the way in.
	_, err = LoadOpts(c, Options{})
	checkDiagsAt(t, err, []diagAt{{b, 4, 1, "extends sub/link.yaml: a cycle (" + a + " is already in the chain: " + c + " -> " + a + " -> " + b + ")", ""}})
}

// TestChainFileDefaults: a file variable's default is relative to the
// directory of the manifest that writes it, also when another manifest of
// the chain, elsewhere (its base, in a directory below it), uses or
// redeclares the variable.
func TestChainFileDefaults(t *testing.T) {
	dir := t.TempDir()
	other := byteRange(0x40, 32)
	writeTree(t, dir, map[string]string{
		"base/keys/srk.bin": string(srkBytes()),
		"keys/srk.bin":      string(other),
		"base/base.yaml":    head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  srk: {type: file, default: keys/srk.bin}\nfuses:\n  - field: SRK_HASH\n    valueFrom: {file: \"${srk}\"}\n",
		// The base's variable, used as it is.
		"plain.yaml": head + "metadata: {name: plain}\nextends: base/base.yaml\n",
		// Redeclared without a default: still the base's default, in the base's directory.
		"redeclared.yaml": head + "metadata: {name: redeclared}\nextends: base/base.yaml\nvariables:\n  srk: {type: file, description: the SKU's SRK table}\n",
		// Its own default: in the SKU's directory.
		"own.yaml": head + "metadata: {name: own}\nextends: base/base.yaml\nvariables:\n  srk: {type: file, default: keys/srk.bin}\n",
	})
	for _, tt := range []struct {
		file string
		hash []byte
		from string
	}{
		{"plain.yaml", srkBytes(), "base"},
		{"redeclared.yaml", srkBytes(), "base"},
		{"own.yaml", other, ""},
	} {
		t.Run(tt.file, func(t *testing.T) {
			m, err := LoadOpts(filepath.Join(dir, tt.file), Options{})
			if err != nil {
				t.Fatalf("LoadOpts: %v", err)
			}
			if got, want := m.Variables[0].Shown, filepath.Join(dir, tt.from, "keys", "srk.bin"); got != want {
				t.Errorf("srk = %q, want %q", got, want)
			}
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, hashTargets(tt.hash)) {
				t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(hashTargets(tt.hash)))
			}
		})
	}
}

// TestChainRelativeNames: a chain named relative to the working directory
// (as on a command line) reads the base and the files it names once, from
// where they are: not relative to the working directory, nor twice
// relative to the manifest.
func TestChainRelativeNames(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"m/keys/srk.bin": string(srkBytes()),
		"m/base.yaml":    head + "metadata: {name: base}\nsoc: imx8mm\nvariables:\n  srk: {type: file, default: keys/srk.bin}\nfuses:\n  - field: SRK_HASH\n    valueFrom: {file: \"${srk}\"}\n",
		"m/sku.yaml":     head + "metadata: {name: sku}\nextends: base.yaml\nfuses:\n  - {field: SEC_CONFIG_CLOSE, value: true}\n",
	})
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.Chdir(wd); err != nil {
			t.Fatal(err)
		}
	}()
	m, err := LoadOpts("m/sku.yaml", Options{})
	if err != nil {
		t.Fatalf("LoadOpts: %v", err)
	}
	want := append([]Target{tg(7, 1, 3, 0x02000000, 0x02000000, "SEC_CONFIG_CLOSE")}, srkTargets8M...)
	if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, want) {
		t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(want))
	}
	if !reflect.DeepEqual(m.Files, []string{"m/base.yaml", "m/sku.yaml"}) {
		t.Errorf("Files %q", m.Files)
	}
}

// TestChainDepth: a chain of 16 manifests is read; a 17th is refused at
// the extends key that would read it.
func TestChainDepth(t *testing.T) {
	write := func(dir string, n int) string {
		files := map[string]string{}
		for i := 0; i < n; i++ {
			text := head + fmt.Sprintf("metadata: {name: m%d}\n", i)
			if i == 0 {
				text += "soc: imx8mm\n"
			} else {
				text += fmt.Sprintf("extends: m%d.yaml\n", i-1)
			}
			text += fmt.Sprintf("fuses:\n  - {bank: 14, word: 0, value: %#x, mask: %#x}\n", 1<<i, 1<<i)
			files[fmt.Sprintf("m%d.yaml", i)] = text
		}
		writeTree(t, dir, files)
		return filepath.Join(dir, fmt.Sprintf("m%d.yaml", n-1))
	}
	dir := t.TempDir()
	m, err := LoadOpts(write(dir, maxChain), Options{})
	if err != nil {
		t.Fatalf("a chain of %d: %v", maxChain, err)
	}
	if len(m.Files) != maxChain || m.Files[0] != filepath.Join(dir, "m0.yaml") {
		t.Errorf("Files %q", m.Files)
	}
	if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, []Target{tg(56, 14, 0, 1<<maxChain-1, 1<<maxChain-1)}) {
		t.Errorf("Targets =\n%s", targetDump(m.Targets))
	}

	dir = t.TempDir()
	_, err = LoadOpts(write(dir, maxChain+1), Options{})
	checkDiagsAt(t, err, []diagAt{{filepath.Join(dir, "m1.yaml"), 4, 1, fmt.Sprintf("extends m0.yaml: the chain is deeper than %d manifests", maxChain), ""}})
}

// TestChainParseOpts: ParseOpts reads the bytes it is given for the first
// file, and the bases from their files relative to that file's name.
func TestChainParseOpts(t *testing.T) {
	const file = "testdata/chain/inline.yaml" // not a file: its bytes are given
	b := []byte(head + "metadata: {name: inline}\nextends: sku-a.yaml\nfuses:\n  - {bank: 14, word: 2, value: 0x5}\n")
	m, err := ParseOpts(file, b, Options{Vars: given("serial", "7", "mac0", "00:04:9f:01:02:03")})
	if err != nil {
		t.Fatalf("ParseOpts: %v", err)
	}
	if !reflect.DeepEqual(m.Files, []string{chainBase, chainSKU, file}) || m.Name != "inline" || m.File != file {
		t.Errorf("File %q, Files %q, Name %q", m.File, m.Files, m.Name)
	}
	if n := len(m.Targets); n != 14 || m.Targets[n-1].Bank != 14 || m.Targets[n-1].Word != 2 || m.Targets[n-1].Value != 5 {
		t.Errorf("Targets =\n%s", targetDump(m.Targets))
	}
	sum := sha256.Sum256(b)
	h := sha256.New()
	for _, f := range []string{chainBase, chainSKU} {
		fb, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(fb)
		h.Write(s[:])
	}
	h.Write(sum[:])
	if want := "sha256:" + hex.EncodeToString(h.Sum(nil)); m.Digest != want {
		t.Errorf("Digest %s, want %s", m.Digest, want)
	}
}
