package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/journal"
)

// If the outcome cannot be appended after the intent (fuses may have
// burned), the operator hears it as exit 3: the board may be programmed,
// and only the intent says so. Before any burn the same failure is an
// ordinary error, exit 1.
func TestJournalFailureAfterBurn(t *testing.T) {
	for _, burned := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "j.jsonl")
		a, _, err := journal.Begin(context.Background(), path, journal.Record{Host: "h"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if burned {
			if err := a.Intend(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		// The journal's last line turns to garbage under it: the outcome
		// refuses to chain onto it.
		if err := os.WriteFile(path, []byte("garbage\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		st := &station{a: a}
		err = st.finish(context.Background(), nil)
		want := exitError
		if burned {
			want = exitPartial
		}
		if got := exitCode(err); got != want {
			t.Errorf("burned=%v: exit %d (%v), want %d", burned, got, err, want)
		}
		if burned {
			var ex *exit
			if !errors.As(err, &ex) || !strings.Contains(ex.hint, "report as interrupted") || strings.Contains(err.Error(), "<nil>") {
				t.Errorf("burned: %v, hint %q", err, ex.hint)
			}
		}
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 22: "22nd", 101: "101st", 111: "111th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %s, want %s", n, got, want)
		}
	}
}
