// Package fusemap describes i.MX SoC fuse arrays as data. For now it holds
// geometry only: how many OTP words a part has, how bank/word maps to the
// nvmem byte offset, and which words the kernel driver cannot write safely.
package fusemap

import (
	"fmt"
	"sort"
	"strings"
)

// SoC is the fuse geometry of one part as the imx-ocotp driver exposes it.
type SoC struct {
	Name         string
	Words        int // nregs in the driver: the nvmem file is 4*Words bytes
	WordsPerBank int
	// WritableWords is the first word index the driver cannot program
	// correctly. i.MX8MP keeps the write address in an 8-bit variable, so a
	// write to word 256+n silently programs word n: we refuse it.
	WritableWords int
	WriteHazard   string // why words >= WritableWords are refused
}

// Bytes is the size of the nvmem file.
func (s SoC) Bytes() int { return 4 * s.Words }

// Banks is the number of banks.
func (s SoC) Banks() int { return s.Words / s.WordsPerBank }

// Index is the word index of bank/word: on i.MX8M parts the nvmem read and
// write offsets are the same, bank*WordsPerBank+word.
func (s SoC) Index(bank, word int) int { return bank*s.WordsPerBank + word }

// Offset is the nvmem byte offset of bank/word.
func (s SoC) Offset(bank, word int) int { return 4 * s.Index(bank, word) }

// BankWord is the inverse of Index.
func (s SoC) BankWord(index int) (bank, word int) {
	return index / s.WordsPerBank, index % s.WordsPerBank
}

// Writable reports whether the driver can program word index correctly.
func (s SoC) Writable(index int) bool { return index < s.WritableWords }

// Sizes from the nregs of each compatible in drivers/nvmem/imx-ocotp.c.
var socs = map[string]SoC{
	"imx8mm": {Name: "imx8mm", Words: 256, WordsPerBank: 4, WritableWords: 256},
	"imx8mn": {Name: "imx8mn", Words: 256, WordsPerBank: 4, WritableWords: 256},
	"imx8mq": {Name: "imx8mq", Words: 256, WordsPerBank: 4, WritableWords: 256},
	"imx8mp": {Name: "imx8mp", Words: 384, WordsPerBank: 4, WritableWords: 256,
		WriteHazard: "the imx-ocotp driver keeps the i.MX8MP write address in 8 bits, so writing word 256 or above would program word-256 instead"},
}

// Lookup returns the geometry of a SoC by its manifest name.
func Lookup(name string) (SoC, error) {
	s, ok := socs[name]
	if !ok {
		return SoC{}, fmt.Errorf("unknown soc %q (supported: %s)", name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// Names lists the supported SoCs, sorted.
func Names() []string {
	names := make([]string, 0, len(socs))
	for n := range socs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
