package nvmem

import (
	"bytes"
	"testing"
)

// BenchmarkParseDump: the Digi document's od dump of an i.MX8MM read
// back into the device's bytes (--from-dump, --state).
func BenchmarkParseDump(b *testing.B) {
	text := readDigi(b)
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseDump(bytes.NewReader(text), digiDump, 1024); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFormatOD: 1024 bytes printed as od -A x -t x4 -v does (dump).
func BenchmarkFormatOD(b *testing.B) {
	img := make([]byte, 1024)
	for i := range img {
		img[i] = byte(i * 7)
	}
	var out bytes.Buffer
	for i := 0; i < b.N; i++ {
		out.Reset()
		if err := FormatOD(&out, img); err != nil {
			b.Fatal(err)
		}
	}
}
