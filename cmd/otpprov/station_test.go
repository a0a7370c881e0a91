package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/journal"
)

// If the record cannot be appended after fuses may have burned, the
// operator hears it as exit 3: the board may be programmed without a trace.
// Before any burn the same failure is an ordinary error, exit 1.
func TestJournalFailureAfterBurn(t *testing.T) {
	for _, c := range []struct {
		burned bool
		code   int
	}{{true, exitPartial}, {false, exitError}} {
		path := filepath.Join(t.TempDir(), "j.jsonl")
		f, err := journal.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		// The journal's last line turns to garbage under it: the append
		// refuses to chain onto it.
		if err := os.WriteFile(path, []byte("garbage\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		st := &station{file: f}
		err = st.finish(nil, c.burned)
		if got := exitCode(err); got != c.code {
			t.Errorf("burned=%v: exit %d (%v), want %d", c.burned, got, err, c.code)
		}
		if c.burned {
			var ex *exit
			if !errors.As(err, &ex) || !strings.Contains(ex.hint, "without a journal record") || strings.Contains(err.Error(), "<nil>") {
				t.Errorf("burned: %v, hint %q", err, ex.hint)
			}
		}
	}
}
