package manifest

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

// TestParseVarFile: names map to values as written, with the position of
// each name and the file's directory; what is not a mapping of single
// values is refused where it is.
func TestParseVarFile(t *testing.T) {
	b, err := os.ReadFile(unitVars)
	if err != nil {
		t.Fatal(err)
	}
	got, ds := ParseVarFile(unitVars, b)
	want := map[string]VarValue{"mac0": {Text: "01:02:03:04:05:06", From: unitVars, Pos: Pos{File: unitVars, Line: 2, Col: 1}, Dir: "testdata/vars"}}
	if len(ds) > 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: %+v, %v; want %+v", unitVars, got, ds, want)
	}

	const file = "st/unit.yaml"
	got, ds = ParseVarFile(file, []byte("hex: 0x0102\nserial: '0010'\nclose: true\nname: 'a b'\nsrk: keys/srk.bin\n"))
	texts := map[string]string{}
	for n, v := range got {
		texts[n] = v.Text
		if v.From != file || v.Dir != "st" || v.Pos.File != file || v.Pos.Col != 1 {
			t.Errorf("%s: %+v", n, v)
		}
	}
	if len(ds) > 0 || !reflect.DeepEqual(texts, map[string]string{"hex": "0x0102", "serial": "0010", "close": "true", "name": "a b", "srk": "keys/srk.bin"}) {
		t.Errorf("values %q, %v", texts, ds)
	}

	for _, c := range []struct {
		name, text string
		line, col  int
		msg        string
	}{
		{"a list", "- a\n- b\n", 1, 1, "a variable file is a mapping of names to values"},
		{"a list value", "mac0: 01:02:03:04:05:06\nkeys: [a, b]\n", 2, 7, "variable keys: a value is a single number, string or bool"},
		{"a mapping value", "key:\n  a: 1\n", 2, 3, "variable key: a value is a single number, string or bool"},
		{"no value", "serial:\n", 1, 8, "variable serial: a value is a single number, string or bool"},
		{"not YAML", "a: [\n", 2, 0, "invalid YAML"}, // at the end, where the parser gave up
		// Refused by the YAML reader, and said once.
		{"an ambiguous number", "serial: 0010\n", 1, 9, "ambiguous number 0010"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ds := ParseVarFile(file, []byte(c.text))
			if got != nil || len(ds) != 1 {
				t.Fatalf("%+v, %d diagnostics: %s", got, len(ds), dump(ds))
			}
			d := ds[0]
			if d.Pos.File != file || d.Pos.Line != c.line || (c.col != 0 && d.Pos.Col != c.col) || !strings.Contains(d.Message, c.msg) {
				t.Errorf("%s: %s, want %d:%d %q", d.Pos, d.Message, c.line, c.col, c.msg)
			}
		})
	}
}

// FuzzVarFile: any --var-file is read without a panic; what is refused
// comes back as sorted diagnostics in that file; what is read gives each
// name its value with its line, and, handed to a manifest declaring four
// variables of different types (one secret), plans or is refused with
// positioned diagnostics that never show the secret.
func FuzzVarFile(f *testing.F) {
	for _, file := range []string{unitVars, "../examples/family/unit-1001.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("mac0: 00:04:9f:01:02:03\nserial: 0x0102\nkey: \"" + strings.Repeat("ab", 32) + "\"\nclose: 1\n"))
	f.Add([]byte("serial: 0010\nkey: [1]\nother: x\n"))
	// Found by fuzz-ci: a secret that is also an unknown variable's name
	// is quoted as that name, which leaks nothing.
	f.Add([]byte("key: babababababa\nbabababababa: 1\n"))
	const file = "st/unit.yaml"
	manifestText := varManifest(
		"  mac0: {type: mac, default: \"00:04:9f:01:02:03\"}\n  serial: {type: u32, default: 0}\n"+
			"  key: {type: hex, bytes: 32, secret: true, default: \""+strings.Repeat("00", 32)+"\"}\n  close: {type: bool, default: false}\n",
		"  - field: MAC_ADDR0\n    value: ${mac0}\n  - {bank: 14, word: 1, value: \"${serial}\"}\n"+
			"  - field: SRK_HASH\n    value: ${key}\n  - field: SEC_CONFIG_CLOSE\n    value: ${close}\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, ds := ParseVarFile(file, b)
		if len(ds) > 0 {
			if vals != nil {
				t.Error("ParseVarFile returned values along with diagnostics")
			}
			checkDiagsWellFormed(t, file, ds)
			return
		}
		for n, v := range vals {
			if v.From != file || v.Dir != "st" || v.Pos.File != file || v.Pos.Line < 1 {
				t.Fatalf("%s: %+v", n, v)
			}
		}
		m, err := ParseOpts(varsFile, manifestText, Options{Vars: vals})
		if err != nil {
			if m != nil {
				t.Error("ParseOpts returned a manifest along with its error")
			}
			checkSortedByFile(t, diagsOf(t, err))
			key := vals["key"]
			decoyVals := maps.Clone(vals)
			decoyVals["key"] = VarValue{Text: decoy(key.Text), From: key.From, Pos: key.Pos, Dir: key.Dir}
			_, decoyErr := ParseOpts(varsFile, manifestText, Options{Vars: decoyVals})
			if leaks(key.Text, err, decoyErr) {
				t.Fatalf("the secret %q is in the error:\n%v", key.Text, err)
			}
		}
	})
}

// leaks reports whether err shows secret more often than decoyErr, the
// error of the same input with the secret swapped for its decoy. Text
// that merely equals the secret (a variable's name, another value, the
// wording of a message) is in both errors and cancels out; only text
// that came from the secret's value is counted. Short values are not
// checked: a few characters match too much by chance.
func leaks(secret string, err, decoyErr error) bool {
	if len(secret) < 12 || decoy(secret) == secret {
		return false
	}
	n := 0
	if decoyErr != nil {
		n = strings.Count(decoyErr.Error(), secret)
	}
	return strings.Count(err.Error(), secret) > n
}

// decoy swaps the digits 1-9, a-f and A-F of s for others of the same
// kind, keeping 0, x and everything else: a hex value stays valid or
// invalid in the same way (a 0x prefix stays one, zero bytes stay zero),
// yet no longer reads as s.
func decoy(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '1' && r <= '9':
			return '1' + (r-'1'+1)%9
		case r >= 'a' && r <= 'f':
			return 'a' + (r-'a'+1)%6
		case r >= 'A' && r <= 'F':
			return 'A' + (r-'A'+1)%6
		}
		return r
	}, s)
}

// checkSortedByFile checks diagnostics of several files are sorted by
// file, then line and column.
func checkSortedByFile(t *testing.T, ds Diagnostics) {
	t.Helper()
	for i := 1; i < len(ds); i++ {
		a, b := ds[i-1].Pos, ds[i].Pos
		if a.File > b.File || a.File == b.File && (a.Line > b.Line || a.Line == b.Line && a.Col > b.Col) {
			t.Fatalf("diagnostics not sorted:\n%s", dump(ds))
		}
	}
}

// FuzzVars: a per-unit value of each type (mac, u32, hex, bool, file),
// secret or not, given with --var to a manifest that uses it. Parse never
// panics; a value it refuses is reported with sorted diagnostics that do
// not show a secret; a value it accepts is of its type and lands in the
// fuse words exactly: the MAC in U-Boot's layout, the number in the raw
// word, the hex bytes and the file's bytes as the SRK hash's little-endian
// words, the bool as the close bit.
func FuzzVars(f *testing.F) {
	varTypes := []VarType{VarMAC, VarU32, VarHex, VarBool, VarFile}
	dir := f.TempDir()
	srk := byteRange(0x40, 32)
	if err := os.WriteFile(filepath.Join(dir, "srk.bin"), srk, 0o644); err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct {
		typ  VarType
		text string
	}{
		{VarMAC, "00:04:9f:01:02:03"}, {VarMAC, "01:00:5e:00:00:01"}, {VarMAC, "00-04-9F-01-02-03"},
		{VarU32, "0x12345678"}, {VarU32, "4294967296"}, {VarU32, "0b101"}, {VarU32, "010"},
		{VarHex, strings.Repeat("0A", 32)}, {VarHex, "0x" + strings.Repeat("1f", 31)},
		{VarBool, "true"}, {VarBool, "0"}, {VarBool, "yes"},
		{VarFile, "srk.bin"}, {VarFile, "missing.bin"},
	} {
		for _, secret := range []bool{false, true} {
			f.Add(uint8(slices.Index(varTypes, s.typ)), secret, s.text)
		}
	}
	uses := map[VarType]string{
		VarMAC:  "  - field: MAC_ADDR0\n    value: ${v}\n",
		VarU32:  "  - {bank: 14, word: 1, value: \"${v}\"}\n",
		VarHex:  "  - field: SRK_HASH\n    value: ${v}\n",
		VarBool: "  - field: SEC_CONFIG_CLOSE\n    value: ${v}\n",
		VarFile: "  - field: SRK_HASH\n    valueFrom: {file: \"${v}\"}\n",
	}
	f.Fuzz(func(t *testing.T, kind uint8, secret bool, text string) {
		typ := string(varTypes[int(kind)%len(varTypes)])
		use := uses[VarType(typ)]
		if typ == string(VarFile) && !filepath.IsLocal(text) {
			return // a path out of the fuzzer's directory could be a FIFO or a device
		}
		decl := fmt.Sprintf("  v: {type: %s, secret: %v}\n", typ, secret)
		if typ == string(VarHex) {
			decl = fmt.Sprintf("  v: {type: hex, bytes: 32, secret: %v}\n", secret)
		}
		m, err := ParseOpts(varsFile, varManifest(decl, use), Options{Vars: map[string]VarValue{"v": {Text: text, From: "--var", Dir: dir}}})
		if err != nil {
			if m != nil {
				t.Error("ParseOpts returned a manifest along with its error")
			}
			checkSortedByFile(t, diagsOf(t, err))
			if !secret {
				return
			}
			_, decoyErr := ParseOpts(varsFile, varManifest(decl, use), Options{Vars: map[string]VarValue{"v": {Text: decoy(text), From: "--var", Dir: dir}}})
			if leaks(text, err, decoyErr) {
				t.Fatalf("the secret %q is in the error:\n%v", text, err)
			}
			return
		}
		if len(m.Variables) != 1 || secret != redactedForm.MatchString(m.Variables[0].Shown) {
			t.Fatalf("variables %+v (secret %v)", m.Variables, secret)
		}
		words := map[[2]int]uint32{}
		for _, tg := range m.Targets {
			words[[2]int{tg.Bank, tg.Word}] = tg.Value
		}
		want := map[[2]int]uint32{}
		hash := func(b []byte) {
			for i := 0; i < 8; i++ {
				want[[2]int{6 + i/4, i % 4}] = binary.LittleEndian.Uint32(b[4*i:])
			}
		}
		switch VarType(typ) {
		case VarMAC:
			n, err := fusemap.ParseMAC(text)
			if err != nil {
				t.Fatalf("mac %q accepted, but ParseMAC: %v", text, err)
			}
			want[[2]int{9, 0}], want[[2]int{9, 1}] = uint32(n), uint32(n>>32)&0xffff
		case VarU32:
			n, ok := ParseNumber(text)
			if !ok || n > 0xffffffff {
				t.Fatalf("u32 %q accepted", text)
			}
			want[[2]int{14, 1}] = uint32(n)
		case VarHex:
			b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(text, "0x"), "0X"))
			if err != nil || len(b) != 32 {
				t.Fatalf("hex %q accepted (%d bytes, %v)", text, len(b), err)
			}
			hash(b)
		case VarBool:
			switch text {
			case "1", "true":
				want[[2]int{1, 3}] = 1 << 25
			case "0", "false":
				want[[2]int{1, 3}] = 0
			default:
				t.Fatalf("bool %q accepted", text)
			}
		case VarFile:
			if filepath.Clean(text) != "srk.bin" {
				t.Fatalf("file %q accepted: only srk.bin exists", text)
			}
			hash(srk)
		}
		if !reflect.DeepEqual(words, want) {
			t.Fatalf("%s %q gives words %x, want %x", typ, text, words, want)
		}
	})
}
