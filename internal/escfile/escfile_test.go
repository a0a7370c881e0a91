package escfile

import (
	"bytes"
	"testing"
)

func TestDecode(t *testing.T) {
	got, err := Decode([]byte("a: \\x00\\xff\nb: \\r\n"))
	if want := []byte("a: \x00\xff\nb: \r\n"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("Decode = %q, %v; want %q", got, err, want)
	}
	if _, err := Decode([]byte("a: \\q\n")); err == nil {
		t.Error("a bad escape was accepted")
	}
}
