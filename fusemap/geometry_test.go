package fusemap

import (
	"strings"
	"testing"
)

func TestGeometry(t *testing.T) {
	cases := []struct {
		soc                 string
		words, bytes, banks int
		writable            int
	}{
		{"imx8mm", 256, 1024, 64, 256},
		{"imx8mn", 256, 1024, 64, 256},
		{"imx8mq", 256, 1024, 64, 256},
		{"imx8mp", 384, 1536, 96, 256}, // the driver's 8-bit write address
	}
	for _, c := range cases {
		s, err := Load(c.soc)
		if err != nil {
			t.Fatal(err)
		}
		if s.Words != c.words || s.Bytes() != c.bytes || s.Banks() != c.banks || s.WritableWords != c.writable {
			t.Errorf("%s: %+v", c.soc, s)
		}
		if s.Writable(c.writable) || !s.Writable(c.writable-1) {
			t.Errorf("%s: writable boundary wrong", c.soc)
		}
	}
	s, _ := Load("imx8mm")
	// The Digi document: bank 9 word 1 is offset 37 words, 148 bytes.
	if s.ReadIndex(9, 1) != 37 || s.Offset(9, 1) != 148 || s.WriteOffset(9, 1) != 148 {
		t.Errorf("bank 9 word 1: index %d offset %d", s.ReadIndex(9, 1), s.Offset(9, 1))
	}
	if b, w, ok := s.BankWord(37); b != 9 || w != 1 || !ok {
		t.Errorf("BankWord(37) = %d, %d, %v", b, w, ok)
	}
	if _, err := Load("imx5"); err == nil {
		t.Error("an unknown soc must be refused")
	}
}

// TestGeometryAllSoCs pins the size of the nvmem file of every embedded
// SoC to the nregs of the kernel driver (reference sheet, section 3): a
// wrong size would make every read-back and every offset past it wrong.
func TestGeometryAllSoCs(t *testing.T) {
	cases := []struct {
		soc          string
		words, bytes int
		wordsPerBank int
		writable     int     // first write index the tool refuses
		shifts       []Shift // read layout gaps
	}{
		{"imx6q", 128, 512, 8, 112, []Shift{{6, 16}, {15, 24}}},
		{"imx6sx", 128, 512, 8, 112, []Shift{{6, 16}, {15, 24}}},
		{"imx6sl", 64, 256, 8, 64, nil},
		{"imx6sll", 80, 320, 8, 64, []Shift{{6, 16}}},
		{"imx6ull", 80, 320, 8, 64, []Shift{{6, 16}}},
		{"imx6ul", 144, 576, 8, 128, []Shift{{6, 16}}},
		{"imx7d", 64, 256, 4, 64, nil},
		{"imx7ulp", 256, 1024, 8, 0, nil},
		{"imx8mq", 256, 1024, 4, 256, nil},
		{"imx8mm", 256, 1024, 4, 256, nil},
		{"imx8mn", 256, 1024, 4, 256, nil},
		{"imx8mp", 384, 1536, 4, 256, nil},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.soc] = true
		t.Run(c.soc, func(t *testing.T) {
			s, err := Load(c.soc)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != c.soc {
				t.Errorf("Name = %q", s.Name)
			}
			if s.Words != c.words || s.Bytes() != c.bytes || s.WordsPerBank != c.wordsPerBank {
				t.Errorf("words %d bytes %d wordsPerBank %d; want %d, %d, %d",
					s.Words, s.Bytes(), s.WordsPerBank, c.words, c.bytes, c.wordsPerBank)
			}
			if s.WritableWords != c.writable {
				t.Errorf("WritableWords = %d, want %d", s.WritableWords, c.writable)
			}
			if len(s.ReadShifts) != len(c.shifts) {
				t.Fatalf("ReadShifts = %v, want %v", s.ReadShifts, c.shifts)
			}
			for i := range c.shifts {
				if s.ReadShifts[i] != c.shifts[i] {
					t.Errorf("ReadShifts = %v, want %v", s.ReadShifts, c.shifts)
				}
			}
			if s.WritableWords < s.Words && s.WriteHazard == "" {
				t.Errorf("words %d.. are refused without a reason", s.WritableWords)
			}
		})
	}
	// A new embedded map must be added to this table, with its facts.
	for _, n := range Names() {
		if !seen[n] {
			t.Errorf("embedded map %s has no geometry case", n)
		}
	}
}

// TestOffsetsIMX8M: on i.MX8M read and write offsets agree and are
// (bank*4+word)*4 for every fuse (reference sheet, section 1).
func TestOffsetsIMX8M(t *testing.T) {
	for _, soc := range []string{"imx8mq", "imx8mm", "imx8mn", "imx8mp"} {
		s, err := Load(soc)
		if err != nil {
			t.Fatal(err)
		}
		for bank := 0; bank < s.Banks(); bank++ {
			for word := 0; word < 4; word++ {
				want := (bank*4 + word) * 4
				if r, w := s.Offset(bank, word), s.WriteOffset(bank, word); r != want || w != want {
					t.Fatalf("%s %d/%d: read offset %#x, write offset %#x, want %#x", soc, bank, word, r, w, want)
				}
				if !s.Readable(bank, word) {
					t.Fatalf("%s %d/%d is not readable", soc, bank, word)
				}
			}
		}
	}
}

// TestOffsetsIMX6: on i.MX6 the read path follows the shadow registers,
// which skip banks, and the write path does not (reference sheet, section 4;
// U-Boot fuse_bank_physical). Banks 0-5 are the same both ways.
func TestOffsetsIMX6(t *testing.T) {
	cases := []struct {
		soc             string
		bank, word      int
		write, read     int // word indexes
		readable        bool
		writeOff, rdOff int
	}{
		{"imx6q", 0, 0, 0, 0, true, 0x00, 0x00},
		{"imx6q", 3, 0, 24, 24, true, 0x60, 0x60}, // SRK_HASH
		{"imx6q", 4, 2, 34, 34, true, 0x88, 0x88}, // MAC (U-Boot 0x620)
		{"imx6q", 5, 7, 47, 47, true, 0xbc, 0xbc},
		{"imx6q", 6, 0, 48, 64, true, 0xc0, 0x100},
		{"imx6q", 13, 7, 111, 127, true, 0x1bc, 0x1fc},
		{"imx6q", 14, 0, 112, 128, false, 0x1c0, 0x200},
		{"imx6q", 15, 0, 120, 144, false, 0x1e0, 0x240},
		{"imx6q", 15, 7, 127, 151, false, 0x1fc, 0x25c},
		{"imx6sx", 6, 0, 48, 64, true, 0xc0, 0x100},
		{"imx6sx", 15, 1, 121, 145, false, 0x1e4, 0x244},
		{"imx6ull", 6, 0, 48, 64, true, 0xc0, 0x100},
		{"imx6ull", 7, 7, 63, 79, true, 0xfc, 0x13c}, // the last word of the 80-word file
		{"imx6sll", 7, 4, 60, 76, true, 0xf0, 0x130}, // U-Boot's "bank 8 word 0"
		{"imx6ul", 15, 7, 127, 143, true, 0x1fc, 0x23c},
		{"imx6sl", 7, 7, 63, 63, true, 0xfc, 0xfc}, // no hole on 6SL
	}
	for _, c := range cases {
		s, err := Load(c.soc)
		if err != nil {
			t.Fatal(err)
		}
		if w, r := s.WriteIndex(c.bank, c.word), s.ReadIndex(c.bank, c.word); w != c.write || r != c.read {
			t.Errorf("%s %d/%d: write index %d, read index %d; want %d, %d", c.soc, c.bank, c.word, w, r, c.write, c.read)
		}
		if w, r := s.WriteOffset(c.bank, c.word), s.Offset(c.bank, c.word); w != c.writeOff || r != c.rdOff {
			t.Errorf("%s %d/%d: write offset %#x, read offset %#x; want %#x, %#x", c.soc, c.bank, c.word, w, r, c.writeOff, c.rdOff)
		}
		if got := s.Readable(c.bank, c.word); got != c.readable {
			t.Errorf("%s %d/%d: Readable = %v, want %v", c.soc, c.bank, c.word, got, c.readable)
		}
	}
	// Banks 0..5 hold LOCK, SEC_CONFIG, SRK hash and MAC: any shift there
	// would burn the wrong word on every i.MX6.
	for _, soc := range []string{"imx6q", "imx6sx", "imx6sl", "imx6sll", "imx6ull", "imx6ul"} {
		s, _ := Load(soc)
		for bank := 0; bank <= 5; bank++ {
			for word := 0; word < 8; word++ {
				if s.ReadIndex(bank, word) != s.WriteIndex(bank, word) {
					t.Errorf("%s %d/%d: read index %d != write index %d", soc, bank, word, s.ReadIndex(bank, word), s.WriteIndex(bank, word))
				}
			}
		}
	}
}

// TestBankWordInvertsReadIndex: every read index of every SoC maps back
// to exactly the fuse ReadIndex put there, and the read indexes no fuse
// maps to (the shadow gaps) are reported as such.
func TestBankWordInvertsReadIndex(t *testing.T) {
	gaps := map[string][2]int{ // [first, end) of the gap inside the nvmem file
		"imx6q":   {48, 64},
		"imx6sx":  {48, 64},
		"imx6sll": {48, 64},
		"imx6ull": {48, 64},
		"imx6ul":  {48, 64},
	}
	for _, soc := range Names() {
		s, err := Load(soc)
		if err != nil {
			t.Fatal(err)
		}
		hit := map[int]bool{}
		for bank := 0; bank < s.Banks(); bank++ {
			for word := 0; word < s.WordsPerBank; word++ {
				if !s.Readable(bank, word) {
					continue
				}
				k := s.ReadIndex(bank, word)
				if hit[k] {
					t.Errorf("%s: read index %d holds two fuses", soc, k)
				}
				hit[k] = true
				if b, w, ok := s.BankWord(k); !ok || b != bank || w != word {
					t.Errorf("%s: BankWord(%d) = %d/%d %v, want %d/%d", soc, k, b, w, ok, bank, word)
				}
			}
		}
		gap := gaps[soc]
		for k := 0; k < s.Words; k++ {
			inGap := k >= gap[0] && k < gap[1]
			b, w, ok := s.BankWord(k)
			if ok == inGap || hit[k] == inGap {
				t.Errorf("%s: read index %d: BankWord = %d/%d %v, a fuse reads there: %v; in the gap: %v", soc, k, b, w, ok, hit[k], inGap)
			}
		}
	}
}

// TestReadableIMX6Q: banks 14 and 15 of the i.MX6Q lie past the 128-word
// file once shifted, so nothing there can be read back or verified.
func TestReadableIMX6Q(t *testing.T) {
	s, err := Load("imx6q")
	if err != nil {
		t.Fatal(err)
	}
	for bank := 0; bank < 16; bank++ {
		for word := 0; word < 8; word++ {
			if got, want := s.Readable(bank, word), bank < 14; got != want {
				t.Errorf("Readable(%d, %d) = %v, want %v", bank, word, got, want)
			}
			// The tool refuses writes it could not verify.
			if got, want := s.Writable(s.WriteIndex(bank, word)), bank < 14; got != want {
				t.Errorf("Writable(%d/%d) = %v, want %v", bank, word, got, want)
			}
		}
	}
}

// TestWriteHazards: the driver bugs the reference sheet lists are refused,
// with a reason an operator can act on.
func TestWriteHazards(t *testing.T) {
	mp, err := Load("imx8mp")
	if err != nil {
		t.Fatal(err)
	}
	// u8 waddr: word 256 would program word 0.
	for _, k := range []int{0, 255} {
		if !mp.Writable(k) {
			t.Errorf("imx8mp: word %d refused", k)
		}
	}
	for _, k := range []int{256, 300, 383} {
		if mp.Writable(k) {
			t.Errorf("imx8mp: word %d accepted; the driver would program word %d", k, k-256)
		}
	}
	if !strings.Contains(mp.WriteHazard, "8 bits") {
		t.Errorf("imx8mp hazard %q does not say the address is 8 bits", mp.WriteHazard)
	}

	ulp, err := Load("imx7ulp")
	if err != nil {
		t.Fatal(err)
	}
	if ulp.WritableWords != 0 {
		t.Errorf("imx7ulp: WritableWords = %d, want 0", ulp.WritableWords)
	}
	for k := 0; k < ulp.Words; k++ {
		if ulp.Writable(k) {
			t.Fatalf("imx7ulp: word %d accepted; a write crashes the kernel", k)
		}
	}
	for _, w := range []string{"timing", "NULL"} {
		if !strings.Contains(ulp.WriteHazard, w) {
			t.Errorf("imx7ulp hazard %q does not mention %q", ulp.WriteHazard, w)
		}
	}
}
