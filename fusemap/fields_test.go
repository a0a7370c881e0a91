package fusemap

import (
	"reflect"
	"slices"
	"testing"
)

// imx8mm loads the i.MX 8M Mini map, the SoC of the Digi document.
func imx8mm(t *testing.T) *Map {
	t.Helper()
	m, err := Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// field returns a field that must exist.
func field(t *testing.T, m *Map, name string) *Field {
	t.Helper()
	f := m.Field(name)
	if f == nil {
		t.Fatalf("%s has no field %s", m.Name, name)
	}
	return f
}

func whole(bank, word int) Part { return Part{Bank: bank, Word: word, Width: 32} }

// TestIMX8MMFieldFacts cross-checks the i.MX 8M Mini fields otpprov burns
// in a secure-boot flow against the reference sheet (section 5) and U-Boot:
// a wrong bit here closes the wrong part, or a part with no key.
func TestIMX8MMFieldFacts(t *testing.T) {
	m := imx8mm(t)
	cases := []struct {
		name     string
		parts    []Part
		encoding Encoding
		where    string
	}{
		// U-Boot imx_sec_config_fuse {1, 3}, hab.c IS_HAB_ENABLED_BIT 0x2000000.
		{"SEC_CONFIG_CLOSE", []Part{{1, 3, 25, 1}}, Bool, "1/3[25]"},
		// NXP HABv4 guide: fuse prog 6 0 .. 7 3, in that order.
		{"SRK_HASH", []Part{whole(6, 0), whole(6, 1), whole(6, 2), whole(6, 3),
			whole(7, 0), whole(7, 1), whole(7, 2), whole(7, 3)}, Hash, "6/0..7/3"},
		// U-Boot mac.c dev_id 0: mac[2..5] = 9/0, mac[0..1] = 9/1 low half.
		{"MAC_ADDR0", []Part{{9, 0, 0, 32}, {9, 1, 0, 16}}, MAC, "9/0 + 9/1[15:0]"},
		// U-Boot mac.c dev_id 1: mac[4..5] = 9/1 high half, mac[0..3] = 9/2.
		{"MAC_ADDR1", []Part{{9, 1, 16, 16}, {9, 2, 0, 32}}, MAC, "9/1[31:16] + 9/2"},
		// U-Boot fuse_bank0_regs uid_low (word 1), uid_high (word 2).
		{"UNIQUE_ID", []Part{whole(0, 1), whole(0, 2)}, Uint, "0/1 + 0/2"},
		{"SRK_LOCK", []Part{{0, 0, 9, 1}}, Bool, "0/0[9]"},
		{"BOOT_CFG_LOCK", []Part{{0, 0, 2, 2}}, Uint, "0/0[3:2]"},
		{"SJC_DISABLE", []Part{{1, 3, 21, 1}}, Bool, "1/3[21]"},
		{"GP1", []Part{whole(14, 0), whole(14, 1)}, Uint, "14/0 + 14/1"},
	}
	for _, c := range cases {
		f := field(t, m, c.name)
		if !reflect.DeepEqual(f.Parts, c.parts) {
			t.Errorf("%s: parts %v, want %v", c.name, f.Parts, c.parts)
		}
		if f.Encoding != c.encoding {
			t.Errorf("%s: encoding %s, want %s", c.name, f.Encoding, c.encoding)
		}
		if f.Where() != c.where {
			t.Errorf("%s: Where() = %q, want %q", c.name, f.Where(), c.where)
		}
	}

	// Closing: the single bit 0x02000000 of 1/3 (NXP guide "fuse prog 1 3
	// 0x2000000"), a security field that closes the part and refuses to
	// do so without an SRK hash.
	sc := field(t, m, "SEC_CONFIG_CLOSE")
	if got := sc.MaskIn(1, 3); got != 0x02000000 {
		t.Errorf("SEC_CONFIG_CLOSE mask %#08x, want 0x02000000", got)
	}
	if sc.Security == nil || !sc.Security.Closes || !slices.Equal(sc.Security.Requires, []string{"SRK_HASH"}) {
		t.Errorf("SEC_CONFIG_CLOSE security = %+v, want closes and requires [SRK_HASH]", sc.Security)
	}
	if sj := field(t, m, "SJC_DISABLE"); sj.Security == nil || sj.Security.Closes {
		t.Errorf("SJC_DISABLE security = %+v, want a security field that does not close", sj.Security)
	}

	if id := m.Identity(); id == nil || id.Name != "UNIQUE_ID" {
		t.Errorf("Identity() = %v, want UNIQUE_ID", id)
	}

	// SRK_LOCK (LOCK bit 9, Digi SRK_OTP_LOCK_OFFSET 9) write-locks the hash.
	srk := field(t, m, "SRK_LOCK")
	if srk.Lock == nil || srk.Lock.Write != 0 || !slices.Equal(srk.Lock.Protects, []string{"SRK_HASH"}) {
		t.Errorf("SRK_LOCK lock = %+v, want write bit 0 protecting SRK_HASH", srk.Lock)
	}
	if p, mask, ok := LockMask(srk, srk.Lock.Write); !ok || p.Bank != 0 || p.Word != 0 || mask != 1<<9 {
		t.Errorf("SRK_LOCK write bit at %v mask %#x (%v), want 0/0 0x200", p, mask, ok)
	}
	bc := field(t, m, "BOOT_CFG_LOCK")
	if bc.Lock == nil || !slices.Contains(bc.Lock.Protects, "BOOT_CFG0") {
		t.Errorf("BOOT_CFG_LOCK lock = %+v, want it to protect BOOT_CFG0", bc.Lock)
	}
	if _, mask, ok := LockMask(bc, bc.Lock.Write); !ok || mask != 1<<2 {
		t.Errorf("BOOT_CFG_LOCK write bit mask %#x (%v), want 0x4", mask, ok)
	}
	if _, mask, ok := LockMask(bc, bc.Lock.Override); !ok || mask != 1<<3 {
		t.Errorf("BOOT_CFG_LOCK override bit mask %#x (%v), want 0x8", mask, ok)
	}
	if _, _, ok := LockMask(bc, bc.Lock.Read); ok {
		t.Error("BOOT_CFG_LOCK has a read lock bit; none is documented")
	}
	if !field(t, m, "GP1").GeneralPurpose || !field(t, m, "GP2").GeneralPurpose {
		t.Error("GP1/GP2 are not general purpose")
	}
	if field(t, m, "SRK_HASH").GeneralPurpose || field(t, m, "BOOT_CFG0").GeneralPurpose {
		t.Error("a security word is general purpose: an overlay could rename bits in it")
	}
}

// TestClasses: apply orders a word's burns data, security, lock, close;
// a bit in the wrong class is burned too early (a lock before its data)
// or too late.
func TestClasses(t *testing.T) {
	m := imx8mm(t)
	mask := func(name string, bank, word int) uint32 { return field(t, m, name).MaskIn(bank, word) }

	lock, sec, closes := m.Classes(1, 3)
	scc, sjc := mask("SEC_CONFIG_CLOSE", 1, 3), mask("SJC_DISABLE", 1, 3)
	if closes != scc {
		t.Errorf("1/3 closes = %#08x, want exactly SEC_CONFIG_CLOSE %#08x", closes, scc)
	}
	if sec&scc != 0 || lock&scc != 0 {
		t.Errorf("SEC_CONFIG_CLOSE bit also in security %#08x or lock %#08x", sec, lock)
	}
	if sec&sjc == 0 || closes&sjc != 0 {
		t.Errorf("SJC_DISABLE %#08x: security %#08x closes %#08x", sjc, sec, closes)
	}
	if lock != 0 {
		t.Errorf("1/3 lock bits %#08x, want none", lock)
	}
	// BOOT_CFG (15:0) is plain data.
	if (lock|sec|closes)&mask("BOOT_CFG", 1, 3) != 0 {
		t.Errorf("BOOT_CFG bits classed as lock/security/close")
	}

	lock, sec, closes = m.Classes(0, 0)
	var want uint32
	for _, f := range m.FieldsAt(0, 0) {
		if f.Lock != nil {
			want |= f.MaskIn(0, 0)
		}
	}
	if want == 0 {
		t.Fatal("0/0 has no lock fields")
	}
	// Every bit of a word holding locks is ordered as a lock: the lock
	// fields' bits, and the bits no field describes (GP5_LOCK's region is
	// not mapped), which may lock something too.
	if lock != 0xffffffff {
		t.Errorf("0/0 lock = %#08x, want the whole word", lock)
	}
	if unknown := m.UnknownLockBits(0, 0); unknown != ^want || unknown&mask("GP5_LOCK", 0, 0) == 0 {
		t.Errorf("0/0 unknown lock bits = %#08x, want %#08x (everything but the lock fields)", unknown, ^want)
	}
	if m.UnknownLockBits(14, 0) != 0 {
		t.Errorf("a word without lock fields has unknown lock bits")
	}
	// SRK_LOCK and BOOT_CFG_LOCK also carry a security effect: still locks.
	for _, n := range []string{"SRK_LOCK", "BOOT_CFG_LOCK", "SJC_RESP_LOCK"} {
		if lock&mask(n, 0, 0) == 0 {
			t.Errorf("%s is not in lock", n)
		}
	}
	if sec&lock != 0 || closes != 0 {
		t.Errorf("0/0: lock bits also in security (%#08x) or closes %#08x", sec&lock, closes)
	}
	if l, s, c := m.Classes(40, 0); l|s|c != 0 {
		t.Errorf("an unmapped word has classes %#x %#x %#x", l, s, c)
	}
}

// TestLocks: which burned LOCK bits freeze which words, read from a
// device state (by read index).
func TestLocks(t *testing.T) {
	m := imx8mm(t)
	names := func(fs []*Field) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return out
	}
	if got := names(m.LockersOf(1, 3)); !slices.Contains(got, "BOOT_CFG_LOCK") {
		t.Errorf("LockersOf(1, 3) = %v, want BOOT_CFG_LOCK among them", got)
	}
	if got := names(m.LockersOf(6, 0)); !slices.Equal(got, []string{"SRK_LOCK"}) {
		t.Errorf("LockersOf(6, 0) = %v, want [SRK_LOCK]", got)
	}
	if got := names(m.LockersOf(7, 3)); !slices.Equal(got, []string{"SRK_LOCK"}) {
		t.Errorf("LockersOf(7, 3) = %v, want [SRK_LOCK]", got)
	}
	if got := m.LockersOf(40, 0); got != nil {
		t.Errorf("LockersOf(40, 0) = %v, want none", names(got))
	}

	state := make([]uint32, m.Words)
	if lf := m.WriteLockedBy(state, 1, 3); lf != nil {
		t.Errorf("blank part: 1/3 write-locked by %s", lf.Name)
	}
	state[0] = 1 << 2 // BOOT_CFG_LOCK write bit
	if lf := m.WriteLockedBy(state, 1, 3); lf == nil || lf.Name != "BOOT_CFG_LOCK" {
		t.Errorf("LOCK bit 2: 1/3 write-locked by %v, want BOOT_CFG_LOCK", lf)
	}
	if lf := m.WriteLockedBy(state, 2, 3); lf == nil || lf.Name != "BOOT_CFG_LOCK" {
		t.Errorf("LOCK bit 2: 2/3 (BOOT_CFG4) write-locked by %v, want BOOT_CFG_LOCK", lf)
	}
	if lf := m.WriteLockedBy(state, 14, 0); lf != nil {
		t.Errorf("LOCK bit 2: 14/0 write-locked by %s, want nil", lf.Name)
	}
	// The override bit (3) alone does not block OTP writes.
	state[0] = 1 << 3
	if lf := m.WriteLockedBy(state, 1, 3); lf != nil {
		t.Errorf("LOCK bit 3 only: 1/3 write-locked by %s", lf.Name)
	}
	// A LOCK word that reads 0xBADABADA says nothing about its bits.
	state[0] = ReadProtected
	if lf := m.WriteLockedBy(state, 1, 3); lf != nil {
		t.Errorf("unreadable LOCK word: 1/3 write-locked by %s", lf.Name)
	}

	// SJC_RESP_LOCK (bit 10) hides SJC_RESP (8/0, 8/1) and nothing else.
	state[0] = 1 << 10
	for _, bw := range [][2]int{{8, 0}, {8, 1}} {
		if lf := m.ReadLockedBy(state, bw[0], bw[1]); lf == nil || lf.Name != "SJC_RESP_LOCK" {
			t.Errorf("LOCK bit 10: %d/%d read-locked by %v, want SJC_RESP_LOCK", bw[0], bw[1], lf)
		}
	}
	if lf := m.ReadLockedBy(state, 8, 2); lf != nil {
		t.Errorf("LOCK bit 10: 8/2 (USB_ID) read-locked by %s", lf.Name)
	}
	// A write-only lock never read-locks.
	state[0] = 1<<2 | 1<<9
	if lf := m.ReadLockedBy(state, 6, 0); lf != nil {
		t.Errorf("SRK_LOCK read-locks 6/0 (%s); it has no read bit", lf.Name)
	}
	if lf := m.WriteLockedBy(state, 6, 0); lf == nil || lf.Name != "SRK_LOCK" {
		t.Errorf("LOCK bit 9: 6/0 write-locked by %v, want SRK_LOCK", lf)
	}
}

// TestDecodeState: decoding a device state shows values in each field's
// encoding, marks read-protected fields and names the burned locks.
func TestDecodeState(t *testing.T) {
	m := imx8mm(t)
	state := make([]uint32, m.Words)
	state[m.ReadIndex(9, 0)] = 0x9f010203
	state[m.ReadIndex(9, 1)] = 0x0004
	state[m.ReadIndex(8, 0)] = ReadProtected
	state[0] = 1<<14 | 1<<15 // MAC_ADDR_LOCK write and override
	mac := m.DecodeField(field(t, m, "MAC_ADDR0"), state)
	if mac.Value != "00:04:9f:01:02:03" || mac.Blank || mac.ReadProtected {
		t.Errorf("MAC_ADDR0 = %+v", mac)
	}
	if mac.WriteLockedBy != "MAC_ADDR_LOCK" || mac.OverrideLockedBy != "MAC_ADDR_LOCK" {
		t.Errorf("MAC_ADDR0 locks: write %q override %q", mac.WriteLockedBy, mac.OverrideLockedBy)
	}
	if sj := m.DecodeField(field(t, m, "SJC_RESP"), state); !sj.ReadProtected || sj.Value != "" {
		t.Errorf("SJC_RESP = %+v, want read-protected with no value", sj)
	}
	if gp := m.DecodeField(field(t, m, "GP1"), state); !gp.Blank || gp.WriteLockedBy != "" || gp.Value != "0x0000000000000000" {
		t.Errorf("GP1 = %+v, want blank and unlocked", gp)
	}
	if got := len(m.Decode(state)); got != len(m.Fields) {
		t.Errorf("Decode gave %d fields, the map has %d", got, len(m.Fields))
	}
}
