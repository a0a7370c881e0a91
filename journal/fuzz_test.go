package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify: any file given to 'journal verify' is checked without a
// panic, and a journal that verifies counts as many records as lines.
func FuzzVerify(f *testing.F) {
	path := filepath.Join(f.TempDir(), "j.jsonl")
	for i := 0; i < 3; i++ {
		j, err := Open(path)
		if err != nil {
			f.Fatal(err)
		}
		if err := j.Append(record(i)); err != nil {
			f.Fatal(err)
		}
		j.Close()
	}
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("{}\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Verify(bytes.NewReader(b))
		if err == nil && n != bytes.Count(b, []byte("\n"))+boolInt(len(b) > 0 && b[len(b)-1] != '\n') {
			t.Errorf("verified %d records in %q", n, b)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
