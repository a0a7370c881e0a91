package manifest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

// varsFile names the manifests made here: a relative file path (a file
// variable's default, valueFrom) is relative to testdata/vars.
const varsFile = "testdata/vars/inline.yaml"

// unitVars is the station's var file of testdata/vars. TestParseVarFile
// checks what ParseVarFile makes of it; the tests below give its values
// by hand, next to values from other sources.
const unitVars = "testdata/vars/unit.vars.yaml"

// varManifest is an imx8mm manifest with variables: vars starts at line 6,
// and fuses right after it.
func varManifest(vars, fuses string) []byte {
	return []byte("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: v}\nsoc: imx8mm\nvariables:\n" + vars + "fuses:\n" + fuses)
}

// flag is a value given with --var, relative to the working directory.
func flag(text string) VarValue { return VarValue{Text: text, From: "--var"} }

// given builds Options.Vars from name, value pairs given with --var.
func given(kv ...string) map[string]VarValue {
	m := map[string]VarValue{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = flag(kv[i+1])
	}
	return m
}

// redacted is how a secret's value is shown, computed here from its
// definition: the first four bytes of its SHA-256, in hex.
func redacted(value string) string {
	sum := sha256.Sum256([]byte(value))
	return fmt.Sprintf("secret sha256:%02x%02x%02x%02x", sum[0], sum[1], sum[2], sum[3])
}

var redactedForm = regexp.MustCompile(`^secret sha256:[0-9a-f]{8}$`)

// hashTargets is what a 32-byte SRK hash asks of an i.MX8MM: word i is the
// little-endian u32 of bytes 4i..4i+3.
func hashTargets(b []byte) []Target {
	out := make([]Target, 8)
	for i := range out {
		out[i] = tg(24+i, 6+i/4, i%4, binary.LittleEndian.Uint32(b[4*i:]), 0xffffffff, "SRK_HASH")
	}
	return out
}

// byteRange is the bytes from, from+1, ..., n of them.
func byteRange(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

// absPath is path made absolute, as a file variable's value is.
func absPath(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// checkSecretBits checks each target's Secret: its whole mask when secret,
// else none.
func checkSecretBits(t *testing.T, ts []Target, secret bool) {
	t.Helper()
	for _, tg := range ts {
		want := uint32(0)
		if secret {
			want = tg.Mask
		}
		if tg.Secret != want {
			t.Errorf("%d/%d: Secret %#08x, want %#08x (mask %#08x)", tg.Bank, tg.Word, tg.Secret, want, tg.Mask)
		}
	}
}

// diagAt is an expected diagnostic in a named file: its exact position and
// a substring of its message and, if given, of its hint.
type diagAt struct {
	file      string
	line, col int
	msg, hint string
}

// checkDiagsAt compares err's diagnostics with ws, in order, files
// included: the files of a chain, a var file, "--var".
func checkDiagsAt(t *testing.T, err error, ws []diagAt) {
	t.Helper()
	ds := diagsOf(t, err)
	var wants strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&wants, "\t%s:%d:%d: %s || %s\n", w.file, w.line, w.col, w.msg, w.hint)
	}
	if len(ds) != len(ws) {
		t.Errorf("got %d diagnostics, want %d:\n%swant:\n%s", len(ds), len(ws), dump(ds), wants.String())
		return
	}
	for i, d := range ds {
		w := ws[i]
		if d.Pos != (Pos{File: w.file, Line: w.line, Col: w.col}) {
			t.Errorf("diagnostic %d at %s, want %s:%d:%d (%s)", i, d.Pos, w.file, w.line, w.col, d.Message)
		}
		if !strings.Contains(d.Message, w.msg) {
			t.Errorf("diagnostic %d: message %q does not contain %q", i, d.Message, w.msg)
		}
		if w.hint != "" && !strings.Contains(d.Hint, w.hint) {
			t.Errorf("diagnostic %d: hint %q does not contain %q", i, d.Hint, w.hint)
		}
	}
}

// TestVarsSubstitute: each type of variable, from its default or given,
// stands for the value a manifest would write in its place; Variables says
// where each value came from and shows a secret one only as a digest.
func TestVarsSubstitute(t *testing.T) {
	mac0 := []Target{tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x00000004, 0x0000ffff, "MAC_ADDR0")}
	macFE := []Target{tg(36, 9, 0, 0xba987654, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x0000fedc, 0x0000ffff, "MAC_ADDR0")}
	close1 := []Target{tg(7, 1, 3, 0x02000000, 0x02000000, "SEC_CONFIG_CLOSE")}
	close0 := []Target{tg(7, 1, 3, 0, 0x02000000, "SEC_CONFIG_CLOSE")}
	raw := func(v uint32) []Target { return []Target{tg(57, 14, 1, v, 0xffffffff)} }
	srkDefault := hashTargets(byteRange(0x20, 32)) // testdata/vars/keys/srk-default.bin
	srkGiven := hashTargets(byteRange(0x80, 32))   // testdata/vars/keys/srk-given.bin
	if srkDefault[0].Value != 0x23222120 || srkGiven[7].Value != 0x9f9e9d9c {
		t.Fatalf("test hashes: %#08x, %#08x", srkDefault[0].Value, srkGiven[7].Value)
	}
	// A file variable's value is made absolute: valueFrom reads it as it
	// is, not relative to the manifest a second time.
	srkDefaultAbs, srkGivenAbs := absPath(t, "testdata/vars/keys/srk-default.bin"), absPath(t, "testdata/vars/keys/srk-given.bin")
	const (
		macField  = "  - field: MAC_ADDR0\n    value: ${mac0}\n"
		rawSerial = "  - {bank: 14, word: 1, value: \"${serial}\"}\n"
		closeBit  = "  - field: SEC_CONFIG_CLOSE\n    value: ${close}\n"
		srkHash   = "  - field: SRK_HASH\n    value: ${key}\n"
		srkFile   = "  - field: SRK_HASH\n    valueFrom: {file: \"${srk}\"}\n"
	)
	v := func(name string, typ VarType, shown, from string) Variable {
		return Variable{Name: name, Type: typ, Shown: shown, From: from}
	}
	secret := func(name string, typ VarType, value, from string) Variable {
		return Variable{Name: name, Type: typ, Secret: true, Shown: redacted(value), From: from}
	}
	tests := []struct {
		name   string
		vars   string
		fuses  string
		given  map[string]VarValue
		want   []Target
		secret bool // every target's Secret is its mask; else 0
		list   []Variable
	}{
		// mac: into MAC_ADDR0, shown as aa:bb:cc:dd:ee:ff.
		{"mac given", "  mac0: {type: mac, description: first Ethernet MAC}\n", macField,
			given("mac0", "00:04:9f:01:02:03"), mac0, false, []Variable{v("mac0", VarMAC, "00:04:9f:01:02:03", "--var")}},
		{"mac given upper case", "  mac0: {type: mac}\n", macField,
			given("mac0", "00:04:9F:01:02:03"), mac0, false, []Variable{v("mac0", VarMAC, "00:04:9f:01:02:03", "--var")}},
		{"mac default", "  mac0: {type: mac, default: \"fe:dc:ba:98:76:54\"}\n", macField,
			nil, macFE, false, []Variable{v("mac0", VarMAC, "fe:dc:ba:98:76:54", "default")}},
		{"mac default unquoted", "  mac0:\n    type: mac\n    default: fe:dc:ba:98:76:54\n", macField,
			nil, macFE, false, []Variable{v("mac0", VarMAC, "fe:dc:ba:98:76:54", "default")}},
		{"mac given over default", "  mac0: {type: mac, default: \"fe:dc:ba:98:76:54\"}\n", macField,
			given("mac0", "00:04:9f:01:02:03"), mac0, false, []Variable{v("mac0", VarMAC, "00:04:9f:01:02:03", "--var")}},
		{"mac from the environment", "  mac0: {type: mac}\n", macField,
			map[string]VarValue{"mac0": {Text: "00:04:9f:01:02:03", From: "OTPPROV_VAR_mac0"}}, mac0, false,
			[]Variable{v("mac0", VarMAC, "00:04:9f:01:02:03", "OTPPROV_VAR_mac0")}},

		// u32: into a raw value, and into a uint field (only its bits).
		{"u32 default 0", "  serial: {type: u32, default: 0}\n", rawSerial,
			nil, raw(0), false, []Variable{v("serial", VarU32, "0", "default")}},
		{"u32 default hex", "  serial: {type: u32, default: 0x10}\n", rawSerial,
			nil, raw(16), false, []Variable{v("serial", VarU32, "16", "default")}},
		{"u32 given hex over default", "  serial: {type: u32, default: 0}\n", rawSerial,
			given("serial", "0x12345678"), raw(0x12345678), false, []Variable{v("serial", VarU32, "0x12345678", "--var")}},
		{"u32 given decimal", "  serial: {type: u32}\n", rawSerial,
			given("serial", "305419896"), raw(0x12345678), false, []Variable{v("serial", VarU32, "305419896", "--var")}},
		{"u32 given binary", "  serial: {type: u32}\n", rawSerial,
			given("serial", "0b101"), raw(5), false, []Variable{v("serial", VarU32, "0b101", "--var")}},
		{"u32 given max", "  serial: {type: u32}\n", rawSerial,
			given("serial", "4294967295"), raw(0xffffffff), false, []Variable{v("serial", VarU32, "4294967295", "--var")}},
		{"u32 into a masked raw entry", "  rev: {type: u32, default: 0x13}\n", "  - {bank: 14, word: 0, value: \"${rev}\", mask: 0xff}\n",
			nil, []Target{tg(56, 14, 0, 0x13, 0xff)}, false, []Variable{v("rev", VarU32, "19", "default")}},
		{"u32 into BOOT_CFG", "  cfg: {type: u32}\n", "  - field: BOOT_CFG\n    value: ${cfg}\n",
			given("cfg", "0x2022"), []Target{tg(7, 1, 3, 0x2022, 0xffff, "BOOT_CFG")}, false, []Variable{v("cfg", VarU32, "0x2022", "--var")}},
		{"u32 into GP1, 64 bits", "  cfg: {type: u32, default: 0xffffffff}\n", "  - field: GP1\n    value: ${cfg}\n",
			nil, []Target{tg(56, 14, 0, 0xffffffff, 0xffffffff, "GP1"), tg(57, 14, 1, 0, 0xffffffff, "GP1")}, false,
			[]Variable{v("cfg", VarU32, "4294967295", "default")}},
		{"u32 into a bool field", "  cfg: {type: u32}\n", "  - field: SEC_CONFIG_CLOSE\n    value: ${cfg}\n",
			given("cfg", "1"), close1, false, []Variable{v("cfg", VarU32, "1", "--var")}},

		// hex: `bytes` bytes into a hash field (word i is the LE u32 of bytes
		// 4i..4i+3), or 4 bytes into a raw word.
		{"hex into SRK_HASH", "  key: {type: hex, bytes: 32}\n", srkHash,
			given("key", srkHex), srkTargets8M, false, []Variable{v("key", VarHex, srkHex, "--var")}},
		{"hex 0x upper case into SRK_HASH", "  key: {type: hex, bytes: 32}\n", srkHash,
			given("key", "0X"+strings.ToUpper(srkHex)), srkTargets8M, false, []Variable{v("key", VarHex, srkHex, "--var")}},
		{"hex default", "  key: {type: hex, bytes: 32, default: \"" + srkHex + "\"}\n", srkHash,
			nil, srkTargets8M, false, []Variable{v("key", VarHex, srkHex, "default")}},
		{"hex given over default", "  key: {type: hex, bytes: 32, default: \"" + strings.Repeat("ff", 32) + "\"}\n", srkHash,
			given("key", srkHex), srkTargets8M, false, []Variable{v("key", VarHex, srkHex, "--var")}},
		{"hex 4 bytes into a raw word", "  serial: {type: hex, bytes: 4}\n", rawSerial,
			given("serial", "01020304"), raw(0x01020304), false, []Variable{v("serial", VarHex, "01020304", "--var")}},
		{"hex 8 bytes into GP1", "  key: {type: hex, bytes: 8}\n", "  - field: GP1\n    value: ${key}\n",
			given("key", "1122334455667788"), []Target{tg(56, 14, 0, 0x55667788, 0xffffffff, "GP1"), tg(57, 14, 1, 0x11223344, 0xffffffff, "GP1")}, false,
			[]Variable{v("key", VarHex, "1122334455667788", "--var")}},

		// bool: one bit.
		{"bool given true", "  close: {type: bool}\n", closeBit, given("close", "true"), close1, false, []Variable{v("close", VarBool, "true", "--var")}},
		{"bool given 1", "  close: {type: bool}\n", closeBit, given("close", "1"), close1, false, []Variable{v("close", VarBool, "true", "--var")}},
		{"bool given false", "  close: {type: bool}\n", closeBit, given("close", "false"), close0, false, []Variable{v("close", VarBool, "false", "--var")}},
		{"bool given 0", "  close: {type: bool}\n", closeBit, given("close", "0"), close0, false, []Variable{v("close", VarBool, "false", "--var")}},
		{"bool default true", "  close: {type: bool, default: true}\n", closeBit, nil, close1, false, []Variable{v("close", VarBool, "true", "default")}},
		{"bool default 0", "  close: {type: bool, default: 0}\n", closeBit, nil, close0, false, []Variable{v("close", VarBool, "false", "default")}},
		{"bool given over default", "  close: {type: bool, default: false}\n", closeBit,
			given("close", "1"), close1, false, []Variable{v("close", VarBool, "true", "--var")}},

		// file: into valueFrom.file; a default relative to the manifest's
		// directory, a given value relative to its Dir.
		{"file default", "  srk: {type: file, default: keys/srk-default.bin}\n", srkFile,
			nil, srkDefault, false, []Variable{v("srk", VarFile, srkDefaultAbs, "default")}},
		{"file given relative to its Dir", "  srk: {type: file}\n", srkFile,
			map[string]VarValue{"srk": {Text: "srk-given.bin", From: "--var", Dir: "testdata/vars/keys"}}, srkGiven, false,
			[]Variable{v("srk", VarFile, srkGivenAbs, "--var")}},
		{"file given without Dir", "  srk: {type: file}\n", srkFile,
			given("srk", "testdata/vars/keys/srk-given.bin"), srkGiven, false,
			[]Variable{v("srk", VarFile, srkGivenAbs, "--var")}},
		{"file given absolute", "  srk: {type: file}\n", srkFile,
			map[string]VarValue{"srk": {Text: srkGivenAbs, From: "--var", Dir: "elsewhere"}}, srkGiven, false,
			[]Variable{v("srk", VarFile, srkGivenAbs, "--var")}},
		{"file from a var file over default", "  srk: {type: file, default: keys/srk-default.bin}\n", srkFile,
			map[string]VarValue{"srk": {Text: "keys/srk-given.bin", From: unitVars, Pos: Pos{File: unitVars, Line: 2, Col: 1}, Dir: "testdata/vars"}}, srkGiven, false,
			[]Variable{v("srk", VarFile, srkGivenAbs, unitVars)}},

		// A secret variable: shown as a digest, and the targets it feeds are
		// secret, even where the fuse map's field is not.
		{"secret hex into SRK_HASH", "  key: {type: hex, bytes: 32, secret: true}\n", srkHash,
			given("key", srkHex), srkTargets8M, true, []Variable{secret("key", VarHex, srkHex, "--var")}},
		{"secret hex default", "  key: {type: hex, bytes: 32, secret: true, default: \"" + srkHex + "\"}\n", srkHash,
			nil, srkTargets8M, true, []Variable{secret("key", VarHex, srkHex, "default")}},
		{"secret u32 into a raw word", "  serial: {type: u32, secret: true}\n", rawSerial,
			given("serial", "0x12345678"), raw(0x12345678), true, []Variable{secret("serial", VarU32, "0x12345678", "--var")}},
		{"secret u32 into BOOT_CFG", "  cfg: {type: u32, secret: true}\n", "  - field: BOOT_CFG\n    value: ${cfg}\n",
			given("cfg", "0x2022"), []Target{tg(7, 1, 3, 0x2022, 0xffff, "BOOT_CFG")}, true, []Variable{secret("cfg", VarU32, "0x2022", "--var")}},
		{"secret mac", "  mac0: {type: mac, secret: true}\n", macField,
			given("mac0", "00:04:9f:01:02:03"), mac0, true, []Variable{secret("mac0", VarMAC, "00:04:9f:01:02:03", "--var")}},
		{"secret bool", "  close: {type: bool, secret: true}\n", closeBit,
			given("close", "1"), close1, true, []Variable{secret("close", VarBool, "true", "--var")}},
		{"secret file", "  srk: {type: file, secret: true, default: keys/srk-default.bin}\n", srkFile,
			nil, srkDefault, true, []Variable{secret("srk", VarFile, srkDefaultAbs, "default")}},

		// Several variables: listed in declaration order (by name), each
		// substituted where it is used.
		{"two variables, one entry each",
			"  mac0: {type: mac}\n  serial: {type: u32, default: 7}\n", macField + rawSerial,
			given("mac0", "00:04:9f:01:02:03"), append(append([]Target{}, mac0...), raw(7)...), false,
			[]Variable{v("mac0", VarMAC, "00:04:9f:01:02:03", "--var"), v("serial", VarU32, "7", "default")}},
		{"one variable, two entries", "  cfg: {type: u32, default: 5}\n",
			"  - {bank: 14, word: 0, value: \"${cfg}\"}\n  - {bank: 14, word: 1, value: \"${cfg}\"}\n",
			nil, []Target{tg(56, 14, 0, 5, 0xffffffff), tg(57, 14, 1, 5, 0xffffffff)}, false,
			[]Variable{v("cfg", VarU32, "5", "default")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := varManifest(tt.vars, tt.fuses)
			m, err := ParseOpts(varsFile, b, Options{Vars: tt.given})
			if err != nil {
				t.Fatalf("ParseOpts: %v\n%s", err, b)
			}
			checkManifest(t, varsFile, b, m)
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(tt.want))
			}
			checkSecretBits(t, m.Targets, tt.secret)
			for _, f := range m.Fuses {
				for _, bits := range f.Bits {
					if bits.Secret != tt.secret {
						t.Errorf("fuse %s %d/%d: Secret %v, want %v", f.Name, bits.Bank, bits.Word, bits.Secret, tt.secret)
					}
				}
			}
			if !reflect.DeepEqual(m.Variables, tt.list) {
				t.Errorf("Variables =\n%+v\nwant\n%+v", m.Variables, tt.list)
			}
			for _, vr := range m.Variables {
				if !vr.Secret {
					continue
				}
				if !redactedForm.MatchString(vr.Shown) {
					t.Errorf("%s: Shown %q is not a redacted value", vr.Name, vr.Shown)
				}
				// (A bool's "1" may well be a digit of the digest.)
				if g, ok := tt.given[vr.Name]; ok && len(g.Text) > 4 && strings.Contains(vr.Shown, g.Text) {
					t.Errorf("%s: Shown %q shows the value %q", vr.Name, vr.Shown, g.Text)
				}
			}
		})
	}
}

// TestVarsSecretDigest: a secret's digest tells two values apart, and is
// the same for one value however it is written.
func TestVarsSecretDigest(t *testing.T) {
	shown := func(key string) string {
		t.Helper()
		m, err := ParseOpts(varsFile, varManifest("  key: {type: hex, bytes: 32, secret: true}\n", "  - field: SRK_HASH\n    value: ${key}\n"),
			Options{Vars: given("key", key)})
		if err != nil {
			t.Fatalf("ParseOpts: %v", err)
		}
		return m.Variables[0].Shown
	}
	a, b := shown(srkHex), shown(strings.Repeat("ab", 32))
	if a == b {
		t.Errorf("two keys are both shown as %q", a)
	}
	if c := shown("0x" + strings.ToUpper(srkHex)); c != a {
		t.Errorf("one key written two ways is shown as %q and %q", a, c)
	}
	if Redact([]byte(srkHex)) != redacted(srkHex) {
		t.Errorf("Redact = %q, want %q", Redact([]byte(srkHex)), redacted(srkHex))
	}
}

// TestVarsFixture: testdata/vars/all.yaml, read from its file with values
// from a var file, the environment and --var: every type substituted, a
// file default relative to the manifest's directory, GP2 secret because
// its value is.
func TestVarsFixture(t *testing.T) {
	const file = "testdata/vars/all.yaml"
	// srk's default must be found from the manifest's directory: the
	// working directory has no keys/.
	if _, err := os.Stat("keys/srk-default.bin"); err == nil {
		t.Fatal("keys/srk-default.bin exists: the test cannot tell the directories apart")
	}
	vars := map[string]VarValue{
		"mac0":  {Text: "00:04:9f:01:02:03", From: unitVars, Pos: Pos{File: unitVars, Line: 2, Col: 1}, Dir: "testdata/vars"},
		"close": {Text: "1", From: "OTPPROV_VAR_close"},
		"jtag":  flag("0x0102030405060708"),
	}
	m, err := LoadOpts(file, Options{Vars: vars})
	if err != nil {
		t.Fatalf("LoadOpts: %v", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	checkManifest(t, file, b, m)
	want := []Target{tg(7, 1, 3, 0x02002022, 0x0200ffff, "BOOT_CFG", "SEC_CONFIG_CLOSE")}
	want = append(want, hashTargets(byteRange(0x20, 32))...)
	want = append(want,
		tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x00000004, 0x0000ffff, "MAC_ADDR0"),
		tg(57, 14, 1, 0, 0xffffffff),
		tg(58, 14, 2, 0x05060708, 0xffffffff, "GP2"), tg(59, 14, 3, 0x01020304, 0xffffffff, "GP2"))
	if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, want) {
		t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(want))
	}
	for _, tg := range m.Targets {
		wantSecret := uint32(0)
		if tg.Bank == 14 && tg.Word >= 2 {
			wantSecret = 0xffffffff
		}
		if tg.Secret != wantSecret {
			t.Errorf("%d/%d: Secret %#08x, want %#08x", tg.Bank, tg.Word, tg.Secret, wantSecret)
		}
	}
	wantVars := []Variable{
		{Name: "cfg", Type: VarU32, Shown: "8226", From: "default"},
		{Name: "close", Type: VarBool, Shown: "true", From: "OTPPROV_VAR_close"},
		{Name: "jtag", Type: VarHex, Secret: true, Shown: redacted("0102030405060708"), From: "--var"},
		{Name: "mac0", Type: VarMAC, Shown: "00:04:9f:01:02:03", From: unitVars},
		{Name: "serial", Type: VarU32, Shown: "0", From: "default"},
		{Name: "srk", Type: VarFile, Shown: absPath(t, "testdata/vars/keys/srk-default.bin"), From: "default"},
	}
	if !reflect.DeepEqual(m.Variables, wantVars) {
		t.Errorf("Variables =\n%+v\nwant\n%+v", m.Variables, wantVars)
	}
	// The entries keep their own positions: the one fed by jtag too.
	if n := len(m.Fuses); n != 6 || m.Fuses[5].Pos != (Pos{File: file, Line: 25, Col: 5}) || m.Fuses[5].Field != "GP2" {
		t.Errorf("Fuses: %d, last %+v", n, m.Fuses[n-1])
	}

}

// TestVarsIllTyped: a value that is not of its variable's type is refused
// at the var file's line when it came from one, else at the declaration;
// the message names the variable and where the value came from.
func TestVarsIllTyped(t *testing.T) {
	varFile := func(text string) map[string]VarValue {
		return map[string]VarValue{"x": {Text: text, From: unitVars, Pos: Pos{File: unitVars, Line: 2, Col: 1}, Dir: "testdata/vars"}}
	}
	uses := map[VarType]string{
		VarMAC:  "  - field: MAC_ADDR0\n    value: ${x}\n",
		VarU32:  "  - {bank: 14, word: 1, value: \"${x}\"}\n",
		VarHex:  "  - field: SRK_HASH\n    value: ${x}\n",
		VarBool: "  - field: SEC_CONFIG_CLOSE\n    value: ${x}\n",
		VarFile: "  - field: SRK_HASH\n    valueFrom: {file: \"${x}\"}\n",
	}
	const notMAC, notU32, notHex, notBool = "is not a usable MAC address", "is not a 32-bit number", "is not 64 hex digits (32 bytes)", "is not a bool"
	tests := []struct {
		name  string
		typ   VarType
		decl  string // the declaration's braces
		given map[string]VarValue
		want  diagAt
	}{
		{"mac five octets", VarMAC, "{type: mac}", given("x", "00:04:9f:01:02"),
			diagAt{varsFile, 6, 3, `variable x from --var: "00:04:9f:01:02" ` + notMAC, ""}},
		{"mac multicast", VarMAC, "{type: mac}", given("x", "01:00:5e:00:00:01"),
			diagAt{varsFile, 6, 3, `variable x from --var: "01:00:5e:00:00:01" ` + notMAC, ""}},
		{"mac zero", VarMAC, "{type: mac}", given("x", "00:00:00:00:00:00"), diagAt{varsFile, 6, 3, notMAC, ""}},
		{"mac a number", VarMAC, "{type: mac}", given("x", "5"), diagAt{varsFile, 6, 3, `"5" ` + notMAC, ""}},
		{"mac from a var file", VarMAC, "{type: mac}", varFile("00-04-9f-01-02-03"),
			diagAt{unitVars, 2, 1, `variable x from ` + unitVars + `: "00-04-9f-01-02-03" ` + notMAC, ""}},
		{"mac default", VarMAC, "{type: mac, default: 5}", nil, diagAt{varsFile, 6, 3, `variable x from its default: "5" ` + notMAC, ""}},

		{"u32 too wide", VarU32, "{type: u32}", given("x", "0x100000000"), diagAt{varsFile, 6, 3, `"0x100000000" ` + notU32, ""}},
		{"u32 decimal too wide", VarU32, "{type: u32}", given("x", "4294967296"), diagAt{varsFile, 6, 3, `"4294967296" ` + notU32, ""}},
		{"u32 negative", VarU32, "{type: u32}", given("x", "-1"), diagAt{varsFile, 6, 3, `"-1" ` + notU32, ""}},
		{"u32 leading zero", VarU32, "{type: u32}", given("x", "010"), diagAt{varsFile, 6, 3, `"010" ` + notU32, ""}},
		{"u32 not a number", VarU32, "{type: u32}", given("x", "twelve"), diagAt{varsFile, 6, 3, `"twelve" ` + notU32, ""}},
		{"u32 empty", VarU32, "{type: u32}", given("x", ""), diagAt{varsFile, 6, 3, `"" ` + notU32, ""}},
		{"u32 from a var file", VarU32, "{type: u32}", varFile("0x"), diagAt{unitVars, 2, 1, `variable x from ` + unitVars + `: "0x" ` + notU32, ""}},
		{"u32 default", VarU32, "{type: u32, default: \"12a\"}", nil, diagAt{varsFile, 6, 3, `variable x from its default: "12a" ` + notU32, ""}},

		{"hex short", VarHex, "{type: hex, bytes: 32}", given("x", srkHex[2:]), diagAt{varsFile, 6, 3, notHex, ""}},
		{"hex long", VarHex, "{type: hex, bytes: 32}", given("x", srkHex+"00"), diagAt{varsFile, 6, 3, notHex, ""}},
		{"hex odd digits", VarHex, "{type: hex, bytes: 32}", given("x", srkHex[1:]), diagAt{varsFile, 6, 3, notHex, ""}},
		{"hex not hex", VarHex, "{type: hex, bytes: 32}", given("x", strings.Repeat("zz", 32)), diagAt{varsFile, 6, 3, notHex, ""}},
		{"hex from a var file", VarHex, "{type: hex, bytes: 32}", varFile("00"), diagAt{unitVars, 2, 1, `"00" ` + notHex, ""}},
		{"hex default", VarHex, "{type: hex, bytes: 32, default: \"00\"}", nil, diagAt{varsFile, 6, 3, `variable x from its default: "00" ` + notHex, ""}},
		{"hex 4 bytes", VarHex, "{type: hex, bytes: 4}", given("x", "010203"), diagAt{varsFile, 6, 3, `"010203" is not 8 hex digits (4 bytes)`, ""}},

		{"bool yes", VarBool, "{type: bool}", given("x", "yes"), diagAt{varsFile, 6, 3, `variable x from --var: "yes" ` + notBool, ""}},
		{"bool 2", VarBool, "{type: bool}", given("x", "2"), diagAt{varsFile, 6, 3, `"2" ` + notBool, ""}},
		{"bool from a var file", VarBool, "{type: bool}", varFile("on"), diagAt{unitVars, 2, 1, `"on" ` + notBool, ""}},
		{"bool default", VarBool, "{type: bool, default: 2}", nil, diagAt{varsFile, 6, 3, `variable x from its default: "2" ` + notBool, ""}},

		{"file empty", VarFile, "{type: file}", given("x", ""), diagAt{varsFile, 6, 3, `variable x from --var: "" is not a file path`, ""}},
		{"file empty from a var file", VarFile, "{type: file}", varFile(""), diagAt{unitVars, 2, 1, `"" is not a file path`, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := varManifest("  x: "+tt.decl+"\n", uses[tt.typ])
			_, err := ParseOpts(varsFile, b, Options{Vars: tt.given})
			// One problem, one diagnostic: the entries it feeds say nothing.
			checkDiagsAt(t, err, []diagAt{tt.want})
		})
	}
}

// TestVarsSecretNotInErrors: an ill-typed value of a secret variable is
// refused without the value, from wherever it came.
func TestVarsSecretNotInErrors(t *testing.T) {
	tests := []struct {
		typ, value, use string
		given           bool // else the default
	}{
		{"mac", "01:23:45:67:89:ab", "  - field: MAC_ADDR0\n    value: ${x}\n", true},
		{"mac", "0e:23:45:67:89", "  - field: MAC_ADDR0\n    value: ${x}\n", false},
		{"u32", "0x1234567890", "  - {bank: 14, word: 1, value: \"${x}\"}\n", true},
		{"u32", "0x9876543210", "  - {bank: 14, word: 1, value: \"${x}\"}\n", false},
		{"hex", "0badc0ffee", "  - {bank: 14, word: 1, value: \"${x}\"}\n", true},
		{"hex", "c0ffee", "  - {bank: 14, word: 1, value: \"${x}\"}\n", false},
		{"bool", "maybe", "  - field: SEC_CONFIG_CLOSE\n    value: ${x}\n", true},
		{"bool", "perhaps", "  - field: SEC_CONFIG_CLOSE\n    value: ${x}\n", false},
	}
	for _, tt := range tests {
		for _, from := range []string{"--var", "OTPPROV_VAR_x", unitVars} {
			if !tt.given && from != "--var" {
				continue
			}
			name := tt.typ + " " + tt.value + " from " + from
			if !tt.given {
				name = tt.typ + " " + tt.value + " from its default"
			}
			t.Run(name, func(t *testing.T) {
				decl := "{type: " + tt.typ + ", secret: true"
				if tt.typ == "hex" {
					decl += ", bytes: 4"
				}
				var vars map[string]VarValue
				want := diagAt{varsFile, 6, 3, "variable x from " + from + ": (secret value) is not", ""}
				switch {
				case !tt.given:
					decl += ", default: \"" + tt.value + "\""
					want.msg = "variable x from its default: (secret value) is not"
				case from == unitVars:
					vars = map[string]VarValue{"x": {Text: tt.value, From: from, Pos: Pos{File: unitVars, Line: 2, Col: 1}}}
					want.file, want.line, want.col = unitVars, 2, 1
				default:
					vars = map[string]VarValue{"x": {Text: tt.value, From: from}}
				}
				_, err := ParseOpts(varsFile, varManifest("  x: "+decl+"}\n", tt.use), Options{Vars: vars})
				checkDiagsAt(t, err, []diagAt{want})
				for _, d := range diagsOf(t, err) {
					if strings.Contains(d.Message, tt.value) || strings.Contains(d.Hint, tt.value) || strings.Contains(d.Pos.String(), tt.value) {
						t.Errorf("a diagnostic shows the secret value: %s: %s || %s", d.Pos, d.Message, d.Hint)
					}
				}
				if strings.Contains(err.Error(), tt.value) {
					t.Errorf("Error() shows the secret value:\n%s", err)
				}
			})
		}
	}
}

// TestVarsErrors: each misuse of variables is one diagnostic, at the place
// to fix, saying what to do.
func TestVarsErrors(t *testing.T) {
	tests := []struct {
		name        string
		vars, fuses string
		given       map[string]VarValue
		want        []diagAt
	}{
		{"missing value", "  board: {type: u32}\n", "  - {bank: 14, word: 1, value: \"${board}\"}\n", nil,
			[]diagAt{{varsFile, 6, 3, "variable board (u32) has no value", "--var board=VALUE"}}},
		{"missing values, each reported", "  board: {type: u32}\n  mac0: {type: mac}\n  srk: {type: file}\n",
			"  - {bank: 14, word: 1, value: \"${board}\"}\n  - {field: MAC_ADDR0, value: \"${mac0}\"}\n  - {field: SRK_HASH, valueFrom: {file: \"${srk}\"}}\n",
			given("board", "1"),
			[]diagAt{{varsFile, 7, 3, "variable mac0 (mac) has no value", "OTPPROV_VAR_mac0"}, {varsFile, 8, 3, "variable srk (file) has no value", "--var-file"}}},
		{"unknown given with --var", "  board: {type: u32}\n", "  - {bank: 14, word: 1, value: \"${board}\"}\n",
			given("board", "1", "bord", "1"),
			[]diagAt{{"--var", 0, 0, "unknown variable bord (the manifest declares: board)", "check the spelling"}}},
		{"unknown given in the environment", "  board: {type: u32}\n", "  - {bank: 14, word: 1, value: \"${board}\"}\n",
			map[string]VarValue{"board": flag("1"), "BOARD": {Text: "1", From: "OTPPROV_VAR_BOARD"}},
			[]diagAt{{"OTPPROV_VAR_BOARD", 0, 0, "unknown variable BOARD", ""}}},
		{"unknown given in a var file", "  board: {type: u32}\n", "  - {bank: 14, word: 1, value: \"${board}\"}\n",
			map[string]VarValue{"board": flag("1"), "serial": {Text: "1", From: unitVars, Pos: Pos{File: unitVars, Line: 3, Col: 1}}},
			[]diagAt{{unitVars, 3, 1, "unknown variable serial (the manifest declares: board)", ""}}},
		{"unknown given, nothing declared", "", "", given("board", "1"),
			[]diagAt{{"--var", 0, 0, "unknown variable board (the manifest declares: none)", ""}}},
		{"declared, never used", "  board: {type: u32, default: 1}\n  spare: {type: u32, default: 2}\n", "  - {bank: 14, word: 1, value: \"${board}\"}\n", nil,
			[]diagAt{{varsFile, 7, 3, "variable spare is declared but never used", "use it as ${spare}, or remove it"}}},
		{"undeclared in value", "  board: {type: u32, default: 1}\n", "  - {bank: 14, word: 1, value: \"${board}\"}\n  - field: BOOT_CFG\n    value: ${cfg}\n", nil,
			[]diagAt{{varsFile, 10, 12, "unknown variable cfg", "declare it under variables:"}}},
		{"undeclared in valueFrom.file", "  board: {type: u32, default: 1}\n", "  - {bank: 14, word: 1, value: \"${board}\"}\n  - field: SRK_HASH\n    valueFrom: {file: \"${srk}\"}\n", nil,
			[]diagAt{{varsFile, 10, 23, "unknown variable srk", ""}}},
		{"inside a longer value", "  board: {type: u32, default: 1}\n", "  - {bank: 14, word: 1, value: \"0x${board}\"}\n", nil,
			[]diagAt{{varsFile, 8, 32, `"0x${board}": a variable must be the whole value`, "write ${name} alone"}}},
		{"inside a longer field value", "  cfg: {type: u32, default: 0x20}\n", "  - field: BOOT_CFG\n    value: 0x${cfg}22\n", nil,
			[]diagAt{{varsFile, 9, 12, `"0x${cfg}22": a variable must be the whole value`, ""}}},
		{"inside a longer file name", "  srk: {type: file, default: srk}\n", "  - field: SRK_HASH\n    valueFrom: {file: \"keys/${srk}.bin\"}\n", nil,
			[]diagAt{{varsFile, 9, 23, `"keys/${srk}.bin": a variable must be the whole value`, ""}}},
		{"two in one value", "  a: {type: u32, default: 1}\n  b: {type: u32, default: 2}\n", "  - {bank: 14, word: 1, value: \"${a}${b}\"}\n", nil,
			[]diagAt{{varsFile, 9, 32, `"${a}${b}": a variable must be the whole value`, ""}}},
		{"as bank", "  b: {type: u32, default: 14}\n", "  - bank: ${b}\n    word: 1\n    value: 1\n", nil,
			[]diagAt{{varsFile, 8, 11, "fuses[0].bank: variables are allowed only as an entry's value or valueFrom.file", ""}}},
		{"as word", "  w: {type: u32, default: 1}\n", "  - {bank: 14, word: \"${w}\", value: 1}\n", nil,
			[]diagAt{{varsFile, 8, 22, "fuses[0].word: variables are allowed only", ""}}},
		{"as mask", "  m: {type: u32, default: 0xff}\n", "  - {bank: 14, word: 1, value: 1, mask: \"${m}\"}\n", nil,
			[]diagAt{{varsFile, 8, 41, "fuses[0].mask: variables are allowed only", ""}}},
		{"as name", "  n: {type: u32, default: 1}\n", "  - {name: \"${n}\", bank: 14, word: 1, value: 1}\n", nil,
			[]diagAt{{varsFile, 8, 12, "fuses[0].name: variables are allowed only", ""}}},
		{"as field", "  f: {type: u32, default: 1}\n", "  - {field: \"${f}\", value: 1}\n", nil,
			[]diagAt{{varsFile, 8, 13, "fuses[0].field: variables are allowed only", ""}}},
		{"a file variable as value", "  srk: {type: file, default: keys/srk-default.bin}\n", "  - {bank: 14, word: 1, value: \"${srk}\"}\n", nil,
			[]diagAt{{varsFile, 8, 32, "variable srk (file) cannot be used as fuses[0].value", "valueFrom: {file: ${name}}"}}},
		{"a file variable as a field's value", "  srk: {type: file, default: keys/srk-default.bin}\n", "  - field: SRK_HASH\n    value: ${srk}\n", nil,
			[]diagAt{{varsFile, 9, 12, "variable srk (file) cannot be used as fuses[0].value", ""}}},
		{"a u32 variable in valueFrom.file", "  n: {type: u32, default: 1}\n", "  - field: SRK_HASH\n    valueFrom: {file: \"${n}\"}\n", nil,
			[]diagAt{{varsFile, 9, 23, "variable n (u32) cannot be used as fuses[0].valueFrom.file", "others in value"}}},
		{"a hex variable in valueFrom.file", "  k: {type: hex, bytes: 32, default: \"" + srkHex + "\"}\n", "  - field: SRK_HASH\n    valueFrom: {file: \"${k}\"}\n", nil,
			[]diagAt{{varsFile, 9, 23, "variable k (hex) cannot be used as fuses[0].valueFrom.file", ""}}},
		{"a mac variable in valueFrom.file", "  k: {type: mac}\n", "  - field: SRK_HASH\n    valueFrom: {file: \"${k}\"}\n", given("k", "00:04:9f:01:02:03"),
			[]diagAt{{varsFile, 9, 23, "variable k (mac) cannot be used as fuses[0].valueFrom.file", ""}}},
		{"a bool variable in valueFrom.file", "  k: {type: bool, default: true}\n", "  - field: SRK_HASH\n    valueFrom: {file: \"${k}\"}\n", nil,
			[]diagAt{{varsFile, 9, 23, "variable k (bool) cannot be used as fuses[0].valueFrom.file", ""}}},
		{"hex without bytes", "  k: {type: hex}\n", "  - field: SRK_HASH\n    value: ${k}\n", given("k", srkHex),
			[]diagAt{{varsFile, 6, 6, "variables.k: missing key \"bytes\"", ""}}},
		{"hex without bytes, no value", "  k: {type: hex}\n", "  - field: SRK_HASH\n    value: ${k}\n", nil,
			[]diagAt{{varsFile, 6, 3, "variable k (hex) has no value", ""}, {varsFile, 6, 6, "variables.k: missing key \"bytes\"", ""}}},
		{"bytes on a u32", "  k: {type: u32, bytes: 4, default: 1}\n", "  - {bank: 14, word: 1, value: \"${k}\"}\n", nil,
			[]diagAt{{varsFile, 6, 18, "variables.k.bytes is not allowed here", ""}}},
		{"unknown type", "  k: {type: string, default: 1}\n", "  - {bank: 14, word: 1, value: \"${k}\"}\n", nil,
			[]diagAt{{varsFile, 6, 13, `variables.k.type must be one of "mac", "u32", "hex", "bool" or "file"`, ""}}},
		{"hex default written as a number", "  k: {type: hex, bytes: 4, default: 0x01020304}\n", "  - {bank: 14, word: 1, value: \"${k}\"}\n", nil,
			[]diagAt{{varsFile, 6, 3, "variable k: a hex default must be a quoted string of hex digits, not a number", `default: "0x01020304"`}}},
		{"a missing value fed to a field", "  k: {type: u32}\n", "  - field: BOOT_CFG\n    value: ${k}\n  - field: GP1\n    value: ${k}\n", nil,
			[]diagAt{{varsFile, 6, 3, "variable k (u32) has no value", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := varManifest(tt.vars, tt.fuses)
			if tt.vars == "" {
				b = manifestOf("imx8mm", "  - {bank: 14, word: 1, value: 1}\n")
			}
			_, err := ParseOpts(varsFile, b, Options{Vars: tt.given})
			checkDiagsAt(t, err, tt.want)
		})
	}
}

// TestVarsMissingHint: the missing-value hint names every way to give one.
func TestVarsMissingHint(t *testing.T) {
	_, err := ParseOpts(varsFile, varManifest("  board_rev: {type: u32}\n", "  - {bank: 14, word: 1, value: \"${board_rev}\"}\n"), Options{})
	ds := diagsOf(t, err)
	if len(ds) != 1 {
		t.Fatalf("got\n%s", dump(ds))
	}
	for _, s := range []string{"--var board_rev=", "--var-file", "OTPPROV_VAR_board_rev"} {
		if !strings.Contains(ds[0].Hint, s) {
			t.Errorf("hint %q does not mention %q", ds[0].Hint, s)
		}
	}
}

// TestVarsOutsideFuses: a variable in metadata or soc is refused: only an
// entry's value or valueFrom.file take one.
func TestVarsOutsideFuses(t *testing.T) {
	fuses := "fuses:\n  - {bank: 14, word: 1, value: \"${n}\"}\n"
	tests := []struct {
		name string
		src  string
		want []diagAt
	}{
		{"metadata.name", head + "metadata: {name: \"${n}\"}\nsoc: imx8mm\nvariables:\n  n: {type: u32, default: 1}\n" + fuses,
			[]diagAt{{varsFile, 3, 18, "metadata.name: variables are allowed only as an entry's value or valueFrom.file", ""}}},
		{"metadata.description", head + "metadata:\n  name: m\n  description: ${n}\nsoc: imx8mm\nvariables:\n  n: {type: u32, default: 1}\n" + fuses,
			[]diagAt{{varsFile, 5, 16, "metadata.description: variables are allowed only", ""}}},
		{"within metadata.description", head + "metadata:\n  name: m\n  description: board ${n}\nsoc: imx8mm\nvariables:\n  n: {type: u32, default: 1}\n" + fuses,
			[]diagAt{{varsFile, 5, 16, `"board ${n}": a variable must be the whole value`, ""}}},
		{"soc", head + "metadata: {name: m}\nsoc: ${n}\nvariables:\n  n: {type: u32, default: 1}\n" + fuses,
			[]diagAt{{varsFile, 4, 6, "soc: variables are allowed only", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOpts(varsFile, []byte(tt.src), Options{})
			checkDiagsAt(t, err, tt.want)
		})
	}
}

// TestVarsAllAtOnce: testdata/vars/errors.yaml has one of every problem;
// one run reports each of them once, sorted by file and position, and
// never the secret value.
func TestVarsAllAtOnce(t *testing.T) {
	const file = "testdata/vars/errors.yaml"
	const secretValue = "5ec12e7"
	vars := map[string]VarValue{
		"mac0":    {Text: "01:02:03:04:05:06", From: unitVars, Pos: Pos{File: unitVars, Line: 2, Col: 1}, Dir: "testdata/vars"},
		"serial":  flag("0x1ffffffff"),
		"key":     {Text: secretValue, From: "OTPPROV_VAR_key"},
		"digest":  flag(srkHex),
		"seriall": flag("1"),
	}
	_, err := LoadOpts(file, Options{Vars: vars})
	checkDiagsAt(t, err, []diagAt{
		{"--var", 0, 0, "unknown variable seriall", ""},
		{file, 6, 39, "metadata.description: variables are allowed only", ""},
		{file, 10, 3, `variable serial from --var: "0x1ffffffff" is not a 32-bit number`, ""},
		{file, 11, 3, "variable key from OTPPROV_VAR_key: (secret value) is not 64 hex digits", ""},
		{file, 12, 3, "variable board (u32) has no value", ""},
		{file, 13, 3, `variable close from its default: "maybe" is not a bool`, ""},
		{file, 16, 3, "variable spare is declared but never used", ""},
		{file, 17, 11, "variables.digest: missing key \"bytes\"", ""},
		{file, 27, 32, "variable srk (file) cannot be used as fuses[5].value", ""},
		{file, 29, 23, "variable rev (u32) cannot be used as fuses[6].valueFrom.file", ""},
		{file, 30, 12, "fuses[7].bank: variables are allowed only", ""},
		{file, 31, 32, "unknown variable boardrev", ""},
		{file, 32, 32, `"0x${board}": a variable must be the whole value`, ""},
		{unitVars, 2, 1, `variable mac0 from ` + unitVars + `: "01:02:03:04:05:06" is not a usable MAC address`, ""},
	})
	if err != nil && strings.Contains(err.Error(), secretValue) {
		t.Errorf("Error() shows the secret value:\n%s", err)
	}
}

// TestParseOptsNilMaps: without Options.Maps, the embedded fuse maps resolve
// the fields, as Parse does; with Maps, those maps do.
func TestParseOptsNilMaps(t *testing.T) {
	for _, tt := range []struct {
		soc  string
		want []Target
	}{
		{"imx8mm", []Target{tg(7, 1, 3, 0x02000000, 0x02000000, "SEC_CONFIG_CLOSE"),
			tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x00000004, 0x0000ffff, "MAC_ADDR0")}},
		{"imx6q", []Target{tg(6, 0, 6, 2, 2, "SEC_CONFIG_CLOSE"),
			tg(34, 4, 2, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(35, 4, 3, 0x00000004, 0x0000ffff, "MAC_ADDR0")}},
	} {
		t.Run(tt.soc, func(t *testing.T) {
			b := manifestOf(tt.soc, "  - {field: MAC_ADDR0, value: \"00:04:9f:01:02:03\"}\n  - {field: SEC_CONFIG_CLOSE, value: true}\n")
			m, err := ParseOpts(varsFile, b, Options{})
			if err != nil {
				t.Fatalf("ParseOpts: %v", err)
			}
			checkManifest(t, varsFile, b, m)
			embedded, err := fusemap.Load(tt.soc)
			if err != nil {
				t.Fatal(err)
			}
			if m.Map == nil || !reflect.DeepEqual(m.Map, embedded) {
				t.Errorf("Map is not the embedded %s map", tt.soc)
			}
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(tt.want))
			}
		})
	}
	// A field only an overlay has: found with the overlaid maps, unknown
	// with the embedded ones.
	maps := overlaid(t, "imx8mm", "apiVersion: otpprov/v1\nkind: FuseMapOverlay\nsoc: imx8mm\nfields:\n  - {name: BOARD_ID, bank: 14, word: 0, bits: \"7:0\"}\n")
	b := manifestOf("imx8mm", "  - {field: BOARD_ID, value: 5}\n")
	m, err := ParseOpts(varsFile, b, Options{Maps: maps})
	if err != nil {
		t.Fatalf("ParseOpts with the overlay: %v", err)
	}
	if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, []Target{tg(56, 14, 0, 5, 0xff, "BOARD_ID")}) {
		t.Errorf("Targets =\n%s", targetDump(m.Targets))
	}
	_, err = ParseOpts(varsFile, b, Options{})
	checkDiagsAt(t, err, []diagAt{{varsFile, 6, 13, "unknown field BOARD_ID for imx8mm", ""}})
}

// A secret value that is wrong after conversion (too wide for its field,
// outside a raw mask, in conflict with another entry) is named, never
// shown.
func TestVarsSecretNotInLaterErrors(t *testing.T) {
	const head = "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: s}\nsoc: imx8mm\nvariables:\n  k: {type: u32, secret: true}\nfuses:\n"
	cases := []struct{ name, fuses, want string }{
		{"too wide", "  - field: BOOT_CFG\n    value: ${k}\n", "BOOT_CFG: the secret value does not fit"},
		{"outside mask", "  - {bank: 14, word: 0, value: \"${k}\", mask: 0xff}\n", "the secret value has bits outside mask 0x000000ff"},
		{"conflict", "  - {bank: 14, word: 0, value: \"${k}\"}\n  - {bank: 14, word: 0, value: 0}\n", "a secret value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseOpts("s.yaml", []byte(head+c.fuses), Options{Vars: map[string]VarValue{"k": {Text: "0x12345", From: "--var"}}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			for _, leak := range []string{"12345", "74565", "bits 16"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error shows the secret (%q): %v", leak, err)
				}
			}
		})
	}
}

// Check mode validates a manifest without a unit: variables without a
// value are listed, not errors, and their entries make no targets; a value
// that is given is still checked.
func TestVarsCheckMode(t *testing.T) {
	b := []byte("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: c}\nsoc: imx8mm\nvariables:\n" +
		"  mac0: {type: mac}\n  serial: {type: u32}\nfuses:\n  - field: MAC_ADDR0\n    value: ${mac0}\n" +
		"  - {bank: 14, word: 1, value: \"${serial}\"}\n  - {bank: 14, word: 0, value: 1}\n")
	m, err := ParseOpts("c.yaml", b, Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(m.Unresolved, ",") != "mac0,serial" || len(m.Targets) != 1 || m.Targets[0].Bank != 14 || m.Targets[0].Word != 0 {
		t.Fatalf("unresolved %v, targets %s", m.Unresolved, targetDump(m.Targets))
	}
	_, err = ParseOpts("c.yaml", b, Options{Check: true, Vars: map[string]VarValue{"serial": {Text: "x", From: "--var"}}})
	if err == nil || !strings.Contains(err.Error(), `variable serial from --var: "x" is not a 32-bit number`) {
		t.Fatalf("a given value was not checked: %v", err)
	}
	if _, err := ParseOpts("c.yaml", b, Options{}); err == nil || !strings.Contains(err.Error(), "variable mac0 (mac) has no value") {
		t.Fatalf("outside check mode a missing value must be an error: %v", err)
	}
}

// Variables of one pool are numbered in declaration order, not by name:
// the board's block's first value goes to the first declared.
func TestPoolOrder(t *testing.T) {
	m, err := ParseOpts("p.yaml", []byte(`apiVersion: otpprov/v1
kind: FuseManifest
metadata: {name: p}
soc: imx8mm
variables:
  wifi: {type: mac, pool: eth}
  eth: {type: mac, pool: eth}
  serial: {type: u32, pool: serial}
fuses:
  - {field: MAC_ADDR0, value: "${eth}"}
  - {field: MAC_ADDR1, value: "${wifi}"}
  - {bank: 14, word: 1, value: "${serial}"}
`), Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range m.Variables {
		got[v.Name] = fmt.Sprintf("%s/%d", v.Pool, v.PoolIndex)
	}
	if got["wifi"] != "eth/0" || got["eth"] != "eth/1" || got["serial"] != "serial/0" {
		t.Errorf("pool order: %v", got)
	}
	if fs := m.VarFields; len(fs["eth"]) != 1 || fs["eth"][0] != "MAC_ADDR0" || fs["wifi"][0] != "MAC_ADDR1" || len(fs["serial"]) != 0 {
		t.Errorf("fields: %v", fs)
	}
}

// A SKU declaring a base's pool variable again (to describe it) keeps the
// base's order: the board's first MAC stays the first declared.
func TestPoolOrderAcrossExtends(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("base.yaml", "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: base}\nsoc: imx8mm\nvariables:\n  eth: {type: mac, pool: eth}\n  wifi: {type: mac, pool: eth}\nfuses:\n  - {field: MAC_ADDR0, value: \"${eth}\"}\n  - {field: MAC_ADDR1, value: \"${wifi}\"}\n")
	sku := write("sku.yaml", "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: sku}\nextends: base.yaml\nvariables:\n  eth: {type: mac, pool: eth, description: the Ethernet port}\nfuses:\n  - {bank: 14, word: 0, value: 1}\n")
	m, err := LoadOpts(sku, Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Variables {
		if want := map[string]int{"eth": 0, "wifi": 1}[v.Name]; v.PoolIndex != want {
			t.Errorf("%s: pool index %d, want %d", v.Name, v.PoolIndex, want)
		}
	}
}

// Where a raw entry puts a variable is known before its value: a pool's
// value comes once the board is read, and one already on the board must
// be found in those words first. A field entry's is in VarFields instead.
func TestVarRawWithoutValues(t *testing.T) {
	doc := "apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: m}\nsoc: imx8mm\nvariables:\n  s: {type: u32}\n" +
		"fuses:\n  - {bank: 14, word: 1, value: \"${s}\"}\n  - {bank: 14, word: 2, value: \"${s}\", mask: \"0x0000ff00\"}\n  - {field: GP2, value: \"${s}\"}\n"
	m, err := ParseOpts("m.yaml", []byte(doc), Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Bits{{Bank: 14, Word: 1, Mask: 0xffffffff}, {Bank: 14, Word: 2, Mask: 0x0000ff00}}
	if got := m.VarRaw["s"]; !reflect.DeepEqual(got, want) {
		t.Errorf("VarRaw without a value: %+v, want %+v", got, want)
	}
	if got := m.VarFields["s"]; !reflect.DeepEqual(got, []string{"GP2"}) {
		t.Errorf("VarFields: %v", got)
	}
}
