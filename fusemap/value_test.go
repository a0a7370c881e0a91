package fusemap

import (
	"bytes"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// TestEncodeNumber: a number goes into the parts least significant first
// and comes back unchanged; one bit too many is refused, never truncated.
func TestEncodeNumber(t *testing.T) {
	m := imx8mm(t)
	cases := []struct {
		field string
		v     uint64
		parts []uint32
	}{
		{"SEC_CONFIG_CLOSE", 1, []uint32{1}},
		{"JTAG_SMODE", 3, []uint32{3}},
		{"BOOT_CFG", 0xffff, []uint32{0xffff}},
		{"BOOT_CFG0", 0xffffffff, []uint32{0xffffffff}},
		{"UNIQUE_ID", 0x1122334455667788, []uint32{0x55667788, 0x11223344}},
		{"GP1", 0xffffffffffffffff, []uint32{0xffffffff, 0xffffffff}},
		{"SJC_RESP", 0x00abcdef01234567, []uint32{0x01234567, 0xabcdef}},
		{"MAC_ADDR1", 0xaabbccddeeff, []uint32{0xeeff, 0xaabbccdd}},
	}
	for _, c := range cases {
		f := field(t, m, c.field)
		parts, err := f.Encode(c.v)
		if err != nil || !slices.Equal(parts, c.parts) {
			t.Errorf("%s.Encode(%#x) = %#x, %v; want %#x", c.field, c.v, parts, err, c.parts)
			continue
		}
		if v, ok := f.Number(parts); !ok || v != c.v {
			t.Errorf("%s.Number(%#x) = %#x, %v; want %#x", c.field, parts, v, ok, c.v)
		}
	}

	overflow := []struct {
		field string
		v     uint64
	}{
		{"SEC_CONFIG_CLOSE", 2},
		{"JTAG_SMODE", 4},
		{"BOOT_CFG", 0x10000},
		{"BOOT_CFG0", 0x100000000},
		{"SJC_RESP", 1 << 56},
		{"MAC_ADDR0", 1 << 48},
	}
	for _, c := range overflow {
		f := field(t, m, c.field)
		parts, err := f.Encode(c.v)
		if err == nil {
			t.Errorf("%s.Encode(%#x) = %#x, want an error: the value does not fit", c.field, c.v, parts)
			continue
		}
		if !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), "does not fit") {
			t.Errorf("%s.Encode(%#x): error %q does not name the field and the problem", c.field, c.v, err)
		}
	}

	// A 256-bit hash has no number.
	if _, ok := field(t, m, "SRK_HASH").Number(make([]uint32, 8)); ok {
		t.Error("SRK_HASH.Number succeeded on 256 bits")
	}
}

// TestMACLayout: the worked example of the reference sheet (section 5),
// down to the bytes of the nvmem file.
func TestMACLayout(t *testing.T) {
	m := imx8mm(t)
	v, err := ParseMAC("00:04:9f:01:02:03")
	if err != nil {
		t.Fatal(err)
	}
	mac0 := field(t, m, "MAC_ADDR0")
	parts, err := mac0.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(parts, []uint32{0x9f010203, 0x0004}) {
		t.Fatalf("MAC_ADDR0 parts %#x, want [0x9f010203 0x4]", parts)
	}
	// Lay the parts into an nvmem image the way apply would: each part at
	// its bits of its word, the word at its read offset.
	img := make([]byte, m.Bytes())
	state := make([]uint32, m.Words)
	for i, p := range mac0.Parts {
		state[m.ReadIndex(p.Bank, p.Word)] |= parts[i] << p.Lsb
	}
	copy(img, Bytes(state))
	if state[m.ReadIndex(9, 0)] != 0x9F010203 || state[m.ReadIndex(9, 1)]&0xffff != 0x0004 {
		t.Errorf("9/0 = %#08x, 9/1 = %#08x", state[m.ReadIndex(9, 0)], state[m.ReadIndex(9, 1)])
	}
	if m.Offset(9, 0) != 0x90 {
		t.Fatalf("9/0 is at %#x, want 0x90", m.Offset(9, 0))
	}
	if want := []byte{0x03, 0x02, 0x01, 0x9f, 0x04, 0x00}; !bytes.Equal(img[0x90:0x96], want) {
		t.Errorf("file bytes at 0x90 = % x, want % x", img[0x90:0x96], want)
	}
	if got := mac0.Format(parts); got != "00:04:9f:01:02:03" {
		t.Errorf("Format = %q", got)
	}

	// MAC_ADDR1, U-Boot dev_id 1: 9/2 = aabbccdd, 9/1[31:16] = eeff. It
	// shares 9/1 with MAC_ADDR0 and must not touch its low half.
	mac1 := field(t, m, "MAC_ADDR1")
	v, err = ParseMAC("aa:bb:cc:dd:ee:ff")
	if err != nil {
		t.Fatal(err)
	}
	parts, err = mac1.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	var w91, w92 uint32
	for i, p := range mac1.Parts {
		switch {
		case p.Bank == 9 && p.Word == 1:
			w91 |= parts[i] << p.Lsb
		case p.Bank == 9 && p.Word == 2:
			w92 |= parts[i] << p.Lsb
		default:
			t.Errorf("MAC_ADDR1 has a part at %v", p)
		}
	}
	if w92 != 0xaabbccdd || w91 != 0xeeff0000 {
		t.Errorf("MAC_ADDR1: 9/2 = %#08x, 9/1 = %#08x; want 0xaabbccdd, 0xeeff0000", w92, w91)
	}
	if mac0.MaskIn(9, 1)&mac1.MaskIn(9, 1) != 0 {
		t.Error("MAC_ADDR0 and MAC_ADDR1 share bits of 9/1")
	}
	if got := mac1.Format(parts); got != "aa:bb:cc:dd:ee:ff" {
		t.Errorf("MAC_ADDR1 Format = %q", got)
	}
}

func TestParseMAC(t *testing.T) {
	good := []struct {
		s string
		v uint64
	}{
		{"00:04:9f:01:02:03", 0x00049f010203},
		{"AA:BB:CC:DD:EE:FF", 0xaabbccddeeff}, // upper case is hex too
		{"02:00:00:00:00:01", 0x020000000001}, // locally administered, unicast
	}
	for _, c := range good {
		v, err := ParseMAC(c.s)
		if err != nil || v != c.v {
			t.Errorf("ParseMAC(%q) = %#x, %v; want %#x", c.s, v, err, c.v)
		}
		if got := FormatMAC(v); got != strings.ToLower(c.s) {
			t.Errorf("FormatMAC(%#x) = %q, want %q", v, got, strings.ToLower(c.s))
		}
	}
	bad := []struct{ s, why string }{
		{"00:04:9f:01:02", "six"},
		{"00:04:9f:01:02:03:04", "six"},
		{"", "six"},
		{"00-04-9f-01-02-03", "six"},
		{"00:04:9f:01:02:g3", "two hex digits"},
		{"0:04:9f:01:02:03", "two hex digits"},
		{"00:4:9f:01:02:03", "two hex digits"},
		{"000:4:9f:01:02:03", "two hex digits"},
		{"00:04:9f:01:02:+3", "two hex digits"},
		{"00:00:00:00:00:00", "all zeros"},
		{"01:00:5e:00:00:01", "multicast"},
		{"ff:ff:ff:ff:ff:ff", "multicast"},
		{"03:04:9f:01:02:03", "multicast"},
	}
	for _, c := range bad {
		v, err := ParseMAC(c.s)
		if err == nil {
			t.Errorf("ParseMAC(%q) = %#x, want an error (%s)", c.s, v, c.why)
			continue
		}
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseMAC(%q): %q does not say %q", c.s, err, c.why)
		}
	}
	// FormatMAC round trip over values that exercise every octet.
	for _, v := range []uint64{0, 0x0123456789ab, 0xfedcba987654, 0xffffffffffff} {
		s := FormatMAC(v)
		if len(s) != 17 {
			t.Errorf("FormatMAC(%#x) = %q", v, s)
		}
		if v == 0 || v>>40&1 != 0 {
			continue // not an interface address: ParseMAC refuses it
		}
		if back, err := ParseMAC(s); err != nil || back != v {
			t.Errorf("ParseMAC(FormatMAC(%#x)) = %#x, %v", v, back, err)
		}
	}
}

// TestEncodeBytes: CST's SRK_1_2_3_4_fuse.bin is 32 bytes and word i is
// its i-th little-endian u32 (NXP HABv4 guide); reading it big-endian is
// the classic way to burn a hash that never matches.
func TestEncodeBytes(t *testing.T) {
	m := imx8mm(t)
	srk := field(t, m, "SRK_HASH")
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	parts, err := srk.EncodeBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 8 {
		t.Fatalf("%d parts, want 8", len(parts))
	}
	for i, v := range parts {
		want := uint32(4*i) | uint32(4*i+1)<<8 | uint32(4*i+2)<<16 | uint32(4*i+3)<<24
		if v != want {
			t.Errorf("word %d = %#08x, want %#08x", i, v, want)
		}
	}
	if parts[0] != 0x03020100 {
		t.Errorf("word 0 (6/0) = %#08x, want 0x03020100", parts[0])
	}
	if !bytes.Equal(Bytes(parts), b) {
		t.Errorf("Bytes(EncodeBytes(b)) = % x, want % x", Bytes(parts), b)
	}
	if got, want := srk.Format(parts), hex.EncodeToString(b); got != want {
		t.Errorf("Format = %q, want the file's bytes %q", got, want)
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := srk.EncodeBytes(make([]byte, n)); err == nil || !strings.Contains(err.Error(), "32 bytes") {
			t.Errorf("EncodeBytes(%d bytes): %v, want a refusal naming 32 bytes", n, err)
		}
	}
	// A field that is not whole words cannot take bytes.
	if _, err := field(t, m, "MAC_ADDR0").EncodeBytes(make([]byte, 8)); err == nil {
		t.Error("MAC_ADDR0.EncodeBytes accepted bytes")
	}
}

func TestParseHash(t *testing.T) {
	digits := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	want, _ := hex.DecodeString(digits)
	for _, s := range []string{digits, "0x" + digits, "0X" + digits, strings.ToUpper(digits)} {
		b, err := ParseHash(s, 32)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("ParseHash(%q) = % x, %v", s, b, err)
		}
	}
	bad := []struct{ s, why string }{
		{digits[:62], "64 hex digits"},
		{digits + "00", "64 hex digits"},
		{"", "64 hex digits"},
		{digits[:63] + "g", "not hex"},
		{"0x" + digits[:63], "64 hex digits"},
		{" " + digits[1:], "not hex"},
	}
	for _, c := range bad {
		b, err := ParseHash(c.s, 32)
		if err == nil {
			t.Errorf("ParseHash(%q) = % x, want an error", c.s, b)
			continue
		}
		if !strings.Contains(err.Error(), c.why) {
			t.Errorf("ParseHash(%q): %q does not say %q", c.s, err, c.why)
		}
	}
}

// TestFormat: each encoding is shown the way people write it; a secret
// shows only a short digest, so equal values compare equal and the value
// itself never reaches a terminal or a log.
func TestFormat(t *testing.T) {
	m := imx8mm(t)
	cases := []struct {
		field string
		parts []uint32
		want  string
	}{
		{"SEC_CONFIG_CLOSE", []uint32{1}, "1"},
		{"SEC_CONFIG_CLOSE", []uint32{0}, "0"},
		{"JTAG_SMODE", []uint32{3}, "0x3"},
		{"BOOT_CFG", []uint32{0x12}, "0x0012"},
		{"BOOT_CFG0", []uint32{0x02000000}, "0x02000000"},
		{"SRK_REVOKE", []uint32{5}, "0x5"},
		{"UNIQUE_ID", []uint32{0x55667788, 0x11223344}, "0x1122334455667788"},
		{"MAC_ADDR0", []uint32{0x9f010203, 0x0004}, "00:04:9f:01:02:03"},
		{"SRK_HASH", []uint32{0x03020100, 0, 0, 0, 0, 0, 0, 0xffffffff},
			"00010203" + strings.Repeat("0", 48) + "ffffffff"},
	}
	for _, c := range cases {
		if got := field(t, m, c.field).Format(c.parts); got != c.want {
			t.Errorf("%s.Format(%#x) = %q, want %q", c.field, c.parts, got, c.want)
		}
	}

	sj := field(t, m, "SJC_RESP")
	if !sj.Secret {
		t.Fatal("SJC_RESP is not secret")
	}
	key := []uint32{0xdeadbeef, 0x00c0ffee}
	got := sj.Format(key)
	if !strings.HasPrefix(got, "secret sha256:") || len(got) != len("secret sha256:")+8 {
		t.Errorf("secret shown as %q, want secret sha256: and 8 hex digits", got)
	}
	for _, leak := range []string{"deadbeef", "c0ffee", "DEADBEEF", "3735928559"} {
		if strings.Contains(strings.ToLower(got), strings.ToLower(leak)) {
			t.Errorf("secret shown as %q, which contains the value (%s)", got, leak)
		}
	}
	if sj.Format(key) != got {
		t.Error("the same secret formats differently twice")
	}
	if sj.Format([]uint32{0xdeadbeef, 0x00c0ffef}) == got {
		t.Error("two different secrets format the same")
	}
	mk := field(t, m, "MANUFACTURE_KEY")
	if s := mk.Format(make([]uint32, 8)); !strings.HasPrefix(s, "secret sha256:") {
		t.Errorf("MANUFACTURE_KEY (secret hash) shown as %q", s)
	}
}

func TestBlank(t *testing.T) {
	if !Blank([]uint32{0, 0}) || Blank([]uint32{0, 1}) || !Blank(nil) {
		t.Error("Blank is wrong")
	}
}
