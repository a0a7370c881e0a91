package journal

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzVerify: any file given to 'journal verify' is checked without a
// panic, and a journal that verifies counts as many records as lines.
// Each line that reads as a record is then chained again, in memory, as
// Append would write it, with host set to the fuzzer's string (which JSON
// could not carry: it may be invalid UTF-8, as a file name may be): that
// journal must verify. The digests are recomputed here, not taken from
// the input, so that the fuzzer's edits of a record's content reach the
// chain checks, and its inputs hold no digests that no byte of can be cut
// (Go's minimizer spent its full minute on each such input).
func FuzzVerify(f *testing.F) {
	// One record: the fuzzer repeats lines itself, and every byte of a
	// sealed record counts, so the minimizer tries O(n²) cuts of it.
	good, err := seal(record(0), nil, 1)
	if err != nil {
		f.Fatal(err)
	}
	good = append(good, '\n')
	f.Add(good, "station-1")
	f.Add(good, "caf\xe9") // Latin-1
	f.Add([]byte("{}\n"), "")
	f.Add([]byte(""), "")
	f.Fuzz(func(t *testing.T, b []byte, host string) {
		n, err := Verify(bytes.NewReader(b))
		if err == nil {
			if n != bytes.Count(b, []byte("\n"))+boolInt(len(b) > 0 && b[len(b)-1] != '\n') {
				t.Fatalf("verified %d records in %q", n, b)
			}
			// Verify passes only what Append writes: each line is its
			// own record sealed after the line before it.
			var prev []byte
			for i, l := range bytes.SplitAfter(b, []byte("\n")) {
				l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
				if len(l) == 0 {
					continue // after the last newline
				}
				var r Record
				if err := json.Unmarshal(l, &r); err != nil {
					t.Fatalf("line %d verified, but: %v", i+1, err)
				}
				if again, err := seal(&r, prev, i+1); err != nil || !bytes.Equal(again, l) {
					t.Fatalf("line %d verified, but Append writes its record otherwise (%v):\n%s\n%s", i+1, err, l, again)
				}
				prev = l
			}
		}

		var chained []byte
		records := 0
		for _, l := range bytes.Split(b, []byte("\n")) {
			var r Record
			if json.Unmarshal(l, &r) != nil {
				continue
			}
			r.Host = host
			line, err := seal(&r, lastOf(chained), records+1)
			if err != nil {
				continue // a time outside years 0..9999 has no JSON form
			}
			chained = append(append(chained, line...), '\n')
			records++
		}
		if n, err := Verify(bytes.NewReader(chained)); err != nil || n != records {
			t.Fatalf("a journal as Append writes it: %d of %d records verify: %v\n%s", n, records, err, chained)
		}
	})
}

// lastOf is the last line of a journal, without its newline; nil if none.
func lastOf(j []byte) []byte {
	j = bytes.TrimSuffix(j, []byte("\n"))
	if len(j) == 0 {
		return nil
	}
	return j[bytes.LastIndexByte(j, '\n')+1:]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
