package nvmem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"syscall"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

// emuWords is the size of the emulators in these tests: 16 words, 64 bytes.
const emuWords = 16

// patternOTP returns an emulator whose word k holds 0xA0B0C000|k: every
// byte of the array is known and the words differ.
func patternOTP() *OTP {
	o := NewOTP(emuWords)
	for k := range o.Fuses {
		o.Fuses[k] = 0xA0B0C000 | uint32(k)
	}
	return o
}

// patternBytes is what patternOTP reads as, little-endian.
func patternBytes() []byte {
	b := make([]byte, 4*emuWords)
	for k := 0; k < emuWords; k++ {
		binary.LittleEndian.PutUint32(b[4*k:], 0xA0B0C000|uint32(k))
	}
	return b
}

func le(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestOTPRead(t *testing.T) {
	const size = 4 * emuWords
	all := patternBytes()
	for _, tc := range []struct {
		name    string
		off     int64
		count   int
		wantN   int
		wantErr error // nil, io.EOF or an errno
	}{
		{"zero length", 0, 0, 0, nil},
		{"zero length at end", size, 0, 0, nil},
		{"whole array", 0, size, size, nil},
		{"one word", 8, 4, 4, nil},
		{"one word at the end", size - 4, 4, 4, nil},
		{"more than the array", 0, size + 100, size, nil},
		{"clamped to the end", size - 8, 100, 8, nil},
		{"clamped, rounded down", size - 6, 10, 4, nil},
		{"rounded down to whole words", 0, 7, 4, nil},
		{"rounded down, 11 bytes", 4, 11, 8, nil},
		{"unaligned offset 2", 2, 4, 4, nil},
		{"unaligned offset 1, 9 bytes", 1, 9, 8, nil},
		{"unaligned offset 3 to the end", 3, size, size - 4, nil},
		{"3 bytes clamped at size-3", size - 3, 3, 0, syscall.EINVAL},
		{"8 bytes clamped at size-3", size - 3, 8, 0, syscall.EINVAL},
		{"3 bytes at 0", 0, 3, 0, syscall.EINVAL},
		{"1 byte", 5, 1, 0, syscall.EINVAL},
		{"at the end", size, 4, 0, io.EOF},
		{"past the end", size + 4, 4, 0, io.EOF},
		{"far past the end", 1 << 40, 4, 0, io.EOF},
		{"negative offset", -4, 4, 0, syscall.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := patternOTP()
			p := bytes.Repeat([]byte{0xEE}, tc.count)
			n, err := o.ReadAt(p, tc.off)
			if n != tc.wantN || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d, %v", tc.count, tc.off, n, err, tc.wantN, tc.wantErr)
			}
			if n > 0 && !bytes.Equal(p[:n], all[tc.off:tc.off+int64(n)]) {
				t.Errorf("ReadAt(%d bytes, %d) read % x, want % x", tc.count, tc.off, p[:n], all[tc.off:tc.off+int64(n)])
			}
			// Bytes beyond the returned count are untouched.
			for i := n; i < len(p); i++ {
				if p[i] != 0xEE {
					t.Fatalf("ReadAt(%d bytes, %d) returned %d but changed byte %d", tc.count, tc.off, n, i)
				}
			}
			if o.Reads != 1 {
				t.Errorf("Reads = %d after one read call, want 1", o.Reads)
			}
		})
	}
}

func TestOTPReadUnalignedBytes(t *testing.T) {
	o := NewOTP(emuWords)
	o.Fuses[0] = 0x44332211
	o.Fuses[1] = 0x88776655
	p := make([]byte, 4)
	n, err := o.ReadAt(p, 2)
	if n != 4 || err != nil {
		t.Fatalf("ReadAt(4, 2) = %d, %v; want 4, nil", n, err)
	}
	// Bytes 2 and 3 of word 0, then bytes 0 and 1 of word 1.
	if want := []byte{0x33, 0x44, 0x55, 0x66}; !bytes.Equal(p, want) {
		t.Errorf("ReadAt(4, 2) = % x, want % x", p, want)
	}
}

func TestOTPReadProtected(t *testing.T) {
	o := patternOTP()
	o.ReadProtected[1] = true
	o.ReadProtected[emuWords-1] = true

	p := make([]byte, 4*emuWords)
	n, err := o.ReadAt(p, 0)
	if n != len(p) || err != nil {
		t.Fatalf("ReadAt(all) = %d, %v; want %d, nil", n, err, len(p))
	}
	for k, got := range Words(p) {
		want := 0xA0B0C000 | uint32(k)
		if k == 1 || k == emuWords-1 {
			want = ReadProtected
		}
		if got != want {
			t.Errorf("word %d = %#08x, want %#08x", k, got, want)
		}
	}

	// An unaligned read straddling a protected word mixes its bytes in.
	p = make([]byte, 4)
	if n, err := o.ReadAt(p, 2); n != 4 || err != nil {
		t.Fatalf("ReadAt(4, 2) = %d, %v", n, err)
	}
	want := append(le(0xA0B0C000)[2:], le(ReadProtected)[:2]...)
	if !bytes.Equal(p, want) {
		t.Errorf("ReadAt(4, 2) = % x, want % x", p, want)
	}

	// Protection hides the value; it does not change it.
	if o.Fuses[1] != 0xA0B0C001 {
		t.Errorf("Fuses[1] = %#08x, want it unchanged", o.Fuses[1])
	}
}

func TestOTPWriteRules(t *testing.T) {
	const size = 4 * emuWords
	for _, tc := range []struct {
		name    string
		off     int64
		data    []byte
		wantN   int
		wantErr error
		burned  int // the word that must hold 0xFFFFFFFF after, -1 for none
	}{
		{"one aligned word", 8, le(0xFFFFFFFF), 4, nil, 2},
		{"first word", 0, le(0xFFFFFFFF), 4, nil, 0},
		{"last word", size - 4, le(0xFFFFFFFF), 4, nil, emuWords - 1},
		{"6 bytes burn one word", 8, append(le(0xFFFFFFFF), 0xFF, 0xFF), 4, nil, 2},
		{"7 bytes burn one word", 8, append(le(0xFFFFFFFF), 0xFF, 0xFF, 0xFF), 4, nil, 2},
		{"8 bytes clamped to the last word", size - 4, append(le(0xFFFFFFFF), le(0xFFFFFFFF)...), 4, nil, emuWords - 1},
		{"8 bytes", 8, append(le(0xFFFFFFFF), le(0xFFFFFFFF)...), 0, syscall.EINVAL, -1},
		{"16 bytes", 0, bytes.Repeat([]byte{0xFF}, 16), 0, syscall.EINVAL, -1},
		{"3 bytes", 8, []byte{0xFF, 0xFF, 0xFF}, 0, syscall.EINVAL, -1},
		{"unaligned offset 2", 2, le(0xFFFFFFFF), 0, syscall.EINVAL, -1},
		{"unaligned offset 1", 1, le(0xFFFFFFFF), 0, syscall.EINVAL, -1},
		{"unaligned 6 bytes", 6, append(le(0xFFFFFFFF), 0xFF, 0xFF), 0, syscall.EINVAL, -1},
		{"3 bytes left at the end", size - 3, le(0xFFFFFFFF), 0, syscall.EINVAL, -1},
		{"at the end", size, le(0xFFFFFFFF), 0, syscall.EFBIG, -1},
		{"past the end", size + 4, le(0xFFFFFFFF), 0, syscall.EFBIG, -1},
		{"at the end, unaligned size", size, []byte{1}, 0, syscall.EFBIG, -1},
		{"negative offset", -4, le(0xFFFFFFFF), 0, syscall.EINVAL, -1},
		{"empty write", 8, nil, 0, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOTP(emuWords)
			n, err := o.WriteAt(tc.data, tc.off)
			if n != tc.wantN || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("WriteAt(%d bytes, %d) = %d, %v; want %d, %v", len(tc.data), tc.off, n, err, tc.wantN, tc.wantErr)
			}
			for k, v := range o.Fuses {
				want := uint32(0)
				if k == tc.burned {
					want = 0xFFFFFFFF
				}
				if v != want {
					t.Errorf("word %d = %#08x after the write, want %#08x", k, v, want)
				}
			}
			if o.Writes != 1 {
				t.Errorf("Writes = %d after one write call, want 1", o.Writes)
			}
		})
	}
}

func TestOTPWriteLittleEndian(t *testing.T) {
	o := NewOTP(emuWords)
	if n, err := o.WriteAt([]byte{0x78, 0x56, 0x34, 0x12}, 12); n != 4 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if o.Fuses[3] != 0x12345678 {
		t.Errorf("word 3 = %#08x, want 0x12345678", o.Fuses[3])
	}
}

func TestOTPWriteORs(t *testing.T) {
	o := NewOTP(emuWords)
	steps := []struct{ write, want uint32 }{
		{0x0000_00F0, 0x0000_00F0},
		{0x0000_000F, 0x0000_00FF}, // new bits join the old
		{0x0000_0000, 0x0000_00FF}, // writing 0 clears nothing
		{0xFFFF_0000, 0xFFFF_00FF},
		{0x0000_0F00, 0xFFFF_0FFF},
		{0x1234_5678, 0xFFFF_5FFF},
	}
	for i, s := range steps {
		if n, err := o.WriteAt(le(s.write), 20); n != 4 || err != nil {
			t.Fatalf("write %d of %#08x = %d, %v", i+1, s.write, n, err)
		}
		if got := o.Fuses[5]; got != s.want {
			t.Fatalf("after write %d of %#08x, word 5 = %#08x, want %#08x", i+1, s.write, got, s.want)
		}
	}
	// A word that is all 1s stays so whatever is written.
	o.Fuses[6] = 0xFFFFFFFF
	if n, err := o.WriteAt(le(0), 24); n != 4 || err != nil {
		t.Fatalf("write of 0 = %d, %v", n, err)
	}
	if o.Fuses[6] != 0xFFFFFFFF {
		t.Errorf("word 6 = %#08x after writing 0, want 0xffffffff", o.Fuses[6])
	}
}

func TestOTPWriteLocked(t *testing.T) {
	o := patternOTP()
	o.WriteLocked[3] = true
	before := slices.Clone(o.Fuses)

	n, err := o.WriteAt(le(0xFFFFFFFF), 12)
	if n != 0 || !errors.Is(err, syscall.EPERM) {
		t.Fatalf("write to a locked word = %d, %v; want 0, EPERM", n, err)
	}
	if !slices.Equal(o.Fuses, before) {
		t.Errorf("a refused write changed the fuses:\n got %08x\nwant %08x", o.Fuses, before)
	}
	// Its neighbours still burn.
	if n, err := o.WriteAt(le(0x10000), 16); n != 4 || err != nil {
		t.Fatalf("write to word 4 = %d, %v", n, err)
	}
	if o.Fuses[4] != before[4]|0x10000 {
		t.Errorf("word 4 = %#08x, want %#08x", o.Fuses[4], before[4]|0x10000)
	}
	// A locked word can still be read.
	p := make([]byte, 4)
	if n, err := o.ReadAt(p, 12); n != 4 || err != nil || binary.LittleEndian.Uint32(p) != before[3] {
		t.Errorf("read of a locked word = %d, %v, %#08x; want 4, nil, %#08x", n, err, binary.LittleEndian.Uint32(p), before[3])
	}
}

func TestOTPStuckBit(t *testing.T) {
	o := NewOTP(emuWords)
	o.Faults = []Fault{{Kind: FaultStuckBit, Word: 5, Bit: 3}}

	n, err := o.WriteAt(le(0xFFFFFFFF), 20)
	if n != 4 || err != nil {
		t.Fatalf("write to the stuck word = %d, %v; want 4, nil", n, err)
	}
	if want := uint32(0xFFFFFFFF &^ (1 << 3)); o.Fuses[5] != want {
		t.Errorf("stuck word = %#08x, want %#08x", o.Fuses[5], want)
	}
	// Writing just the stuck bit "succeeds" and burns nothing, every time.
	o.Fuses[5] = 0
	for i := 0; i < 3; i++ {
		if n, err := o.WriteAt(le(1<<3), 20); n != 4 || err != nil {
			t.Fatalf("write of the stuck bit = %d, %v; want 4, nil", n, err)
		}
		if o.Fuses[5] != 0 {
			t.Fatalf("stuck bit burned on try %d: word = %#08x", i+1, o.Fuses[5])
		}
	}
	// The same bit burns in other words.
	if n, err := o.WriteAt(le(1<<3), 24); n != 4 || err != nil || o.Fuses[6] != 1<<3 {
		t.Errorf("bit 3 of word 6 = %d, %v, %#08x; want 4, nil, 0x8", n, err, o.Fuses[6])
	}
	if o.Writes != 5 {
		t.Errorf("Writes = %d, want 5", o.Writes)
	}
}

// TestOTPWriteFaults checks that each write-numbered fault fires on its
// write call and on no other.
func TestOTPWriteFaults(t *testing.T) {
	const fireOn = 3
	for _, tc := range []struct {
		kind    FaultKind
		wantErr error
		burns   bool // the faulty write burns its word anyway
	}{
		{FaultEIO, syscall.EIO, false},
		{FaultEPERM, syscall.EPERM, false},
		{FaultVanish, syscall.ENODEV, false},
		{FaultTimeout, syscall.ETIMEDOUT, false},
		{FaultTimeoutAfterBurn, syscall.ETIMEDOUT, true},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			o := NewOTP(emuWords)
			o.Faults = []Fault{{Kind: tc.kind, Write: fireOn}}
			for call := 1; call <= 5; call++ {
				k := call // each call burns bit 0 of its own word
				n, err := o.WriteAt(le(1), int64(4*k))
				if call > fireOn && tc.kind == FaultVanish {
					if !errors.Is(err, syscall.ENODEV) || o.Fuses[k] != 0 {
						t.Fatalf("write call %d after the device vanished = %v, word %#x; want ENODEV, nothing burned", call, err, o.Fuses[k])
					}
					continue
				}
				if call != fireOn {
					if n != 4 || err != nil {
						t.Fatalf("write call %d = %d, %v; want 4, nil (the fault is on call %d)", call, n, err, fireOn)
					}
					if o.Fuses[k] != 1 {
						t.Fatalf("write call %d did not burn word %d", call, k)
					}
					continue
				}
				if n != 0 || !errors.Is(err, tc.wantErr) {
					t.Fatalf("write call %d = %d, %v; want 0, %v", call, n, err, tc.wantErr)
				}
				if got := o.Fuses[k] == 1; got != tc.burns {
					t.Fatalf("faulty write call %d: word %d burned = %v, want %v", call, k, got, tc.burns)
				}
			}
			if o.Writes != 5 {
				t.Errorf("Writes = %d, want 5", o.Writes)
			}
		})
	}
}

// TestOTPFaultCountsFailedWrites: the Nth write call is the Nth call, even
// when earlier calls failed.
func TestOTPFaultCountsFailedWrites(t *testing.T) {
	o := NewOTP(emuWords)
	o.WriteLocked[0] = true
	o.Faults = []Fault{{Kind: FaultEIO, Write: 4}}
	calls := []struct {
		off  int64
		data []byte
		want error
	}{
		{0, le(1), syscall.EPERM},                    // 1: locked
		{2, le(1), syscall.EINVAL},                   // 2: unaligned
		{4 * emuWords, le(1), syscall.EFBIG},         // 3: past the end
		{4, le(1), syscall.EIO},                      // 4: the fault
		{4, le(1), nil},                              // 5
		{8, append(le(1), le(1)...), syscall.EINVAL}, // 6: 8 bytes
	}
	for i, c := range calls {
		_, err := o.WriteAt(c.data, c.off)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Fatalf("write call %d = %v, want %v", i+1, err, c.want)
		}
	}
	if o.Writes != len(calls) {
		t.Errorf("Writes = %d, want %d", o.Writes, len(calls))
	}
	if o.Fuses[1] != 1 {
		t.Errorf("word 1 = %#08x, want 1 (burned by call 5 only)", o.Fuses[1])
	}
}

func TestOTPFaultBeforeLock(t *testing.T) {
	// A timeout after the burn on a locked word: the lock wins, nothing
	// burns and the driver's EPERM comes back.
	o := NewOTP(emuWords)
	o.WriteLocked[2] = true
	o.Faults = []Fault{{Kind: FaultTimeoutAfterBurn, Write: 1}}
	if n, err := o.WriteAt(le(1), 8); n != 0 || !errors.Is(err, syscall.EPERM) {
		t.Fatalf("WriteAt = %d, %v; want 0, EPERM", n, err)
	}
	if o.Fuses[2] != 0 {
		t.Errorf("locked word burned: %#08x", o.Fuses[2])
	}
}

func TestOTPMisdirect(t *testing.T) {
	o := NewOTP(emuWords)
	o.Faults = []Fault{{Kind: FaultMisdirect, Write: 2, Word: 0}}
	for call, k := range []int{7, 8, 9} {
		if n, err := o.WriteAt(le(0x100), int64(4*k)); n != 4 || err != nil {
			t.Fatalf("write call %d = %d, %v; want 4, nil", call+1, n, err)
		}
	}
	want := make([]uint32, emuWords)
	want[7], want[0], want[9] = 0x100, 0x100, 0x100 // call 2 burned word 0, not 8
	if !slices.Equal(o.Fuses, want) {
		t.Errorf("fuses = %08x, want %08x", o.Fuses, want)
	}
}

func TestOTPCounters(t *testing.T) {
	o := NewOTP(emuWords)
	p := make([]byte, 4)
	o.ReadAt(p, 0)
	o.ReadAt(nil, 0)
	o.ReadAt(p, 4*emuWords)
	o.ReadAt(p[:2], 0)
	o.WriteAt(le(1), 0)
	o.WriteAt(le(1), 4*emuWords)
	if o.Reads != 4 || o.Writes != 2 {
		t.Errorf("Reads, Writes = %d, %d; want 4, 2", o.Reads, o.Writes)
	}
	if err := o.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

// TestOTPVanish: once gone, reads fail too, until a new emulator (a new
// session) opens the same fuses.
func TestOTPVanish(t *testing.T) {
	o := NewOTP(emuWords)
	o.Faults = []Fault{{Kind: FaultVanish, Write: 1}}
	if _, err := o.WriteAt(le(1), 0); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("WriteAt = %v, want ENODEV", err)
	}
	if n, err := o.ReadAt(make([]byte, 4), 0); n != 0 || !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("ReadAt after vanish = %d, %v; want 0, ENODEV", n, err)
	}
	if o.Fuses[0] != 0 {
		t.Errorf("the vanishing write burned: %#x", o.Fuses[0])
	}
}

// TestOTPShortRead: only the first read after the faulty write is short.
func TestOTPShortRead(t *testing.T) {
	o := NewOTP(emuWords)
	o.Faults = []Fault{{Kind: FaultShortRead, Write: 2}}
	p := make([]byte, 4*emuWords)
	read := func(q []byte) int {
		n, err := o.ReadAt(q, 0)
		if err != nil {
			t.Fatalf("ReadAt = %v", err)
		}
		return n
	}
	o.WriteAt(le(1), 0)
	if n := read(p[:4]); n != 4 {
		t.Fatalf("read after write 1 = %d bytes, want 4", n)
	}
	o.WriteAt(le(1), 4)
	if n := read(p[:4]); n != 0 {
		t.Fatalf("one-word read after write 2 = %d bytes, want 0 (short)", n)
	}
	if n := read(p); n != len(p) {
		t.Fatalf("next read = %d bytes, want %d", n, len(p))
	}
	o.WriteAt(le(1), 8)
	o.Faults = []Fault{{Kind: FaultShortRead, Write: 4}}
	o.WriteAt(le(1), 12)
	if n := read(p); n != len(p)/2 {
		t.Fatalf("full read after write 4 = %d bytes, want %d", n, len(p)/2)
	}
}

// TestOTPBadabadaMidApply: the word burns, then reads 0xBADABADA.
func TestOTPBadabadaMidApply(t *testing.T) {
	o := NewOTP(emuWords)
	o.Faults = []Fault{{Kind: FaultReadProtect, Write: 1}}
	if n, err := o.WriteAt(le(0x10), 12); n != 4 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	p := make([]byte, 8)
	o.ReadAt(p, 8)
	if got := binary.LittleEndian.Uint32(p[4:]); got != ReadProtected || o.Fuses[3] != 0x10 {
		t.Errorf("word 3 reads %#x and holds %#x; want 0xbadabada, 0x10", got, o.Fuses[3])
	}
	if got := binary.LittleEndian.Uint32(p); got != 0 {
		t.Errorf("word 2 reads %#x, want 0", got)
	}
}

// TestOTPDriverQuirks: what the driver does on the SoCs where otpprov
// refuses to write.
func TestOTPDriverQuirks(t *testing.T) {
	mp, err := fusemap.Load("imx8mp")
	if err != nil {
		t.Fatal(err)
	}
	o := NewOTP(mp.Words)
	o.Map = mp
	if n, err := o.WriteAt(le(0x4), 4*(256+9)); n != 4 || err != nil {
		t.Fatalf("imx8mp write to word 265 = %d, %v; want success (the driver does not notice)", n, err)
	}
	if o.Fuses[265] != 0 || o.Fuses[9] != 0x4 {
		t.Errorf("imx8mp: word 265 = %#x, word 9 = %#x; want 0, 0x4 (8-bit address)", o.Fuses[265], o.Fuses[9])
	}
	ulp, err := fusemap.Load("imx7ulp")
	if err != nil {
		t.Fatal(err)
	}
	o = NewOTP(ulp.Words)
	o.Map = ulp
	if _, err := o.WriteAt(le(0x1), 4); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("imx7ulp write = %v, want ENODEV", err)
	}
	if _, err := o.ReadAt(make([]byte, 4), 0); !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("imx7ulp read after the write = %v, want ENODEV", err)
	}
}
