package journal

import (
	"context"
	"encoding/json"
	"fmt"
)

// Appended is a record as it stands in a journal: its line (without the
// newline), the record, and the chain it belongs to, named by the digest
// of the journal's first line. The chain, not the host, is what a copy
// kept elsewhere (the ledger) follows: several stations may share one
// journal file, and one station may start a new file, whose seq starts
// again at 1.
type Appended struct {
	Chain  string
	Line   []byte
	Record Record
}

// LineDigest is the digest of the record's line: what the next record's
// prev holds.
func (a Appended) LineDigest() string { return digest(a.Line) }

// BeginWith is Begin that also hands onAppend every record this attempt
// appends (the interrupted ones Begin records, the intent, the outcome),
// right after its line is written and fsynced: the journal file is the
// station's local truth, and onAppend may copy it elsewhere. onAppend
// cannot fail the append; the caller keeps its own errors.
func BeginWith(ctx context.Context, path string, rec Record, notify func(string), onAppend func(Appended)) (*Attempt, []Unfinished, error) {
	return begin(ctx, path, rec, notify, onAppend)
}

// appended tells onAppend of the record r just written as line, seq.
func (j *File) appended(r *Record, line []byte) error {
	if j.onAppend == nil {
		return nil
	}
	if r.Seq == 1 {
		j.chain = digest(line)
	}
	if j.chain == "" {
		first, err := lineAt(j.f, 0)
		if err != nil {
			return fmt.Errorf("journal %s: its first record cannot be read (%v), so record seq %d is not handed on", j.path, err, r.Seq)
		}
		j.chain = digest(first)
	}
	// The record as it reads back from the line (JSON turns invalid
	// UTF-8 into U+FFFD): what a copy holds must be what the file says.
	var back Record
	if err := json.Unmarshal(line, &back); err != nil {
		return fmt.Errorf("journal %s: record seq %d does not read back (%v), so it is not handed on", j.path, r.Seq, err)
	}
	j.onAppend(Appended{Chain: j.chain, Line: append([]byte(nil), line...), Record: back})
	return nil
}
