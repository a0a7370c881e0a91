package nvmem

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Image is a device's content as a dump showed it.
type Image struct {
	Bytes     []byte // little-endian words, len == size given to ParseDump
	Protected []int  // word indexes that read 0xbadabada, ascending
}

// maxDumpText bounds what ParseDump reads. A whole OCOTP array dumps to a
// few KiB of text, so anything past this is the wrong file, and reading it
// all would only waste memory.
const maxDumpText = 1 << 20

// dumpForm is the shape of a dump's data lines. The two forms differ in what
// a missing line means, so a dump must not mix them.
type dumpForm int

const (
	dumpFormNone  dumpForm = iota
	dumpFormGNU            // od -A x -t x4 [-v]: "000000 w w w w"
	dumpFormColon          // xxd -e, hexdump -e, U-Boot md.l: "00000000: w w w w"
)

func (f dumpForm) String() string {
	if f == dumpFormColon {
		return `colon form ("00000000: feafa9eb ...")`
	}
	return `GNU od form ("000000 feafa9eb ...")`
}

// dumpLine is one data line of a dump.
type dumpLine struct {
	num   int // 1-based line number in the text, for messages
	off   int
	words []uint32
}

// dumpParser assembles the image while it reads the dump, so that each
// error can name the line that caused it.
type dumpParser struct {
	name string
	size int
	img  []byte

	form     dumpForm
	formLine int
	prev     *dumpLine // the last data line, nil before the first
	end      int       // bytes of img filled so far
	star     int       // line of a "*" not yet resolved, 0 if none
	lenLine  int       // line of the final length line, 0 if none
}

// ParseDump reads a pasted dump. name is used in error messages ("name:LINE: ...").
// size is the device's byte size (a multiple of 4, > 0); a dump that covers a
// different extent is an error.
func ParseDump(r io.Reader, name string, size int) (*Image, error) {
	if size <= 0 || size%4 != 0 {
		return nil, fmt.Errorf("%s: device size %d is not a positive multiple of 4", name, size)
	}
	text, err := io.ReadAll(io.LimitReader(r, maxDumpText+1))
	if err != nil {
		return nil, fmt.Errorf("%s:%d: reading the dump: %w", name, bytes.Count(text, []byte("\n"))+1, err)
	}
	if len(text) > maxDumpText {
		return nil, fmt.Errorf("%s:%d: the dump is larger than 1 MiB of text; a dump of the fuse array is a few KiB, so this is not one",
			name, bytes.Count(text[:maxDumpText], []byte("\n"))+1)
	}

	p := &dumpParser{name: name, size: size, img: make([]byte, size)}
	lines := strings.Split(string(text), "\n")
	for i, line := range lines {
		// TrimSpace also drops the \r of CRLF pastes.
		if err := p.line(i+1, strings.TrimSpace(line)); err != nil {
			return nil, err
		}
	}
	last := len(lines)
	if last > 1 && lines[last-1] == "" {
		last-- // the text's final newline does not start a line
	}
	if err := p.finish(last); err != nil {
		return nil, err
	}

	img := &Image{Bytes: p.img}
	for k := 0; 4*k < len(p.img); k++ {
		if binary.LittleEndian.Uint32(p.img[4*k:]) == ReadProtected {
			img.Protected = append(img.Protected, k)
		}
	}
	return img, nil
}

func (p *dumpParser) errf(num int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.name, num, fmt.Sprintf(format, args...))
}

func (p *dumpParser) line(num int, s string) error {
	switch {
	case s == "" || strings.HasPrefix(s, "#"):
		return nil
	case p.lenLine != 0:
		return p.errf(num, "%s follows the final length line (line %d); paste one dump at a time", quoteLine(s), p.lenLine)
	case s == "*":
		return p.repeatMark(num)
	}
	if f := strings.Fields(s); len(f) == 1 && isHexDigits(f[0]) {
		return p.length(num, f[0])
	}
	return p.data(num, s)
}

func (p *dumpParser) repeatMark(num int) error {
	if p.prev == nil {
		return p.errf(num, `"*" before any data line; it can only repeat the line above it`)
	}
	if len(p.prev.words) < 4 {
		return p.errf(num, `"*" follows line %d, which holds only %d of 4 words; only a full line of 4 words can repeat`,
			p.prev.num, len(p.prev.words))
	}
	p.star = num
	return nil
}

// length handles the line that od prints last: the dump's total byte count.
func (p *dumpParser) length(num int, tok string) error {
	if p.prev == nil {
		return p.errf(num, "the dump holds no data lines before its final length line %s; paste the whole dump", tok)
	}
	n, err := strconv.ParseUint(tok, 16, 64)
	if err != nil || n > uint64(p.size) {
		return p.errf(num, "the dump is 0x%s bytes long but the device has 0x%x bytes; is this a dump of this device?", tok, p.size)
	}
	length := int(n)
	if length < p.end {
		return p.errf(num, "the final length 0x%x is shorter than the data above it, which ends at 0x%x; the paste is damaged",
			length, p.end)
	}
	if length > p.end {
		if err := p.fillTo(num, length); err != nil {
			return err
		}
	}
	if length < p.size {
		return p.errf(num, "the dump is 0x%x bytes long but the device has 0x%x bytes; paste the whole dump, or check the device",
			length, p.size)
	}
	p.lenLine = num
	return nil
}

func (p *dumpParser) data(num int, s string) error {
	form, offTok, wordToks, ok := splitDumpLine(s)
	if !ok {
		return p.errf(num, "%s is not a dump line; expected an offset and up to 4 words, like \"00000000: feafa9eb 50d00200 24226998 00000000\" or the output of od -A x -t x4",
			quoteLine(s))
	}
	if p.form == dumpFormNone {
		p.form, p.formLine = form, num
	} else if form != p.form {
		return p.errf(num, "this line is in the %s but the dump began in the %s at line %d; paste one dump at a time",
			form, p.form, p.formLine)
	}

	if len(wordToks) == 0 {
		return p.errf(num, "offset %s has no words after it", offTok)
	}
	if len(wordToks) > 4 {
		return p.errf(num, "%d words on one line; a dump line holds at most 4", len(wordToks))
	}
	dl := &dumpLine{num: num}
	for _, t := range wordToks {
		if len(t) != 8 || !isHexDigits(t) {
			return p.errf(num, "word %q is not 8 hex digits; dump 32-bit words, e.g. with od -A x -t x4", t)
		}
		w, _ := strconv.ParseUint(t, 16, 32)
		dl.words = append(dl.words, uint32(w))
	}

	off, err := strconv.ParseUint(offTok, 16, 64)
	if err != nil {
		off = 1<<64 - 1 // too many digits: treat it as far past any device
	}
	switch {
	case p.prev == nil && off != 0:
		return p.errf(num, "the first line is at offset 0x%s; a dump must start at offset 0, so paste it from its first line", offTok)
	case p.prev != nil && off <= uint64(p.prev.off):
		return p.errf(num, "offset 0x%s does not come after offset 0x%x of line %d; offsets must increase", offTok, p.prev.off, p.prev.num)
	case off%16 != 0:
		return p.errf(num, "offset 0x%s is not a multiple of 16 (0x10); each line must hold the 4 words of one 16-byte row", offTok)
	case p.prev != nil && len(p.prev.words) < 4:
		return p.errf(p.prev.num, "this line holds only %d of 4 words but is not the last; only the last line may hold fewer than 4",
			len(p.prev.words))
	case off+4*uint64(len(dl.words)) > uint64(p.size):
		return p.errf(num, "offset 0x%s is past the end of the device (0x%x bytes); is this a dump of this device?", offTok, p.size)
	}
	dl.off = int(off)

	if dl.off > p.end {
		if err := p.fillTo(num, dl.off); err != nil {
			return err
		}
	}
	for i, w := range dl.words {
		binary.LittleEndian.PutUint32(p.img[dl.off+4*i:], w)
	}
	p.end = dl.off + 4*len(dl.words)
	p.prev = dl
	p.star = 0
	return nil
}

// fillTo repeats the previous line up to offset to. Dumpers skip a run of
// lines equal to the one before them; GNU od always marks the skip with
// "*", so there a gap without one means the paste lost a line.
func (p *dumpParser) fillTo(num, to int) error {
	if p.form == dumpFormGNU && p.star == 0 {
		return p.errf(num, "offset 0x%x follows line %d, which ends at 0x%x, with no \"*\" line between; GNU od always prints \"*\" for repeated lines, so a line was lost from the paste: paste the whole dump again",
			to, p.prev.num, p.end)
	}
	if len(p.prev.words) < 4 {
		return p.errf(num, "line %d holds only %d of 4 words, so it cannot repeat up to 0x%x", p.prev.num, len(p.prev.words), to)
	}
	if (to-p.end)%16 != 0 {
		return p.errf(num, "repeating line %d from 0x%x cannot reach 0x%x in whole 16-byte rows; the paste is damaged",
			p.prev.num, p.end, to)
	}
	row := p.img[p.prev.off : p.prev.off+16]
	for ; p.end < to; p.end += 16 {
		copy(p.img[p.end:], row)
	}
	return nil
}

func (p *dumpParser) finish(lastLine int) error {
	if p.prev == nil {
		return p.errf(lastLine, "no dump lines found; expected lines like \"00000000: feafa9eb 50d00200 24226998 00000000\" or the output of od -A x -t x4")
	}
	if p.lenLine != 0 {
		return nil
	}
	// Without a length line, a trailing "*" can only mean "to the end".
	if p.star != 0 && p.end < p.size {
		if err := p.fillTo(p.star, p.size); err != nil {
			return err
		}
	}
	if p.end != p.size {
		return p.errf(p.prev.num, "the dump ends at 0x%x but the device has 0x%x bytes; paste the whole dump, or check the device",
			p.end, p.size)
	}
	return nil
}

// splitDumpLine cuts a data line into its offset and word tokens, and tells
// which form it is in. It does not check the word tokens.
func splitDumpLine(s string) (form dumpForm, off string, words []string, ok bool) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return dumpFormNone, "", nil, false
	}
	if off, found := strings.CutSuffix(f[0], ":"); found {
		// xxd -e and U-Boot md print an ASCII column after two or more
		// spaces; it may hold anything, even text that looks like words.
		rest := strings.TrimLeft(s[len(f[0]):], " \t")
		if j := strings.Index(rest, "  "); j >= 0 {
			rest = rest[:j]
		}
		return dumpFormColon, off, strings.Fields(rest), len(off) == 8 && isHexDigits(off)
	}
	return dumpFormGNU, f[0], f[1:], len(f[0]) <= 16 && isHexDigits(f[0])
}

func isHexDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// quoteLine quotes a line for a message, cut short so that a binary paste
// does not flood the terminal.
func quoteLine(s string) string {
	const limit = 60
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

// FormatOD writes b exactly as GNU `od -A x -t x4 -v` prints the same bytes.
func FormatOD(w io.Writer, b []byte) error {
	bw := bufio.NewWriter(w)
	for off := 0; off < len(b); off += 16 {
		fmt.Fprintf(bw, "%06x", off)
		for i := off; i < off+16 && i < len(b); i += 4 {
			var word [4]byte // od pads a final partial word with zero bytes
			copy(word[:], b[i:])
			fmt.Fprintf(bw, " %08x", binary.LittleEndian.Uint32(word[:]))
		}
		bw.WriteByte('\n')
	}
	fmt.Fprintf(bw, "%06x\n", len(b))
	return bw.Flush()
}
