package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/internal/output"
	"github.com/otpprov/otpprov/journal"
)

// If the outcome cannot be appended after the intent (fuses may have
// burned), the operator hears it as exit 3: the board may be programmed,
// and only the intent says so. Before any burn the same failure is an
// ordinary error, exit 1. With standard output failing too, a burn stays
// exit 3 through both settles (finish's, then run's): the outcome's
// error used to be rebuilt from its text, which lost the burn's mark and
// made the lost output exit 1, "nothing written". The message says what
// is true: burned and verified, the outcome not recorded, exit 3.
func TestJournalFailureAfterBurn(t *testing.T) {
	for _, c := range []struct {
		burned, outputLost bool
	}{{true, false}, {false, false}, {true, true}, {false, true}} {
		path := filepath.Join(t.TempDir(), "j.jsonl")
		a, _, err := journal.Begin(context.Background(), path, journal.Record{Host: "h"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var cmdErr error
		if c.burned {
			if err := a.Intend(context.Background()); err != nil {
				t.Fatal(err)
			}
			cmdErr = &exit{code: exitOK, device: true}
		}
		// The journal's last line turns to garbage under it: the outcome
		// refuses to chain onto it.
		if err := os.WriteFile(path, []byte("garbage\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		e := env{}
		if c.outputLost {
			out := output.New(&full{})
			out.Write([]byte("the report"))
			e.stdout, e.flush = out, out.Flush
		}
		st := &station{a: a}
		err = settle(e, st.finish(context.Background(), e, cmdErr)) // as cmdApply's defer, then run
		want := exitError
		if c.burned {
			want = exitPartial
		}
		if got := exitCode(err); got != want {
			t.Errorf("%+v: exit %d (%v), want %d", c, got, err, want)
		}
		if c.outputLost && !strings.Contains(err.Error(), "writing standard output") {
			t.Errorf("%+v: the lost output is not said: %v", c, err)
		}
		if c.burned {
			var ex *exit
			msg := err.Error()
			if !errors.As(err, &ex) || !strings.Contains(ex.hint, "lists the attempt (seq 1) as interrupted") && !strings.Contains(ex.hint, "the intent (seq 1) went to the file") ||
				!strings.Contains(msg, "the fuses were burned and verified, but the outcome record (of the intent seq 1) was not written: journal "+path+": ") ||
				!strings.Contains(msg, "; exit 3") || strings.Contains(msg, "exit 0") || strings.Contains(msg, "<nil>") {
				t.Errorf("%+v: %v, hint %q", c, err, ex.hint)
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
