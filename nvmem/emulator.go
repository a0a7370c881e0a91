package nvmem

import (
	"encoding/binary"
	"io"
	"syscall"
	"time"

	"github.com/otpprov/otpprov/fusemap"
)

// FaultKind names a failure the emulator can inject.
type FaultKind string

const (
	// FaultStuckBit: a fuse bit that never burns. The write "succeeds" and
	// the bit stays 0, as with a defective fuse or a weak programming pulse.
	FaultStuckBit FaultKind = "stuck-bit"
	// FaultEIO: the Nth write fails with EIO and burns nothing.
	FaultEIO FaultKind = "eio"
	// FaultTimeout: the Nth write times out before the burn (busy wait).
	FaultTimeout FaultKind = "etimedout"
	// FaultTimeoutAfterBurn: the Nth write burns, then the shadow reload
	// times out and the driver returns ETIMEDOUT anyway.
	FaultTimeoutAfterBurn FaultKind = "etimedout-after-burn"
	// FaultMisdirect: the Nth write burns word Word instead of the word
	// addressed and succeeds, as the i.MX8MP driver does for words >= 256
	// (its write address is 8 bits wide).
	FaultMisdirect FaultKind = "misdirect"
	// FaultEPERM: the Nth write fails with EPERM and burns nothing, as when
	// the controller flags an error on a region no known lock describes.
	FaultEPERM FaultKind = "eperm"
	// FaultVanish: the device disappears at the Nth write, before the burn:
	// that call and every later one in this session fail with ENODEV, as
	// sysfs answers once the driver is unbound. A new session (the board
	// rebooted) finds the device again.
	FaultVanish FaultKind = "vanish"
	// FaultShortRead: the first read after the Nth write returns fewer
	// bytes than asked (half, in whole words, so none for a one-word read)
	// and no error.
	FaultShortRead FaultKind = "short-read"
	// FaultReadProtect: the Nth write burns, then that word reads as
	// 0xBADABADA for the rest of the session: the read-back cannot tell
	// what the fuse holds.
	FaultReadProtect FaultKind = "badabada"
)

// FaultKinds lists every kind, for validation and for tests that must
// cover each one.
var FaultKinds = []FaultKind{FaultStuckBit, FaultEIO, FaultEPERM, FaultTimeout, FaultTimeoutAfterBurn,
	FaultMisdirect, FaultVanish, FaultShortRead, FaultReadProtect}

// WriteFault reports whether the kind fires on a numbered write call
// (every kind but stuck-bit, which is a property of a fuse).
func (k FaultKind) WriteFault() bool { return k != FaultStuckBit }

// Fault is one injected failure.
type Fault struct {
	Kind  FaultKind
	Write int // every kind but stuck-bit: fires on this write call, 1-based over the emulator's life
	Word  int // stuck-bit: the stuck word; misdirect: the word burned instead
	Bit   int // stuck-bit: bit 0..31
}

// OTP emulates the fuse array behind the imx-ocotp nvmem file, with the
// driver's and the controller's rules:
//   - a read of 4 bytes or more works at any offset, is clamped at the end
//     and rounded down to whole words; at or past the end it is EOF;
//   - a read-protected word reads as 0xBADABADA and the read succeeds;
//   - a write is one aligned 4-byte word (EINVAL otherwise), at or past
//     the end it is EFBIG;
//   - a write burns 1 bits only (OR); a write-locked word gives EPERM;
//   - with a fuse map: a write goes to the fuse at offset/4 while a read
//     follows the shadow registers (they differ on i.MX6 for banks >= 6),
//     and the LOCK fields burned in the fuses are enforced: a write into
//     a write-locked region gives EPERM, a read-locked word reads
//     0xBADABADA;
//   - faults fire as declared.
//
// Read-only mode (EACCES) is refused at open, as sysfs does; see OpenSim.
type OTP struct {
	Fuses []uint32 // the fuses as the nvmem file reads them, by read index
	// Hidden holds burned fuses whose shadow register lies past the end of
	// the nvmem file (i.MX6 banks the read window does not reach), by write
	// index.
	Hidden        map[int]uint32
	Map           *fusemap.Map // geometry, offsets and locks; nil: read = write
	ReadProtected map[int]bool
	WriteLocked   map[int]bool
	Faults        []Fault
	Reads, Writes int // read and write calls, for tests that count I/O
	// Log holds every write that reached the controller, in order, as
	// addressed and as sent: what a logic analyser on the bus would see.
	// It is in memory only; a sim does not persist it.
	Log []WordWrite
	// WriteDelay is how long a write takes, like the controller's
	// programming pulses; it lets tests signal a process mid-apply.
	WriteDelay time.Duration

	// burned is called after a word's fuses changed, so the sim can
	// persist it before the write returns.
	burned func(index int) error

	// What fired faults left behind, for the rest of this session.
	gone       bool         // the device vanished
	shortRead  bool         // the next read comes back short
	unreadable map[int]bool // read indexes that now read 0xBADABADA
}

// WordWrite is one write as the controller received it.
type WordWrite struct {
	Word  int
	Value uint32
}

// NewOTP returns a blank emulator of words words.
func NewOTP(words int) *OTP {
	return &OTP{Fuses: make([]uint32, words), ReadProtected: map[int]bool{}, WriteLocked: map[int]bool{}, Hidden: map[int]uint32{}}
}

// readIndex is where the fuse at write index k shows in the nvmem file.
func (o *OTP) readIndex(k int) int {
	if o.Map == nil {
		return k
	}
	return o.Map.ReadIndex(k/o.Map.WordsPerBank, k%o.Map.WordsPerBank)
}

// read is what the driver returns for read index k: 0xBADABADA for a
// protected word, 0 for a shadow address that holds no fuse.
func (o *OTP) read(k int) uint32 {
	if o.ReadProtected[k] || o.unreadable[k] {
		return ReadProtected
	}
	if o.Map == nil {
		return o.Fuses[k]
	}
	bank, word, ok := o.Map.BankWord(k)
	if !ok {
		return 0
	}
	if o.Map.ReadLockedBy(o.Fuses, bank, word) != nil {
		return ReadProtected
	}
	return o.Fuses[k]
}

// writeLocked reports whether the controller refuses to program write
// index k: locked by the sim's configuration or by a burned LOCK field.
func (o *OTP) writeLocked(k int) bool {
	if o.WriteLocked[k] {
		return true
	}
	if o.Map == nil {
		return false
	}
	return o.Map.WriteLockedBy(o.Fuses, k/o.Map.WordsPerBank, k%o.Map.WordsPerBank) != nil
}

func (o *OTP) size() int64 { return 4 * int64(len(o.Fuses)) }

// ReadAt follows sysfs and bin_attr_nvmem_read: a zero-length read is 0,
// at or past the end is EOF, the count is clamped to the end, fewer than 4
// bytes after that is EINVAL, and the count is rounded down to whole words.
// Any byte offset works: the driver has had stride 1 since Linux 5.11.
func (o *OTP) ReadAt(p []byte, off int64) (int, error) {
	o.Reads++
	if o.gone {
		return 0, syscall.ENODEV
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= o.size() {
		return 0, io.EOF
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	n := min(int64(len(p)), o.size()-off)
	if n < 4 {
		return 0, syscall.EINVAL
	}
	n -= n % 4
	if o.shortRead {
		o.shortRead = false
		n = n / 2
		n -= n % 4
		if n == 0 {
			return 0, nil
		}
	}
	var w [4]byte
	for i := int64(0); i < n; i++ {
		k := int((off + i) / 4)
		if i == 0 || (off+i)%4 == 0 {
			binary.LittleEndian.PutUint32(w[:], o.read(k))
		}
		p[i] = w[(off+i)%4]
	}
	return int(n), nil
}

// WriteAt follows sysfs, bin_attr_nvmem_write and imx_ocotp_write: EFBIG at
// or past the end, the count clamped to the end, an empty write is 0, then
// EINVAL unless what is left rounds down to exactly one aligned word. A
// 6-byte write therefore burns one word and returns 4, as on the hardware.
func (o *OTP) WriteAt(p []byte, off int64) (int, error) {
	o.Writes++
	if o.gone {
		return 0, syscall.ENODEV
	}
	if off >= o.size() {
		return 0, syscall.EFBIG
	}
	n := min(int64(len(p)), o.size()-off)
	if n == 0 {
		return 0, nil // sysfs answers an empty write before the driver sees it
	}
	if off < 0 || n < 4 || n-n%4 != 4 || off%4 != 0 {
		return 0, syscall.EINVAL
	}
	k := int(off / 4)
	o.Log = append(o.Log, WordWrite{Word: k, Value: binary.LittleEndian.Uint32(p)})
	time.Sleep(o.WriteDelay)
	if err := o.quirk(&k); err != nil {
		return 0, err
	}
	after := FaultKind("")
	for _, f := range o.Faults {
		if f.Write != o.Writes {
			continue
		}
		switch f.Kind {
		case FaultEIO:
			return 0, syscall.EIO
		case FaultEPERM:
			return 0, syscall.EPERM
		case FaultTimeout:
			return 0, syscall.ETIMEDOUT
		case FaultVanish:
			o.gone = true
			return 0, syscall.ENODEV
		case FaultMisdirect:
			k = f.Word
		case FaultTimeoutAfterBurn, FaultShortRead, FaultReadProtect:
			after = f.Kind
		}
	}
	if o.writeLocked(k) {
		return 0, syscall.EPERM
	}
	v := binary.LittleEndian.Uint32(p)
	for _, f := range o.Faults {
		if f.Kind == FaultStuckBit && f.Word == k {
			v &^= 1 << f.Bit
		}
	}
	r := o.readIndex(k)
	if r >= len(o.Fuses) {
		o.Hidden[k] |= v // burned, but nvmem cannot read it back
	} else if before := o.Fuses[r]; before|v != before {
		o.Fuses[r] = before | v
		if o.burned != nil {
			if err := o.burned(r); err != nil {
				return 0, err
			}
		}
	}
	switch after {
	case FaultTimeoutAfterBurn:
		return 0, syscall.ETIMEDOUT
	case FaultShortRead:
		o.shortRead = true
	case FaultReadProtect:
		if o.unreadable == nil {
			o.unreadable = map[int]bool{}
		}
		o.unreadable[r] = true
	}
	return 4, nil
}

// quirk applies what a SoC's driver does wrong with a write to write
// index *k, so that what otpprov refuses can still be seen happening:
//   - i.MX8MP: the driver programs an 8-bit word address, so a write to
//     word 256 or above burns word k & 0xff instead, and succeeds;
//   - i.MX7ULP: the driver has no timing hook and the kernel dereferences
//     NULL; the writer is killed and the driver's mutex stays held. The
//     nearest thing a file can do is vanish: ENODEV from now on.
func (o *OTP) quirk(k *int) error {
	if o.Map == nil {
		return nil
	}
	switch o.Map.Name {
	case "imx8mp":
		*k &= 0xff
	case "imx7ulp":
		o.gone = true
		return syscall.ENODEV
	}
	return nil
}

// Close does nothing: the in-memory emulator has no resources.
func (o *OTP) Close() error { return nil }
