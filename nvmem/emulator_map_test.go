package nvmem

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

// These tests give the emulator a fuse map, as a sim has, and check the
// two things it then adds to the driver's rules: i.MX6 reads follow the
// shadow registers while writes do not, and burned LOCK fields are
// enforced by the "controller".

// mapOTP returns a blank emulator of soc with its fuse map.
func mapOTP(t *testing.T, soc string) (*OTP, *fusemap.Map) {
	t.Helper()
	m, err := fusemap.Load(soc)
	if err != nil {
		t.Fatal(err)
	}
	o := NewOTP(m.Words)
	o.Map = m
	return o, m
}

// rw is the part of the device interface these tests use.
type rw interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
}

// readWord reads the 4 bytes at off as the nvmem file shows them.
func readWord(t *testing.T, d rw, off int) uint32 {
	t.Helper()
	p := make([]byte, 4)
	if n, err := d.ReadAt(p, int64(off)); n != 4 || err != nil {
		t.Fatalf("ReadAt(4, %#x) = %d, %v", off, n, err)
	}
	return Words(p)[0]
}

// burn writes one word and fails the test unless the write succeeds.
func burn(t *testing.T, d rw, off int, v uint32) {
	t.Helper()
	if n, err := d.WriteAt(le(v), int64(off)); n != 4 || err != nil {
		t.Fatalf("WriteAt(%#08x, %#x) = %d, %v", v, off, n, err)
	}
}

// TestMapOTPIMX6Offsets: on the i.MX6Q a fuse of bank 6 or above is
// written at offset 4*(bank*8+word) and read 16 words further on
// (U-Boot fuse_bank_physical; reference sheet, section 4).
func TestMapOTPIMX6Offsets(t *testing.T) {
	o, m := mapOTP(t, "imx6q")
	if m.WriteOffset(6, 0) != 0xc0 || m.Offset(6, 0) != 0x100 {
		t.Fatalf("imx6q 6/0: write %#x read %#x, want 0xc0 and 0x100", m.WriteOffset(6, 0), m.Offset(6, 0))
	}
	const v = 0x12345678
	burn(t, o, 0xc0, v)
	if got := readWord(t, o, 0x100); got != v {
		t.Errorf("after writing 6/0 at 0xc0, 0x100 reads %#08x, want %#08x", got, v)
	}
	// 0xc0 is read index 48, in the shadow gap after bank 5: no fuse
	// behind it, and the driver's read there gives 0.
	if got := readWord(t, o, 0xc0); got != 0 {
		t.Errorf("0xc0 (shadow gap) reads %#08x after the write, want 0", got)
	}
	if o.Fuses[64] != v || o.Fuses[48] != 0 {
		t.Errorf("Fuses[64] = %#x, Fuses[48] = %#x; the fuse is at read index 64", o.Fuses[64], o.Fuses[48])
	}
	if len(o.Log) != 1 || o.Log[0] != (WordWrite{Word: 48, Value: v}) {
		t.Errorf("controller saw %+v, want word 48 (its address is offset/4)", o.Log)
	}
	// The gap reads 0 even where the array behind it has bits: the
	// emulator reads by fuse, not by slot.
	o.Fuses[50] = 0xffffffff
	all := make([]byte, m.Bytes())
	if n, err := o.ReadAt(all, 0); n != m.Bytes() || err != nil {
		t.Fatalf("ReadAt(all) = %d, %v", n, err)
	}
	words := Words(all)
	for k := 48; k < 64; k++ {
		if words[k] != 0 {
			t.Errorf("gap word %d reads %#08x", k, words[k])
		}
	}
	if words[64] != v {
		t.Errorf("whole-file read: word 64 = %#08x, want %#08x", words[64], v)
	}

	// Banks 0-5 read where they are written: 4/2 (MAC) at 0x88.
	burn(t, o, m.WriteOffset(4, 2), 0x9f010203)
	if got := readWord(t, o, 0x88); got != 0x9f010203 || m.Offset(4, 2) != 0x88 {
		t.Errorf("4/2 reads %#08x at %#x", got, m.Offset(4, 2))
	}
	// The last readable bank: 13/7 written at 0x1bc, read at 0x1fc.
	burn(t, o, m.WriteOffset(13, 7), 0xa5)
	if got := readWord(t, o, 0x1fc); got != 0xa5 {
		t.Errorf("13/7 reads %#08x at 0x1fc, want 0xa5", got)
	}
}

// TestMapOTPIMX6Hidden: bank 14 of the i.MX6Q is read at index 128, past
// the 128-word file. A write there (offset 0x1c0) still burns that fuse,
// which nvmem can never show, and not 12/0, which reads at 0x1c0.
func TestMapOTPIMX6Hidden(t *testing.T) {
	o, m := mapOTP(t, "imx6q")
	if m.Readable(14, 0) || m.WriteOffset(14, 0) != 0x1c0 {
		t.Fatalf("imx6q 14/0: readable %v, write offset %#x", m.Readable(14, 0), m.WriteOffset(14, 0))
	}
	burn(t, o, 0x1c0, 0x55)
	burn(t, o, m.WriteOffset(15, 7), 0x80000000)
	if o.Hidden[112] != 0x55 || o.Hidden[127] != 0x80000000 || len(o.Hidden) != 2 {
		t.Errorf("Hidden = %#x, want 112: 0x55 and 127: 0x80000000", o.Hidden)
	}
	for k, w := range o.Fuses {
		if w != 0 {
			t.Errorf("Fuses[%d] = %#08x: a hidden write landed in the file", k, w)
		}
	}
	if got := readWord(t, o, 0x1c0); got != 0 {
		t.Errorf("0x1c0 (12/0 when read) reads %#08x after a write to 14/0", got)
	}
	// OR, as on any fuse.
	burn(t, o, 0x1c0, 0xa0)
	if o.Hidden[112] != 0xf5 {
		t.Errorf("Hidden[112] = %#x after a second write, want 0xf5", o.Hidden[112])
	}
}

// TestMapOTPWriteLocks: a burned LOCK bit makes the controller refuse the
// region's words with EPERM, burning nothing; other regions still burn.
func TestMapOTPWriteLocks(t *testing.T) {
	for _, c := range []struct {
		name      string
		soc       string
		lockBit   uint32
		lockedOff []int // write offsets now refused
		freeOff   []int // write offsets still programmable
	}{
		// BOOT_CFG_LOCK write bit: BOOT_CFG0 (1/3, 0x1c) .. BOOT_CFG4 (2/3).
		{"imx8mm BOOT_CFG_LOCK", "imx8mm", 1 << 2, []int{0x1c, 0x20, 0x2c}, []int{0xe0, 0x60, 0x90}},
		// SRK_LOCK: the 8 hash words 6/0..7/3 (0x60..0x7c).
		{"imx8mm SRK_LOCK", "imx8mm", 1 << 9, []int{0x60, 0x7c}, []int{0x1c, 0x80}},
		// The override bit alone does not block OTP writes.
		{"imx8mm BOOT_CFG_LOCK override only", "imx8mm", 1 << 3, nil, []int{0x1c, 0xe0}},
		// GP1_LOCK on the i.MX6Q: GP1 is 4/6, written and read at 0x98.
		{"imx6q GP1_LOCK", "imx6q", 1 << 10, []int{0x98}, []int{0x9c, 0xc0}},
		// BOOT_CFG_LOCK on the i.MX6Q: CFG4-CFG6 (0/5..0/7).
		{"imx6q BOOT_CFG_LOCK", "imx6q", 1 << 2, []int{0x14, 0x18, 0x1c}, []int{0x10, 0x98}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, _ := mapOTP(t, c.soc)
			burn(t, o, 0, c.lockBit)
			if o.Fuses[0] != c.lockBit {
				t.Fatalf("LOCK = %#08x after the burn", o.Fuses[0])
			}
			before := append([]uint32(nil), o.Fuses...)
			for _, off := range c.lockedOff {
				n, err := o.WriteAt(le(0x02000001), int64(off))
				if n != 0 || !errors.Is(err, syscall.EPERM) {
					t.Errorf("write at %#x: %d, %v; want 0, EPERM", off, n, err)
				}
			}
			for k := range o.Fuses {
				if o.Fuses[k] != before[k] {
					t.Errorf("a refused write burned word %d: %#08x", k, o.Fuses[k])
				}
			}
			for _, off := range c.freeOff {
				burn(t, o, off, 1)
				if got := readWord(t, o, o.Map.Offset(off/4/o.Map.WordsPerBank, off/4%o.Map.WordsPerBank)); got&1 == 0 {
					t.Errorf("write at %#x did not burn", off)
				}
			}
		})
	}
}

// TestMapOTPReadLock: SJC_RESP_LOCK (imx8mm LOCK bit 10) hides the secure
// JTAG key: once burned, its words read 0xBADABADA and the read still
// succeeds, as the driver does.
func TestMapOTPReadLock(t *testing.T) {
	o, m := mapOTP(t, "imx8mm")
	lf := m.Field("SJC_RESP_LOCK")
	if lf == nil || lf.Lock == nil || lf.Lock.Read == fusemap.NoBit {
		t.Fatal("imx8mm has no SJC_RESP_LOCK read lock")
	}
	_, bit, _ := fusemap.LockMask(lf, lf.Lock.Read)
	if bit != 1<<10 {
		t.Fatalf("SJC_RESP_LOCK read bit %#x, want 0x400", bit)
	}
	burn(t, o, 0x80, 0x11223344) // SJC_RESP 8/0
	burn(t, o, 0x84, 0x00556677) // SJC_RESP 8/1
	burn(t, o, 0x88, 0x1fc9)     // USB_ID 8/2
	if got := readWord(t, o, 0x80); got != 0x11223344 {
		t.Fatalf("before the lock 8/0 reads %#08x", got)
	}
	burn(t, o, 0, bit)
	for _, off := range []int{0x80, 0x84} {
		if got := readWord(t, o, off); got != ReadProtected {
			t.Errorf("read-locked %#x reads %#08x, want 0xbadabada", off, got)
		}
	}
	if got := readWord(t, o, 0x88); got != 0x1fc9 {
		t.Errorf("USB_ID (not protected) reads %#08x", got)
	}
	if got := readWord(t, o, 0); got != bit {
		t.Errorf("LOCK reads %#08x, want %#x", got, bit)
	}
	// A whole-file read shows the same.
	all := make([]byte, m.Bytes())
	if _, err := o.ReadAt(all, 0); err != nil {
		t.Fatal(err)
	}
	if w := Words(all); w[32] != ReadProtected || w[33] != ReadProtected || w[34] != 0x1fc9 {
		t.Errorf("whole file: words 32..34 = %#08x", w[32:35])
	}
	// The key is still there, hidden; and the same bit blocks writes.
	if o.Fuses[32] != 0x11223344 {
		t.Errorf("the lock changed the fuses: %#08x", o.Fuses[32])
	}
	if _, err := o.WriteAt(le(0x80000000), 0x80); !errors.Is(err, syscall.EPERM) {
		t.Errorf("write to read-locked 8/0: %v, want EPERM", err)
	}
}

// TestSimIMX6Offsets: a sim opened from a directory applies the same
// map, persists a burn where the nvmem file shows it (by read index),
// and maps sim.yaml's bank/word to the right read or write index.
func TestSimIMX6Offsets(t *testing.T) {
	soc, err := fusemap.Load("imx6q")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "board")
	if err := InitSim(dir, soc.SoC, nil); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSim(dir, ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if s.Map == nil || s.Map.Name != "imx6q" || len(s.Fuses) != 128 {
		t.Fatalf("sim map %v, %d words", s.Map, len(s.Fuses))
	}
	burn(t, s, 0xc0, 0xcafe)
	burn(t, s, 0x1c0, 0x1) // bank 14: hidden
	if got := readWord(t, s, 0x100); got != 0xcafe {
		t.Errorf("0x100 reads %#08x, want 0xcafe", got)
	}
	if got := readWord(t, s, 0xc0); got != 0 {
		t.Errorf("0xc0 reads %#08x, want 0", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// fuses.bin holds the file as read: the burn at 0x100, nothing else.
	want := make([]byte, soc.Bytes())
	copy(want[0x100:], le(0xcafe))
	if got := readFuses(t, dir); !bytes.Equal(got, want) {
		t.Errorf("fuses.bin differs from the expected image at %d", firstDiff(got, want))
	}

	// Reopened read-only: the burn is still where the read path shows it.
	r, err := OpenSim(dir, ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if got := readWord(t, r, 0x100); got != 0xcafe {
		t.Errorf("after reopening, 0x100 reads %#08x", got)
	}
	r.Close()

	// sim.yaml words are fuse bank/word: 6/0 protected reads 0xBADABADA
	// at 0x100, 6/1 locked refuses the write at 0xc4.
	cfg := "soc: imx6q\nreadProtected:\n  - {bank: 6, word: 0}\nwriteLocked:\n  - {bank: 6, word: 1}\nfaults: []\n"
	if err := os.WriteFile(filepath.Join(dir, simConfigFile), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSim(dir, ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := readWord(t, s, 0x100); got != ReadProtected {
		t.Errorf("protected 6/0 reads %#08x at 0x100", got)
	}
	if got := readWord(t, s, 0xc0); got != 0 {
		t.Errorf("0xc0 reads %#08x; protecting 6/0 must not touch the gap", got)
	}
	if _, err := s.WriteAt(le(1), 0xc4); !errors.Is(err, syscall.EPERM) {
		t.Errorf("write to locked 6/1 at 0xc4: %v, want EPERM", err)
	}
	burn(t, s, 0xc8, 0x3) // 6/2 is free
	if got := readWord(t, s, 0x108); got != 0x3 {
		t.Errorf("6/2 reads %#08x at 0x108", got)
	}
	if _, err := s.ReadAt(make([]byte, 4), int64(soc.Bytes())); err != io.EOF {
		t.Errorf("read at the end: %v, want EOF", err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
