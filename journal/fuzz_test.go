package journal

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzVerify: any file given to 'journal verify' is checked without a
// panic, and a journal that verifies counts as many records as lines.
// Each line that reads as a record is then chained again, in memory, as
// the journal's writer would write it, with host set to the fuzzer's
// string (which JSON could not carry: it may be invalid UTF-8, as a file
// name may be): that journal must verify. The digests, the open lists and
// the outcomes' intents are recomputed here, not taken from the input, so
// that the fuzzer's edits of a record's content reach the chain checks,
// and its inputs hold no digests that no byte of can be cut (Go's
// minimizer spent its full minute on each such input).
func FuzzVerify(f *testing.F) {
	// One attempt that burned (intent and outcome), an interrupted one,
	// and a version 1 record: the fuzzer repeats lines itself, and every
	// byte of a sealed record counts, so the minimizer tries O(n²) cuts.
	var j []byte
	var last *Record
	add := func(r Record, version int) {
		t := &tail{size: int64(len(j)), last: last, lastLine: lastOf(j)}
		r.Seq = 1
		if last != nil {
			r.Seq = last.Seq + 1
		}
		if version >= 2 {
			r.Open = nextOpen(last.carried(), &r, t.size, 100)
		}
		line, err := seal(&r, t.lastLine, r.Seq, version)
		if err != nil {
			f.Fatal(err)
		}
		j = append(append(j, line...), '\n')
		last = &r
	}
	end := time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC)
	zero, three := 0, 3
	v1 := record(0)
	v1.End, v1.ExitCode, v1.Outcome = &end, &zero, "applied"
	add(v1, 1)
	intent := record(1)
	intent.Kind, intent.Process = KindIntent, &Process{PID: 7, Start: 1, Boot: "b"}
	add(intent, 2)
	outcome := record(1)
	outcome.Kind, outcome.IntentSeq, outcome.End, outcome.Outcome, outcome.ExitCode = KindOutcome, 2, &end, "partial", &three
	add(outcome, 2)
	f.Add(j, "station-1")
	f.Add(j, "caf\xe9") // Latin-1
	interrupted := record(2)
	interrupted.Kind, interrupted.Process = KindIntent, &Process{PID: 8, Start: 1, Boot: "b"}
	add(interrupted, 2)
	marked := record(3)
	marked.Kind, marked.IntentSeq, marked.End, marked.Outcome = KindOutcome, 4, &end, OutcomeInterrupted
	add(marked, 2)
	f.Add(j, "")
	f.Add([]byte("{}\n"), "")
	f.Add([]byte(""), "")
	f.Fuzz(func(t *testing.T, b []byte, host string) {
		rep, err := Verify(bytes.NewReader(b))
		if err == nil {
			if rep.Records != bytes.Count(b, []byte("\n")) {
				t.Fatalf("verified %d records in %q", rep.Records, b)
			}
			// Verify passes only what the writer writes: each line is its
			// own record sealed after the line before it.
			var prev []byte
			for i, l := range bytes.SplitAfter(b, []byte("\n")) {
				l = trimEOL(l)
				if len(l) == 0 {
					continue // after the last newline
				}
				var r Record
				if err := json.Unmarshal(l, &r); err != nil {
					t.Fatalf("line %d verified, but: %v", i+1, err)
				}
				if again, err := seal(&r, prev, i+1, r.FormatVersion); err != nil || !bytes.Equal(again, l) {
					t.Fatalf("line %d verified, but the writer writes its record otherwise (%v):\n%s\n%s", i+1, err, l, again)
				}
				prev = l
			}
		}

		// Chain every line that reads as a record, as the writer would:
		// each kept in its kind, an outcome naming the intent it named if
		// that is still open here.
		var chained []byte
		t0 := &tail{}
		newSeq := map[int]int{} // the input's seq of an open intent -> its seq here
		for _, l := range bytes.Split(b, []byte("\n")) {
			var r Record
			if json.Unmarshal(l, &r) != nil {
				continue
			}
			r.Host = host
			wellFormed(&r, newSeq)
			oldSeq := r.Seq
			t0.size = int64(len(chained))
			r.Seq = 1
			if t0.last != nil {
				r.Seq = t0.last.Seq + 1
			}
			r.Open = nextOpen(t0.last.carried(), &r, t0.size, 100)
			line, err := seal(&r, t0.lastLine, r.Seq, FormatVersion)
			if err != nil {
				continue // a time outside years 0..9999 has no JSON form
			}
			if r.Kind == KindIntent {
				newSeq[oldSeq] = r.Seq
			}
			chained = append(append(chained, line...), '\n')
			t0.last, t0.lastLine = &r, line
		}
		records := bytes.Count(chained, []byte("\n"))
		if rep, err := Verify(bytes.NewReader(chained)); err != nil || rep.Records != records {
			t.Fatalf("a journal as the writer writes it: %d of %d records verify: %v\n%s", rep.Records, records, err, chained)
		}
	})
}

// wellFormed makes a decoded record one the writer could write: an
// intent or an outcome, with that kind's fields only; an outcome names an
// intent only if it is open (newSeq maps it), and at most once.
func wellFormed(r *Record, newSeq map[int]int) {
	if r.Kind == KindIntent {
		r.IntentSeq, r.End, r.Outcome, r.ExitCode, r.Error = 0, nil, "", nil, ""
		return
	}
	r.Kind, r.Process = KindOutcome, nil
	if r.End == nil {
		r.End = &r.Start
	}
	if r.Outcome == "" {
		r.Outcome = "error"
	}
	seq, ok := newSeq[r.IntentSeq]
	delete(newSeq, r.IntentSeq)
	r.IntentSeq = 0
	if ok {
		r.IntentSeq = seq
	} else if r.Outcome == OutcomeInterrupted {
		r.Outcome = "error"
	}
	switch {
	case r.Outcome == OutcomeInterrupted:
		r.ExitCode = nil
	case r.ExitCode == nil:
		one := 1
		r.ExitCode = &one
	}
}

// lastOf is the last line of a journal, without its newline; nil if none.
func lastOf(j []byte) []byte {
	j = bytes.TrimSuffix(j, []byte("\n"))
	if len(j) == 0 {
		return nil
	}
	return j[bytes.LastIndexByte(j, '\n')+1:]
}
