// Package fusemap describes i.MX SoC fuse arrays as data: one embedded
// YAML file per SoC (maps/*.yaml) gives the geometry, how a fuse's bank and
// word map to nvmem offsets, the named fields, which fields lock which, and
// which burns have an irreversible security effect.
package fusemap

// Shift is a gap in the nvmem READ layout: from bank FromBank on, a fuse's
// read word index is its write word index plus Words. On i.MX6 the read
// path walks the shadow registers, which skip banks; the write path sends
// offset/4 to the controller unchanged.
type Shift struct {
	FromBank int
	Words    int
}

// SoC is the fuse geometry of one part as the imx-ocotp driver exposes it.
type SoC struct {
	Name         string
	Words        int // nregs in the driver: the nvmem file is 4*Words bytes
	WordsPerBank int
	ReadShifts   []Shift // sorted by FromBank; empty when read and write agree
	// WritableWords is the first write index the driver cannot program
	// correctly: 256 on i.MX8MP, whose driver keeps the write address in 8
	// bits, 0 on i.MX7ULP, whose driver has no timing hook.
	WritableWords int
	WriteHazard   string // why words >= WritableWords are refused
}

// Bytes is the size of the nvmem file.
func (s SoC) Bytes() int { return 4 * s.Words }

// Banks is the number of fuse banks addressable through writes.
func (s SoC) Banks() int { return s.Words / s.WordsPerBank }

// WriteIndex is the word index a write of bank/word goes to: offset/4 is
// the fuse address the driver gives the controller.
func (s SoC) WriteIndex(bank, word int) int { return bank*s.WordsPerBank + word }

// ReadIndex is the word index of bank/word in the nvmem file as read. It may
// be >= Words: that fuse exists but cannot be read through nvmem.
func (s SoC) ReadIndex(bank, word int) int {
	k := s.WriteIndex(bank, word)
	shift := 0
	for _, sh := range s.ReadShifts {
		if bank >= sh.FromBank {
			shift = sh.Words
		}
	}
	return k + shift
}

// Readable reports whether bank/word can be read through nvmem.
func (s SoC) Readable(bank, word int) bool { return s.ReadIndex(bank, word) < s.Words }

// Offset is the nvmem byte offset to read bank/word at.
func (s SoC) Offset(bank, word int) int { return 4 * s.ReadIndex(bank, word) }

// WriteOffset is the nvmem byte offset to write bank/word at.
func (s SoC) WriteOffset(bank, word int) int { return 4 * s.WriteIndex(bank, word) }

// BankWord is the fuse at read index k; ok is false for a read index that
// falls in a gap of the shadow registers, which holds no fuse.
func (s SoC) BankWord(k int) (bank, word int, ok bool) {
	for i := len(s.ReadShifts) - 1; i >= -1; i-- {
		shift, from := 0, 0
		if i >= 0 {
			shift, from = s.ReadShifts[i].Words, s.ReadShifts[i].FromBank
		}
		w := k - shift
		if w < 0 {
			continue
		}
		bank, word = w/s.WordsPerBank, w%s.WordsPerBank
		if bank >= from && s.ReadIndex(bank, word) == k {
			return bank, word, true
		}
	}
	return 0, 0, false
}

// Writable reports whether the driver can program write index k correctly.
func (s SoC) Writable(k int) bool { return k < s.WritableWords }
