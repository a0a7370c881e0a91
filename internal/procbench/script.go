package main

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"

	"github.com/otpprov/otpprov/internal/shquote"
)

// The i.MX8MM geometry: 64 banks of 4 words, 1 KiB through nvmem.
const (
	wordsPerBank = 4
	deviceBytes  = 1024
)

// fuseWord is one OTP word to burn.
type fuseWord struct {
	Bank, Word int
	Value      uint32
}

// offset is the word's index, the unit of dd's seek= and skip= with bs=4:
// bank*4+word, the document's formula for the i.MX8M Mini.
func (w fuseWord) offset() int { return w.Bank*wordsPerBank + w.Word }

// applyWords are the 8 words both sides burn: USB_ID, the three MAC
// address words and GP1/GP2. None is a security or lock word, so apply
// needs no --confirm-security, and they are in word order, the order in
// which otpprov burns them. 9/1 gets the document's own example,
// 0x12345678 at offset 37.
var applyWords = []fuseWord{
	{8, 2, 0x01341fc9},
	{9, 0, 0x9f010203},
	{9, 1, 0x12345678},
	{9, 2, 0xdeadbeef},
	{14, 0, 0x00c0ffee},
	{14, 1, 0xcafef00d},
	{14, 2, 0x80000001},
	{14, 3, 0xa5a55a5a},
}

// readWord is the word both `read` sides read: bank 9 word 1, the
// document's example (offset 37).
var readWord = fuseWord{Bank: 9, Word: 1}

// printfEscapes is value as the document's printf argument: its four
// bytes in little-endian order, each as \xNN.
func printfEscapes(value uint32) string {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], value)
	return fmt.Sprintf(`\x%02x\x%02x\x%02x\x%02x`, b[0], b[1], b[2], b[3])
}

// odDevice is the document's dump of the whole device, with -v so that
// repeated lines are printed (otpprov dump's output is that of -v).
func odDevice(od, dev string) []string { return []string{od, "-A", "x", "-t", "x4", "-v", dev} }

// readScript is the document's read of one word: dd of 4 bytes at the
// word's offset, piped to od.
func readScript(dev string, offset int) string {
	return fmt.Sprintf("dd status=none if=%s of=/dev/stdout bs=4 count=1 skip=%d | od -v -t x4", shquote.Quoted(dev), offset)
}

// applyScript is the document's way to burn words, as one script: per
// word a printf | dd write and a dd | od read-back. With withOD it first
// dumps the whole device, as an operator following the document does
// before deciding what to burn (and as otpprov's plan reads it whole).
func applyScript(dev string, words []fuseWord, withOD bool) string {
	var b strings.Builder
	q := shquote.Quoted(dev)
	if withOD {
		fmt.Fprintf(&b, "od -A x -t x4 -v %s\n", q)
	}
	for _, w := range words {
		fmt.Fprintf(&b, "printf '%s' | dd of=%s bs=4 count=1 seek=%d conv=notrunc\n", printfEscapes(w.Value), q, w.offset())
		fmt.Fprintf(&b, "%s\n", readScript(dev, w.offset()))
	}
	return b.String()
}

// manifestText is an otpprov manifest setting exactly the given words, as raw
// bank/word entries with the full mask.
func manifestText(words []fuseWord) string {
	var b strings.Builder
	b.WriteString("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata:\n  name: procbench-8-words\nsoc: imx8mm\nfuses:\n")
	for _, w := range words {
		fmt.Fprintf(&b, "  - {bank: %d, word: %d, value: \"0x%08x\"}\n", w.Bank, w.Word, w.Value)
	}
	return b.String()
}

// burned is blank with the words ORed in: what the device must hold after
// either side burned them.
func burned(blank []byte, words []fuseWord) []byte {
	out := append([]byte(nil), blank...)
	for _, w := range words {
		i := 4 * w.offset()
		binary.LittleEndian.PutUint32(out[i:], binary.LittleEndian.Uint32(out[i:])|w.Value)
	}
	return out
}

// odWordLine is a line of `od -v -t x4` of 4 bytes: octal address 0, one
// word. The dump's lines have 6-digit hex addresses, so they never match.
var odWordLine = regexp.MustCompile(`(?m)^0000000 ([0-9a-f]{8})$`)

// odWords returns the words of the one-word od lines in out, in order.
func odWords(out string) []string {
	var ws []string
	for _, m := range odWordLine.FindAllStringSubmatch(out, -1) {
		ws = append(ws, m[1])
	}
	return ws
}
