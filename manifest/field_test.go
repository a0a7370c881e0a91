package manifest

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

// srkBytes is the sample SRK_1_2_3_4_fuse.bin: bytes 0x00..0x1f.
func srkBytes() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// srkTargets is what the sample SRK hash asks of an i.MX8M (banks 6-7, four
// words a bank): word i is the little-endian u32 of bytes 4i..4i+3, written
// out rather than computed.
var srkTargets8M = []Target{
	{Index: 24, WriteIndex: 24, Bank: 6, Word: 0, Value: 0x03020100, Mask: 0xffffffff, Names: []string{"SRK_HASH"}},
	{Index: 25, WriteIndex: 25, Bank: 6, Word: 1, Value: 0x07060504, Mask: 0xffffffff, Names: []string{"SRK_HASH"}},
	{Index: 26, WriteIndex: 26, Bank: 6, Word: 2, Value: 0x0b0a0908, Mask: 0xffffffff, Names: []string{"SRK_HASH"}},
	{Index: 27, WriteIndex: 27, Bank: 6, Word: 3, Value: 0x0f0e0d0c, Mask: 0xffffffff, Names: []string{"SRK_HASH"}},
	{Index: 28, WriteIndex: 28, Bank: 7, Word: 0, Value: 0x13121110, Mask: 0xffffffff, Names: []string{"SRK_HASH"}},
	{Index: 29, WriteIndex: 29, Bank: 7, Word: 1, Value: 0x17161514, Mask: 0xffffffff, Names: []string{"SRK_HASH"}},
	{Index: 30, WriteIndex: 30, Bank: 7, Word: 2, Value: 0x1b1a1918, Mask: 0xffffffff, Names: []string{"SRK_HASH"}},
	{Index: 31, WriteIndex: 31, Bank: 7, Word: 3, Value: 0x1f1e1d1c, Mask: 0xffffffff, Names: []string{"SRK_HASH"}},
}

const srkHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// tg is a target of an SoC whose read and write indexes agree.
func tg(index, bank, word int, value, mask uint32, names ...string) Target {
	return Target{Index: index, WriteIndex: index, Bank: bank, Word: word, Value: value, Mask: mask, Names: names}
}

// withoutPos returns the targets with their positions (and secret marks,
// which the vars tests check) dropped, and the number of positions of each.
func withoutPos(ts []Target) ([]Target, []int) {
	out := make([]Target, len(ts))
	n := make([]int, len(ts))
	for i, t := range ts {
		n[i] = len(t.Pos)
		t.Pos = nil
		t.Secret = 0
		out[i] = t
	}
	return out, n
}

func targetDump(ts []Target) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "\t%d/%d index %d write %d value %#08x mask %#08x names %q positions %d\n",
			t.Bank, t.Word, t.Index, t.WriteIndex, t.Value, t.Mask, t.Names, len(t.Pos))
	}
	return b.String()
}

func manifestOf(soc, fuses string) []byte {
	return []byte("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: f}\nsoc: " + soc + "\nfuses:\n" + fuses)
}

// inlineFile names the manifests made here: valueFrom paths are relative to
// its directory, so files/ is testdata/files/.
const inlineFile = "testdata/valid/inline.yaml"

// TestFieldTargets: each encoding, given in each accepted spelling, resolves
// to exactly the targets a raw manifest would spell out, and only the
// field's bits are in the masks.
func TestFieldTargets(t *testing.T) {
	mac0 := []Target{tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x00000004, 0x0000ffff, "MAC_ADDR0")}
	close1 := []Target{tg(7, 1, 3, 0x02000000, 0x02000000, "SEC_CONFIG_CLOSE")}
	close0 := []Target{tg(7, 1, 3, 0, 0x02000000, "SEC_CONFIG_CLOSE")}
	bootCfg := []Target{tg(7, 1, 3, 0x2022, 0x0000ffff, "BOOT_CFG")}
	tests := []struct {
		name  string
		soc   string // imx8mm if empty
		fuses string
		want  []Target
		npos  []int // positions per target; 1 each if nil
	}{
		// MAC: the reference sheet's example, U-Boot's layout.
		{"MAC_ADDR0", "", "  - field: MAC_ADDR0\n    value: \"00:04:9f:01:02:03\"\n", mac0, nil},
		{"MAC_ADDR0 upper-case hex", "", "  - {field: MAC_ADDR0, value: \"00:04:9F:01:02:03\"}\n", mac0, nil},
		{"MAC_ADDR0 single-quoted", "", "  - {field: MAC_ADDR0, value: '00:04:9f:01:02:03'}\n", mac0, nil},
		{"MAC_ADDR0 locally administered", "", "  - {field: MAC_ADDR0, value: \"fe:dc:ba:98:76:54\"}\n",
			[]Target{tg(36, 9, 0, 0xba987654, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x0000fedc, 0x0000ffff, "MAC_ADDR0")}, nil},
		// MAC_ADDR1: 9/2 = aabbccdd, 9/1[31:16] = eeff.
		{"MAC_ADDR1", "", "  - {field: MAC_ADDR1, value: \"00:04:9f:0a:0b:0c\"}\n",
			[]Target{tg(37, 9, 1, 0x0b0c0000, 0xffff0000, "MAC_ADDR1"), tg(38, 9, 2, 0x00049f0a, 0xffffffff, "MAC_ADDR1")}, nil},
		{"MAC_ADDR0 and MAC_ADDR1 share 9/1", "",
			"  - {field: MAC_ADDR0, value: \"00:04:9f:01:02:03\"}\n  - {field: MAC_ADDR1, value: \"00:04:9f:0a:0b:0c\"}\n",
			[]Target{tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x0b0c0004, 0xffffffff, "MAC_ADDR0", "MAC_ADDR1"),
				tg(38, 9, 2, 0x00049f0a, 0xffffffff, "MAC_ADDR1")}, []int{1, 2, 1}},
		{"MAC_ADDR1 then MAC_ADDR0", "",
			"  - {field: MAC_ADDR1, value: \"00:04:9f:0a:0b:0c\"}\n  - {field: MAC_ADDR0, value: \"00:04:9f:01:02:03\"}\n",
			[]Target{tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x0b0c0004, 0xffffffff, "MAC_ADDR1", "MAC_ADDR0"),
				tg(38, 9, 2, 0x00049f0a, 0xffffffff, "MAC_ADDR1")}, []int{1, 2, 1}},

		// Hash: from CST's file or as hex digits in file byte order.
		{"SRK_HASH from file", "", "  - field: SRK_HASH\n    valueFrom: {file: files/SRK_1_2_3_4_fuse.bin}\n", srkTargets8M, nil},
		{"SRK_HASH as hex", "", "  - field: SRK_HASH\n    value: \"" + srkHex + "\"\n", srkTargets8M, nil},
		{"SRK_HASH as 0x upper-case hex", "", "  - field: SRK_HASH\n    value: \"0X" + strings.ToUpper(srkHex) + "\"\n", srkTargets8M, nil},
		{"SRK_HASH as plain YAML string", "", "  - field: SRK_HASH\n    value: " + srkHex + "\n", srkTargets8M, nil},

		// uint: only the field's bits.
		{"BOOT_CFG hex", "", "  - {field: BOOT_CFG, value: 0x2022}\n", bootCfg, nil},
		{"BOOT_CFG decimal", "", "  - {field: BOOT_CFG, value: 8226}\n", bootCfg, nil},
		{"BOOT_CFG binary", "", "  - {field: BOOT_CFG, value: 0b10000000100010}\n", bootCfg, nil},
		{"BOOT_CFG quoted hex", "", "  - {field: BOOT_CFG, value: \"0x2022\"}\n", bootCfg, nil},
		{"BOOT_CFG max", "", "  - {field: BOOT_CFG, value: 0xffff}\n", []Target{tg(7, 1, 3, 0xffff, 0xffff, "BOOT_CFG")}, nil},
		{"BOOT_CFG zero", "", "  - {field: BOOT_CFG, value: 0}\n", []Target{tg(7, 1, 3, 0, 0xffff, "BOOT_CFG")}, nil},
		{"JTAG_SMODE, two bits at 23:22", "", "  - {field: JTAG_SMODE, value: 3}\n",
			[]Target{tg(7, 1, 3, 0x00c00000, 0x00c00000, "JTAG_SMODE")}, nil},
		{"JTAG_SMODE 1", "", "  - {field: JTAG_SMODE, value: 1}\n",
			[]Target{tg(7, 1, 3, 0x00400000, 0x00c00000, "JTAG_SMODE")}, nil},
		{"whole-word uint", "", "  - {field: USB_ID, value: 0x01021fc9}\n", []Target{tg(34, 8, 2, 0x01021fc9, 0xffffffff, "USB_ID")}, nil},
		{"GP1, 64 bits over two words", "", "  - {field: GP1, value: 0x1122334455667788}\n",
			[]Target{tg(56, 14, 0, 0x55667788, 0xffffffff, "GP1"), tg(57, 14, 1, 0x11223344, 0xffffffff, "GP1")}, nil},
		{"GP1 max", "", "  - {field: GP1, value: 18446744073709551615}\n",
			[]Target{tg(56, 14, 0, 0xffffffff, 0xffffffff, "GP1"), tg(57, 14, 1, 0xffffffff, 0xffffffff, "GP1")}, nil},
		{"GP1 quoted 16 hex digits", "", "  - {field: GP1, value: \"0x0000000100000002\"}\n",
			[]Target{tg(56, 14, 0, 2, 0xffffffff, "GP1"), tg(57, 14, 1, 1, 0xffffffff, "GP1")}, nil},
		{"SJC_RESP, 56 bits over a word and 24 bits", "", "  - {field: SJC_RESP, value: 0x00abcdef12345678}\n",
			[]Target{tg(32, 8, 0, 0x12345678, 0xffffffff, "SJC_RESP"), tg(33, 8, 1, 0x00abcdef, 0x00ffffff, "SJC_RESP")}, nil},
		{"SJC_RESP max", "", "  - {field: SJC_RESP, value: 0xffffffffffffff}\n",
			[]Target{tg(32, 8, 0, 0xffffffff, 0xffffffff, "SJC_RESP"), tg(33, 8, 1, 0x00ffffff, 0x00ffffff, "SJC_RESP")}, nil},

		// bool: one bit.
		{"SEC_CONFIG_CLOSE 1", "", "  - {field: SEC_CONFIG_CLOSE, value: 1}\n", close1, nil},
		{"SEC_CONFIG_CLOSE 0x1", "", "  - {field: SEC_CONFIG_CLOSE, value: 0x1}\n", close1, nil},
		{"SEC_CONFIG_CLOSE true", "", "  - {field: SEC_CONFIG_CLOSE, value: true}\n", close1, nil},
		{"SEC_CONFIG_CLOSE True", "", "  - {field: SEC_CONFIG_CLOSE, value: True}\n", close1, nil},
		{"SEC_CONFIG_CLOSE 0", "", "  - {field: SEC_CONFIG_CLOSE, value: 0}\n", close0, nil},
		{"SEC_CONFIG_CLOSE false", "", "  - {field: SEC_CONFIG_CLOSE, value: false}\n", close0, nil},
		{"bit 0 of a word", "", "  - {field: FIELD_RETURN, value: true}\n", []Target{tg(35, 8, 3, 1, 1, "FIELD_RETURN")}, nil},
		{"bit 9 of the lock word", "", "  - {field: SRK_LOCK, value: 1}\n", []Target{tg(0, 0, 0, 0x200, 0x200, "SRK_LOCK")}, nil},

		// Fields of one word merge with each other and with raw entries.
		{"three fields of 1/3", "",
			"  - {field: BOOT_CFG, value: 0x2022}\n  - {field: SEC_CONFIG_CLOSE, value: 1}\n  - {field: SJC_DISABLE, value: false}\n",
			[]Target{tg(7, 1, 3, 0x02002022, 0x0220ffff, "BOOT_CFG", "SEC_CONFIG_CLOSE", "SJC_DISABLE")}, []int{3}},
		{"a field inside a whole-word field that agrees", "",
			"  - {field: BOOT_CFG0, value: 0x02002022}\n  - {field: SEC_CONFIG_CLOSE, value: 1}\n",
			[]Target{tg(7, 1, 3, 0x02002022, 0xffffffff, "BOOT_CFG0", "SEC_CONFIG_CLOSE")}, []int{2}},
		{"raw entries on other bits of the field's word", "",
			"  - {field: BOOT_CFG, value: 0x2022}\n  - {name: vendor, bank: 1, word: 3, value: 0x08000000, mask: 0x08000000}\n  - {bank: 14, word: 0, value: 5}\n",
			[]Target{tg(7, 1, 3, 0x08002022, 0x0800ffff, "BOOT_CFG", "vendor"), tg(56, 14, 0, 5, 0xffffffff)}, []int{2, 1}},
		{"a raw entry that repeats a field", "",
			"  - {bank: 9, word: 1, value: 0x4, mask: 0xffff}\n  - {field: MAC_ADDR0, value: \"00:04:9f:01:02:03\"}\n",
			[]Target{tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x00000004, 0x0000ffff, "MAC_ADDR0")}, []int{1, 2}},
		{"the same field twice, agreeing", "",
			"  - {field: BOOT_CFG, value: 0x2022}\n  - {field: BOOT_CFG, value: 8226}\n", bootCfg, []int{2}},

		// Other SoCs: their own places for the same fields.
		{"imx8mp SRK_HASH, MAC_ADDR0, SEC_CONFIG_CLOSE", "imx8mp",
			"  - {field: SRK_HASH, value: \"" + srkHex + "\"}\n  - {field: MAC_ADDR0, value: \"00:04:9f:01:02:03\"}\n  - {field: SEC_CONFIG_CLOSE, value: true}\n",
			append(append(append([]Target{}, close1...), srkTargets8M...), mac0...), nil},
		{"imx8mn MAC_ADDR0", "imx8mn", "  - {field: MAC_ADDR0, value: \"00:04:9f:01:02:03\"}\n", mac0, nil},
		{"imx8mq BOOT_CFG", "imx8mq", "  - {field: BOOT_CFG, value: 0x2022}\n", bootCfg, nil},
		{"imx6q, 8 words a bank", "imx6q",
			"  - {field: MAC_ADDR0, value: \"00:04:9f:01:02:03\"}\n  - {field: SEC_CONFIG_CLOSE, value: 1}\n  - {field: SRK_HASH, valueFrom: {file: files/SRK_1_2_3_4_fuse.bin}}\n",
			[]Target{tg(6, 0, 6, 2, 2, "SEC_CONFIG_CLOSE"),
				tg(24, 3, 0, 0x03020100, 0xffffffff, "SRK_HASH"), tg(25, 3, 1, 0x07060504, 0xffffffff, "SRK_HASH"),
				tg(26, 3, 2, 0x0b0a0908, 0xffffffff, "SRK_HASH"), tg(27, 3, 3, 0x0f0e0d0c, 0xffffffff, "SRK_HASH"),
				tg(28, 3, 4, 0x13121110, 0xffffffff, "SRK_HASH"), tg(29, 3, 5, 0x17161514, 0xffffffff, "SRK_HASH"),
				tg(30, 3, 6, 0x1b1a1918, 0xffffffff, "SRK_HASH"), tg(31, 3, 7, 0x1f1e1d1c, 0xffffffff, "SRK_HASH"),
				tg(34, 4, 2, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(35, 4, 3, 0x00000004, 0x0000ffff, "MAC_ADDR0")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			soc := tt.soc
			if soc == "" {
				soc = "imx8mm"
			}
			b := manifestOf(soc, tt.fuses)
			m, err := Parse(inlineFile, b)
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, b)
			}
			checkManifest(t, inlineFile, b, m)
			got, npos := withoutPos(m.Targets)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(tt.want))
			}
			wantPos := tt.npos
			if wantPos == nil {
				wantPos = make([]int, len(tt.want))
				for i := range wantPos {
					wantPos[i] = 1
				}
			}
			if !reflect.DeepEqual(npos, wantPos) {
				t.Errorf("positions per target = %v, want %v", npos, wantPos)
			}
		})
	}
}

// TestFieldFuses: a field entry is a Fuse named after its field, with one
// Bits per part of the field, at the entry's position; a raw entry has no
// Field.
func TestFieldFuses(t *testing.T) {
	b := manifestOf("imx8mm", ""+
		"  - field: MAC_ADDR0\n"+ // line 6
		"    value: \"00:04:9f:01:02:03\"\n"+
		"  - {name: rev, bank: 14, word: 0, value: 1}\n"+ // line 8
		"  - {field: SEC_CONFIG_CLOSE, value: 0}\n"+ // line 9
		"  -   field: SRK_HASH\n"+ // line 10, the entry at column 7
		"      value: \""+srkHex+"\"\n")
	m, err := Parse("f.yaml", b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkManifest(t, "f.yaml", b, m)
	pos := func(line, col int) Pos { return Pos{File: "f.yaml", Line: line, Col: col} }
	srk := make([]Bits, 8)
	for i := range srk {
		srk[i] = Bits{Bank: 6 + i/4, Word: i % 4, Value: binary.LittleEndian.Uint32(srkBytes()[4*i:]), Mask: 0xffffffff}
	}
	want := []Fuse{
		{Name: "MAC_ADDR0", Field: "MAC_ADDR0", Pos: pos(6, 5), Bits: []Bits{
			{Bank: 9, Word: 0, Value: 0x9f010203, Mask: 0xffffffff}, {Bank: 9, Word: 1, Value: 4, Mask: 0xffff}}},
		{Name: "rev", Pos: pos(8, 5), Bits: []Bits{{Bank: 14, Word: 0, Value: 1, Mask: 0xffffffff}}},
		{Name: "SEC_CONFIG_CLOSE", Field: "SEC_CONFIG_CLOSE", Pos: pos(9, 5), Bits: []Bits{{Bank: 1, Word: 3, Value: 0, Mask: 0x02000000}}},
		{Name: "SRK_HASH", Field: "SRK_HASH", Pos: pos(10, 7), Bits: srk},
	}
	if !reflect.DeepEqual(m.Fuses, want) {
		t.Errorf("Fuses =\n%+v\nwant\n%+v", m.Fuses, want)
	}
	// Every target names the entries that asked for it and where they are.
	for _, tgt := range m.Targets {
		if len(tgt.Names) != 1 || len(tgt.Pos) != 1 {
			t.Errorf("target %d/%d: names %q positions %v, want one of each", tgt.Bank, tgt.Word, tgt.Names, tgt.Pos)
			continue
		}
		for _, f := range want {
			if f.Name == tgt.Names[0] && f.Pos != tgt.Pos[0] {
				t.Errorf("target %d/%d of %s at %v, want %v", tgt.Bank, tgt.Word, f.Name, tgt.Pos[0], f.Pos)
			}
		}
	}
}

// TestFieldValidFiles: the field manifests under testdata/valid, read by
// Load (valueFrom relative to the file), resolve to exactly these targets.
func TestFieldValidFiles(t *testing.T) {
	closeBit := tg(7, 1, 3, 0x02000000, 0x02000000, "SEC_CONFIG_CLOSE")
	srkClosed := append([]Target{closeBit}, srkTargets8M...)
	tests := []struct {
		file string
		want []Target
		npos []int
	}{
		{"field_mac.yaml", []Target{tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"),
			tg(37, 9, 1, 0x0b0c0004, 0xffffffff, "MAC_ADDR0", "MAC_ADDR1"), tg(38, 9, 2, 0x00049f0a, 0xffffffff, "MAC_ADDR1")},
			[]int{1, 2, 1}},
		{"field_srk_file.yaml", srkClosed, nil},
		{"field_srk_hex.yaml", srkClosed, nil},
		{"field_mixed.yaml", []Target{
			tg(7, 1, 3, 0x08402022, 0x08e0ffff, "BOOT_CFG", "vendor-boot-cfg", "SJC_DISABLE", "JTAG_SMODE"),
			tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"),
			tg(37, 9, 1, 0x00000004, 0x0000ffff, "MAC_ADDR0"),
			tg(39, 9, 3, 5, 0xf, "SRK_REVOKE"),
			tg(56, 14, 0, 0x55667713, 0xffffffff, "GP1", "board-rev"),
			tg(57, 14, 1, 0x11223344, 0xffffffff, "GP1")},
			[]int{4, 2, 1, 1, 2, 1}},
		{"field_imx8mp.yaml", append(append(append([]Target{}, srkClosed...),
			tg(36, 9, 0, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(37, 9, 1, 0x00000004, 0x0000ffff, "MAC_ADDR0")),
			tg(255, 63, 3, 1, 0xffffffff)), nil},
		{"field_imx6q.yaml", []Target{tg(6, 0, 6, 0, 2, "SEC_CONFIG_CLOSE"),
			tg(24, 3, 0, 0x03020100, 0xffffffff, "SRK_HASH"), tg(25, 3, 1, 0x07060504, 0xffffffff, "SRK_HASH"),
			tg(26, 3, 2, 0x0b0a0908, 0xffffffff, "SRK_HASH"), tg(27, 3, 3, 0x0f0e0d0c, 0xffffffff, "SRK_HASH"),
			tg(28, 3, 4, 0x13121110, 0xffffffff, "SRK_HASH"), tg(29, 3, 5, 0x17161514, 0xffffffff, "SRK_HASH"),
			tg(30, 3, 6, 0x1b1a1918, 0xffffffff, "SRK_HASH"), tg(31, 3, 7, 0x1f1e1d1c, 0xffffffff, "SRK_HASH"),
			tg(34, 4, 2, 0x9f010203, 0xffffffff, "MAC_ADDR0"), tg(35, 4, 3, 0x00000004, 0x0000ffff, "MAC_ADDR0")}, nil},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "valid", tt.file)
			m, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkManifest(t, path, b, m)
			got, npos := withoutPos(m.Targets)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(tt.want))
			}
			if tt.npos != nil && !reflect.DeepEqual(npos, tt.npos) {
				t.Errorf("positions per target = %v, want %v", npos, tt.npos)
			}
		})
	}
	files, _ := filepath.Glob("testdata/valid/field_*.yaml")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s: no expected targets in TestFieldValidFiles", f)
		}
	}
}

// TestFieldHashSpellings: the hash from the file, as hex and as the raw
// entries a careful person would write give the same targets.
func TestFieldHashSpellings(t *testing.T) {
	var raw strings.Builder
	for i, v := range []uint32{0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c, 0x13121110, 0x17161514, 0x1b1a1918, 0x1f1e1d1c} {
		fmt.Fprintf(&raw, "  - {name: SRK_HASH, bank: %d, word: %d, value: %#08x}\n", 6+i/4, i%4, v)
	}
	spellings := map[string]string{
		"file":   "  - {field: SRK_HASH, valueFrom: {file: files/SRK_1_2_3_4_fuse.bin}}\n",
		"hex":    "  - {field: SRK_HASH, value: \"" + srkHex + "\"}\n",
		"0x hex": "  - {field: SRK_HASH, value: \"0x" + srkHex + "\"}\n",
		"raw":    raw.String(),
	}
	for name, fuses := range spellings {
		m, err := Parse(inlineFile, manifestOf("imx8mm", fuses))
		if err != nil {
			t.Errorf("%s: Parse: %v", name, err)
			continue
		}
		if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, srkTargets8M) {
			t.Errorf("%s: Targets =\n%swant\n%s", name, targetDump(m.Targets), targetDump(srkTargets8M))
		}
	}
}

// TestFieldValueFromRelative: valueFrom is read relative to the manifest's
// directory, not the working directory.
func TestFieldValueFromRelative(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "keys")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// A different hash from the testdata one: the test cannot pass by
	// reading the wrong file.
	hash := make([]byte, 32)
	for i := range hash {
		hash[i] = byte(0xff - i)
	}
	if err := os.WriteFile(filepath.Join(sub, "SRK_1_2_3_4_fuse.bin"), hash, 0o644); err != nil {
		t.Fatal(err)
	}
	wantT := make([]Target, 8)
	for i := range wantT {
		wantT[i] = tg(24+i, 6+i/4, i%4, binary.LittleEndian.Uint32(hash[4*i:]), 0xffffffff, "SRK_HASH")
	}
	if wantT[0].Value != 0xfcfdfeff || wantT[7].Value != 0xe0e1e2e3 {
		t.Fatalf("test hash words %#08x..%#08x", wantT[0].Value, wantT[7].Value)
	}
	for _, tt := range []struct{ name, file string }{
		{"relative", "keys/SRK_1_2_3_4_fuse.bin"},
		{"relative with dot", "./keys/../keys/SRK_1_2_3_4_fuse.bin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := manifestOf("imx8mm", "  - field: SRK_HASH\n    valueFrom: {file: "+strconv.Quote(tt.file)+"}\n")
			path := filepath.Join(dir, "m.yaml")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, wantT) {
				t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(wantT))
			}
		})
	}
	// The same manifest named as if it were in the working directory finds
	// no keys/ there.
	b := manifestOf("imx8mm", "  - field: SRK_HASH\n    valueFrom: {file: keys/SRK_1_2_3_4_fuse.bin}\n")
	_, err := Parse("m.yaml", b)
	checkDiags(t, "m.yaml", diagsOf(t, err), []want{{Line: 7, Col: 23, Msg: "SRK_HASH: valueFrom keys/SRK_1_2_3_4_fuse.bin: no such file or directory"}})
}

// TestFieldValueFromFileSizes: exactly 32 bytes; fewer or more are refused
// with the real count, or "more than 32" (the file is not read past 33).
func TestFieldValueFromFileSizes(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		size int
		msg  string
	}{
		{0, "holds 0 bytes; SRK_HASH takes exactly 32"},
		{1, "holds 1 bytes; SRK_HASH takes exactly 32"},
		{31, "holds 31 bytes; SRK_HASH takes exactly 32"},
		{32, ""},
		{33, "holds more than 32 bytes; SRK_HASH takes exactly 32"},
		{64, "holds more than 32 bytes; SRK_HASH takes exactly 32"},
		{1 << 20, "holds more than 32 bytes"},
	} {
		t.Run(strconv.Itoa(tt.size), func(t *testing.T) {
			b := make([]byte, tt.size)
			copy(b, srkBytes())
			name := fmt.Sprintf("srk%d.bin", tt.size)
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "m.yaml")
			m, err := Parse(file, manifestOf("imx8mm", "  - field: SRK_HASH\n    valueFrom: {file: "+name+"}\n"))
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, srkTargets8M) {
					t.Errorf("Targets =\n%s", targetDump(m.Targets))
				}
				return
			}
			checkDiags(t, file, diagsOf(t, err), []want{{Line: 7, Col: 23, Msg: "SRK_HASH: valueFrom " + name + " " + tt.msg,
				Hint: "write 64 hex digits in file byte order, or valueFrom: {file: SRK_1_2_3_4_fuse.bin}"}})
		})
	}
	// A directory is not a file of bytes.
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "m.yaml")
	_, err := Parse(file, manifestOf("imx8mm", "  - field: SRK_HASH\n    valueFrom: {file: d}\n"))
	checkDiags(t, file, diagsOf(t, err), []want{{Line: 7, Col: 23, Msg: "SRK_HASH: valueFrom d: not a regular file (a directory)"}})
}

// TestFieldEveryField: every field of every embedded map, given a value
// of its encoding, either resolves to exactly its own bits (computed here
// from the parts, independently of the encoder) or is refused for the
// reason the map gives: an identity, a factory field, or a word the driver
// cannot write.
func TestFieldEveryField(t *testing.T) {
	for _, soc := range fusemap.Names() {
		fm := mustMap(t, soc)
		for _, fd := range fm.Fields {
			t.Run(soc+"/"+fd.Name, func(t *testing.T) {
				value, words := sampleValue(t, fd)
				b := manifestOf(soc, "  - field: "+fd.Name+"\n    value: "+value+"\n")
				m, err := Parse("e.yaml", b)

				identity := fd.Identity
				writable := true
				// NXP's factory bits under a wider field (LOCK over
				// TESTER_LOCK): refused where the value sets them, left
				// out of the mask where it does not.
				factory := make([]uint32, len(fd.Parts))
				factorySet := false
				for i, p := range fd.Parts {
					for _, g := range fm.FieldsAt(p.Bank, p.Word) {
						if g.Factory && g != fd {
							factory[i] |= g.MaskIn(p.Bank, p.Word) & p.Mask()
						}
					}
					factorySet = factorySet || words[i]<<p.Lsb&factory[i] != 0
				}
				for _, p := range fd.Parts {
					for _, g := range fm.FieldsAt(p.Bank, p.Word) {
						if g.Identity && g.MaskIn(p.Bank, p.Word)&p.Mask() != 0 {
							identity = true
						}
					}
					if !fm.Writable(fm.WriteIndex(p.Bank, p.Word)) {
						writable = false
					}
				}
				switch {
				case identity:
					ds := diagsOf(t, err)
					if len(ds) != 1 || ds[0].Pos != (Pos{File: "e.yaml", Line: 6, Col: 12}) ||
						!strings.Contains(ds[0].Message, "UNIQUE_ID") || !strings.Contains(ds[0].Message, "NXP programs") && !strings.Contains(ds[0].Message, "programmed by NXP") {
						t.Errorf("identity bits: got\n%s", dump(ds))
					}
					return
				case fd.Factory:
					ds := diagsOf(t, err)
					if len(ds) != 1 || ds[0].Pos != (Pos{File: "e.yaml", Line: 6, Col: 12}) || !strings.Contains(ds[0].Message, "programmed by NXP at test (factory)") {
						t.Errorf("factory field: got\n%s", dump(ds))
					}
					return
				case factorySet && writable:
					ds := diagsOf(t, err)
					if len(ds) != 1 || ds[0].Pos != (Pos{File: "e.yaml", Line: 7, Col: 12}) || !strings.Contains(ds[0].Message, "programmed by NXP at test (factory)") {
						t.Errorf("factory bits set: got\n%s", dump(ds))
					}
					return
				case !writable:
					ds := diagsOf(t, err)
					for _, d := range ds {
						if d.Pos != (Pos{File: "e.yaml", Line: 6, Col: 5}) || !strings.Contains(d.Message, "cannot be programmed through nvmem: "+fm.WriteHazard) {
							t.Errorf("unwritable word: got\n%s", dump(ds))
							break
						}
					}
					return
				}
				if err != nil {
					t.Fatalf("Parse: %v\n%s", err, b)
				}
				checkManifest(t, "e.yaml", b, m)
				var want []Target
				shift := 0
				for i, p := range fd.Parts {
					mask := p.Mask() &^ factory[i]
					if fd.Pattern != nil {
						// NXP's factory bits are not the manifest's to state.
						mask &^= uint32(fd.Pattern.Factory>>shift) << p.Lsb
					}
					shift += p.Width
					want = append(want, Target{Index: fm.ReadIndex(p.Bank, p.Word), WriteIndex: fm.WriteIndex(p.Bank, p.Word),
						Bank: p.Bank, Word: p.Word, Value: words[i] << p.Lsb, Mask: mask, Names: []string{fd.Name}})
				}
				// Two parts of one field never share a word in these maps;
				// targets come in read order.
				for i := 1; i < len(want); i++ {
					for j := i; j > 0 && want[j].Index < want[j-1].Index; j-- {
						want[j], want[j-1] = want[j-1], want[j]
					}
				}
				if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, want) {
					t.Errorf("value %s: Targets =\n%swant\n%s", value, targetDump(m.Targets), targetDump(want))
				}
			})
		}
	}
}

// sampleValue is a value of fd's encoding as a manifest writes it, and the
// right-aligned part values it must give, least significant part first.
func sampleValue(t *testing.T, fd *fusemap.Field) (string, []uint32) {
	t.Helper()
	parts := make([]uint32, len(fd.Parts))
	if pt := fd.Pattern; pt != nil {
		// The one value a pattern field takes.
		v := pt.Value
		for i, p := range fd.Parts {
			parts[i] = uint32(v & (1<<p.Width - 1))
			v >>= p.Width
		}
		return strconv.FormatUint(pt.Value, 10), parts
	}
	switch fd.Encoding {
	case fusemap.Bool:
		return "true", []uint32{1}
	case fusemap.MAC:
		// 02:11:22:33:44:55 as a 48-bit number, cut into the parts' widths.
		v := uint64(0x021122334455)
		for i, p := range fd.Parts {
			parts[i] = uint32(v & (1<<p.Width - 1))
			v >>= p.Width
		}
		return `"02:11:22:33:44:55"`, parts
	case fusemap.Hash:
		raw := make([]byte, 4*len(fd.Parts))
		for i := range raw {
			raw[i] = byte(0xa0 + i)
		}
		for i := range parts {
			parts[i] = uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24
		}
		return `"` + hex.EncodeToString(raw) + `"`, parts
	}
	// uint: every bit of the field set, written as decimal.
	w := fd.Width()
	if w > 64 {
		t.Fatalf("%s: uint of %d bits", fd.Name, w)
	}
	all := ^uint64(0) >> (64 - w)
	for i, p := range fd.Parts {
		parts[i] = uint32(1<<p.Width - 1)
	}
	return strconv.FormatUint(all, 10), parts
}

// overlaid returns a MapSource with an overlay applied to soc's map.
func overlaid(t *testing.T, soc, overlay string) MapSource {
	t.Helper()
	o, err := fusemap.ParseOverlay("overlay.yaml", []byte(overlay))
	if err != nil {
		t.Fatalf("overlay: %v", err)
	}
	m, err := o.Apply(mustMap(t, soc))
	if err != nil {
		t.Fatalf("overlay: %v", err)
	}
	return func(name string) (*fusemap.Map, error) {
		if name != soc {
			return fusemap.Load(name)
		}
		return m, nil
	}
}

// TestFieldWriteIndexes: no embedded field lies where the driver cannot
// write or where read and write indexes differ, so an overlay puts fields
// there: an i.MX8MP field at write index >= 256 is refused as a raw entry
// there is, and an i.MX6Q field in bank 6 gets the shifted read index.
func TestFieldWriteIndexes(t *testing.T) {
	t.Run("imx8mp word 256", func(t *testing.T) {
		maps := overlaid(t, "imx8mp", `apiVersion: otpprov/v1
kind: FuseMapOverlay
soc: imx8mp
fields:
  - {name: HIGH_WORD, bank: 64, word: 0}
  - name: ACROSS
    parts:
      - {bank: 63, word: 3, bits: "7:0"}
      - {bank: 64, word: 1, bits: "7:0"}
`)
		b := manifestOf("imx8mp", "  - {field: HIGH_WORD, value: 1}\n  - {field: ACROSS, value: 0x0101}\n  - {field: SEC_CONFIG_CLOSE, value: 1}\n")
		_, err := ParseWith("p.yaml", b, maps)
		checkDiags(t, "p.yaml", diagsOf(t, err), []want{
			{Line: 6, Col: 5, Msg: "bank 64 word 0 cannot be programmed through nvmem: the imx-ocotp driver keeps the i.MX8MP write address in 8 bits"},
			{Line: 7, Col: 5, Msg: "bank 64 word 1 cannot be programmed through nvmem: the imx-ocotp driver keeps the i.MX8MP write address in 8 bits"},
		})
		// The field's writable half alone is not enough: nothing of it is kept.
		b = manifestOf("imx8mp", "  - {field: ACROSS, value: 0x01}\n")
		if m, err := ParseWith("p.yaml", b, maps); err == nil {
			t.Errorf("a field with a part at word 257 was accepted: %s", targetDump(m.Targets))
		}
	})
	t.Run("imx6q bank 6", func(t *testing.T) {
		maps := overlaid(t, "imx6q", `apiVersion: otpprov/v1
kind: FuseMapOverlay
soc: imx6q
fields:
  - {name: BOARD_ID, bank: 6, word: 1, bits: "11:4"}
`)
		b := manifestOf("imx6q", "  - {field: BOARD_ID, value: 0xa5}\n  - {bank: 6, word: 1, value: 0x3, mask: 0xf}\n")
		m, err := ParseWith("q.yaml", b, maps)
		if err != nil {
			t.Fatalf("ParseWith: %v", err)
		}
		want := []Target{{Index: 8*6 + 1 + 16, WriteIndex: 8*6 + 1, Bank: 6, Word: 1, Value: 0xa53, Mask: 0xfff, Names: []string{"BOARD_ID"}}}
		if got, _ := withoutPos(m.Targets); !reflect.DeepEqual(got, want) {
			t.Errorf("Targets =\n%swant\n%s", targetDump(m.Targets), targetDump(want))
		}
	})
}

// TestFieldImx7ulp: the i.MX7ULP driver cannot write, so every entry is
// refused with the driver's reason: each field (SRK_HASH once per word) and
// each raw entry.
func TestFieldImx7ulp(t *testing.T) {
	fm := mustMap(t, "imx7ulp")
	if fm.WriteHazard == "" || fm.WritableWords != 0 {
		t.Fatalf("imx7ulp: writable words %d, hazard %q", fm.WritableWords, fm.WriteHazard)
	}
	b := manifestOf("imx7ulp", ""+
		"  - {field: SRK_HASH, valueFrom: {file: files/SRK_1_2_3_4_fuse.bin}}\n"+ // 6
		"  - {field: SEC_CONFIG_CLOSE, value: true}\n"+ // 7
		"  - {bank: 0, word: 0, value: 1}\n"+ // 8
		"  - {bank: 31, word: 7, value: 1, mask: 1}\n") // 9
	_, err := Parse(inlineFile, b)
	ds := diagsOf(t, err)
	var ws []want
	for w := 0; w < 8; w++ {
		ws = append(ws, want{Line: 6, Col: 5, Msg: fmt.Sprintf("bank 5 word %d cannot be programmed through nvmem: %s", w, fm.WriteHazard)})
	}
	ws = append(ws,
		want{Line: 7, Col: 5, Msg: "bank 29 word 6 cannot be programmed through nvmem: " + fm.WriteHazard},
		want{Line: 8, Col: 5, Msg: "bank 0 word 0 cannot be programmed through nvmem: " + fm.WriteHazard},
		want{Line: 9, Col: 5, Msg: "bank 31 word 7 cannot be programmed through nvmem: " + fm.WriteHazard})
	checkDiags(t, inlineFile, ds, ws)
}

// TestFieldReportsAllAtOnce: a manifest with a bad field entry of every kind
// reports each of them, one diagnostic per problem, sorted by position,
// whichever stage found it (schema, field decoding, merging).
func TestFieldReportsAllAtOnce(t *testing.T) {
	const file = "testdata/invalid/field_several_errors.yaml"
	_, err := Load(file)
	ds := diagsOf(t, err)
	checkDiagsWellFormed(t, file, err)
	if len(ds) != 8 {
		t.Fatalf("got %d diagnostics, want 8:\n%s", len(ds), dump(ds))
	}
	for i := 1; i < len(ds); i++ {
		if ds[i-1].Pos.Line >= ds[i].Pos.Line {
			t.Errorf("diagnostics not one a line, in line order:\n%s", dump(ds))
		}
	}
	for _, s := range []string{"multicast", "16 bits wide", "unknown field MAC_ADR1", "not a bool", "31 bytes", "disagrees", "programmed by NXP", "fuses[8].bank"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("Error() does not mention %q:\n%s", s, err)
		}
	}

	// The same problems in another order come back in file order.
	b := manifestOf("imx8mm", ""+
		"  - {field: BOOT_CFG, value: 0x2022}\n"+ // 6
		"  - {field: SEC_CONFIG_CLOSE, value: 2}\n"+ // 7
		"  - {bank: 1, word: 3, value: 0x1, mask: 0xffff}\n"+ // 8: disagrees with 6, found last
		"  - {field: MAC_ADDR0, value: \"00:04:9f:01:02\"}\n"+ // 9
		"  - {field: NOPE, value: 1}\n"+ // 10
		"  - {field: SRK_HASH, value: \"00\"}\n"+ // 11
		"  - {field: BOOT_CFG, value: 010}\n") // 12: found by the YAML walk, first
	_, err = Parse("a.yaml", b)
	checkDiags(t, "a.yaml", diagsOf(t, err), []want{
		{Line: 7, Col: 38, Msg: "SEC_CONFIG_CLOSE: 2 is not a bool"},
		{Line: 8, Col: 5, Msg: "bank 1 word 3: value 0x00000001 disagrees with the entry at line 6 (BOOT_CFG, 0x00002022) on bits 13,5,1..0"},
		{Line: 9, Col: 31, Msg: "MAC_ADDR0: MAC \"00:04:9f:01:02\": write six hex octets"},
		{Line: 10, Col: 13, Msg: "unknown field NOPE for imx8mm"},
		{Line: 11, Col: 30, Msg: "SRK_HASH: need 64 hex digits (32 bytes), got 2"},
		{Line: 12, Col: 30, Msg: "ambiguous number 010"},
	})
}

// TestFieldSuggest: a near miss gets the nearest field's name; a name far
// from every field gets the command that lists them.
func TestFieldSuggest(t *testing.T) {
	for _, tt := range []struct{ name, hint string }{
		{"MAC_ADR0", "did you mean MAC_ADDR0?"},
		{"MAC_ADDR", "did you mean MAC_ADDR0 or MAC_ADDR1?"}, // a tie: both
		{"SRK_HAS", "did you mean SRK_HASH?"},
		{"BOOTCFG", "did you mean BOOT_CFG?"},
		{"SEC_CONFIG", "`otpprov fusemap show imx8mm` lists the fields"},
		{"X", "`otpprov fusemap show imx8mm` lists the fields"},
	} {
		_, err := Parse("s.yaml", manifestOf("imx8mm", "  - {field: "+tt.name+", value: 1}\n"))
		checkDiags(t, "s.yaml", diagsOf(t, err), []want{{Line: 6, Col: 13, Msg: "unknown field " + tt.name + " for imx8mm", Hint: tt.hint}})
	}
	// In lower case the schema refuses the name; the hint finds the field.
	_, err := Parse("s.yaml", manifestOf("imx8mm", "  - {field: mac_addr0, value: \"00:04:9f:01:02:03\"}\n"))
	checkDiags(t, "s.yaml", diagsOf(t, err), []want{{Line: 6, Col: 13, Msg: "fuses[0].field: a field name is upper case letters, digits and '_'", Hint: "did you mean MAC_ADDR0?"}})
	// An unknown SoC one letter off a known one.
	_, err = Parse("s.yaml", manifestOf("imx8mmm", "  - {bank: 14, word: 0, value: 1}\n"))
	checkDiags(t, "s.yaml", diagsOf(t, err), []want{{Line: 4, Col: 6, Msg: "soc: unknown soc", Hint: "did you mean imx8mm?"}})
	// A field of another SoC is unknown here: imx7ulp has no BOOT_CFG.
	_, err = Parse("s.yaml", manifestOf("imx7ulp", "  - {field: BOOT_CFG, value: 1}\n"))
	checkDiags(t, "s.yaml", diagsOf(t, err), []want{{Line: 6, Col: 13, Msg: "unknown field BOOT_CFG for imx7ulp"}})
}

// A value for a word of a secret field of the map is never quoted in an
// error, whether a field entry or a raw entry wrote it: errors reach the
// terminal and the journal.
func TestSecretFieldValuesNotInErrors(t *testing.T) {
	for name, fuses := range map[string]string{
		"raw disagrees with the field": "  - field: SJC_RESP\n    value: 0x12345678abcdef\n  - {bank: 8, word: 0, value: 0x9abcdef0}\n",
		"field disagrees with raw":     "  - {bank: 8, word: 0, value: 0x9abcdef0}\n  - field: SJC_RESP\n    value: 0x12345678abcdef\n",
		"raw outside its mask":         "  - {bank: 10, word: 3, value: 0x9abcdef0, mask: 0xffff}\n",
		"field too wide":               "  - field: SJC_RESP\n    value: 0x9abcdef0123456789\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("s.yaml", manifestOf("imx8mm", fuses))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, v := range []string{"12345678", "abcdef", "9abcdef0", "bits 31", "bits 3"} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the error quotes %s: %v", v, err)
				}
			}
		})
	}
}

// TestFieldOverFactoryBits: LOCK spans TESTER_LOCK, NXP's: a LOCK value
// with 0 there leaves those bits out of the target (neither checked nor
// burned), one with a 1 there is refused at the value.
func TestFieldOverFactoryBits(t *testing.T) {
	m, err := Parse("l.yaml", manifestOf("imx8mm", "  - field: LOCK\n    value: 0x4000\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(m.Targets) != 1 || m.Targets[0].Mask != 0xfffffffc || m.Targets[0].Value != 0x4000 {
		t.Errorf("Targets =\n%s, want bank 0 word 0 value 0x4000 mask 0xfffffffc", targetDump(m.Targets))
	}
	_, err = Parse("l.yaml", manifestOf("imx8mm", "  - field: LOCK\n    value: 0x4001\n"))
	checkDiags(t, "l.yaml", diagsOf(t, err), []want{{Line: 7, Col: 12,
		Msg:  "LOCK sets bits 0x00000001 of bank 0 word 0, which are TESTER_LOCK, programmed by NXP at test (factory): a manifest never writes them",
		Hint: "clear those bits of the value (0x00000001)"}})
}

// TestFieldInsideFactoryWord: an overlay's field that lies wholly in a
// tester word (a speed-grade byte of TESTER3) is refused as the word is,
// not turned into a target with no bits.
func TestFieldInsideFactoryWord(t *testing.T) {
	maps := overlaid(t, "imx8mm", `apiVersion: otpprov/v1
kind: FuseMapOverlay
soc: imx8mm
fields:
  - {name: SPEED, bank: 1, word: 0, bits: "10:8"}
`)
	_, err := ParseWith("s.yaml", manifestOf("imx8mm", "  - field: SPEED\n    value: 0\n"), maps)
	checkDiags(t, "s.yaml", diagsOf(t, err), []want{{Line: 6, Col: 12,
		Msg:  "SPEED is bank 1 word 0 mask 0x00000700, which is TESTER3, programmed by NXP at test (factory): a manifest never writes it",
		Hint: "remove the entry: NXP burns it at test on every part"}})
}
