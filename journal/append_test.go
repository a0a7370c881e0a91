package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// BeginWith hands on every record the attempt appends (the interrupted
// mark Begin writes, the intent, the outcome), each with its line exactly
// as in the file and the chain named by the file's first line; Walk hands
// on the same records from the file. A second attempt on a journal it did
// not start still names the chain by the first line.
func TestOnAppendAndWalk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	var got []Appended
	run := func(i int) {
		a, _, err := BeginWith(context.Background(), path, record(i), nil, func(x Appended) { got = append(got, x) })
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		a.Words = record(i).Words
		if err := a.Intend(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := a.Finish(context.Background(), "applied", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	run(0)
	die(t, path, "station-1") // an intent without an outcome: seq 3
	run(4)                    // records seq 3 as interrupted (seq 4), then 5 and 6
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines = lines[:len(lines)-1]
	wantSeqs := []int{1, 2, 4, 5, 6} // 3 was written by the process that died
	if len(got) != len(wantSeqs) {
		t.Fatalf("handed on %d records, want %d", len(got), len(wantSeqs))
	}
	chain := digest(bytes.TrimSuffix(lines[0], []byte("\n")))
	for i, x := range got {
		seq := wantSeqs[i]
		if x.Record.Seq != seq || x.Chain != chain || !bytes.Equal(append(x.Line, '\n'), lines[seq-1]) {
			t.Errorf("record %d: seq %d chain %s line %q; want seq %d chain %s line %q", i, x.Record.Seq, x.Chain, x.Line, seq, chain, lines[seq-1])
		}
	}
	if got[2].Record.Outcome != OutcomeInterrupted || got[2].Record.IntentSeq != 3 {
		t.Errorf("the interrupted mark: %+v", got[2].Record)
	}
	var walked []Appended
	rep, err := Walk(bytes.NewReader(b), func(x Appended) error { walked = append(walked, x); return nil })
	if err != nil || rep.Records != 6 || len(walked) != 6 {
		t.Fatalf("walk: %d records, %+v, %v", len(walked), rep, err)
	}
	for i, x := range walked {
		if x.Chain != chain || !bytes.Equal(append(x.Line, '\n'), lines[i]) || x.Record.Seq != i+1 {
			t.Errorf("walked record %d: %+v", i, x)
		}
		if i > 0 && walked[i-1].LineDigest() != x.Record.Prev {
			t.Errorf("record %d: prev %s, the line before hashes to %s", i+1, x.Record.Prev, walked[i-1].LineDigest())
		}
	}
	// An error from fn ends the walk and is returned as it is.
	stop := errors.New("stop")
	n := 0
	if _, err := Walk(bytes.NewReader(b), func(Appended) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("walk stopped by fn: %v after %d", err, n)
	}
}
