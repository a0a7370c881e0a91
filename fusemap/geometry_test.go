package fusemap

import "testing"

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
		s, err := Lookup(c.soc)
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
	s, _ := Lookup("imx8mm")
	// The Digi document: bank 9 word 1 is offset 37 words, 148 bytes.
	if s.ReadIndex(9, 1) != 37 || s.Offset(9, 1) != 148 || s.WriteOffset(9, 1) != 148 {
		t.Errorf("bank 9 word 1: index %d offset %d", s.ReadIndex(9, 1), s.Offset(9, 1))
	}
	if b, w, ok := s.BankWord(37); b != 9 || w != 1 || !ok {
		t.Errorf("BankWord(37) = %d, %d, %v", b, w, ok)
	}
	if _, err := Lookup("imx5"); err == nil {
		t.Error("an unknown soc must be refused")
	}
}
