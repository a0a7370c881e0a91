// Package journal keeps the station's audit trail: one JSON line per apply
// attempt, appended and fsynced before apply returns. Each line carries the
// digest of the line before it and of itself, so a deleted or edited line
// breaks the chain and Verify finds it. The digests catch accidents and
// naive edits; they are not signatures: whoever can rewrite the file can
// recompute them.
package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/otpprov/otpprov/internal/inputfile"
)

// FormatName and FormatVersion identify a journal record.
const (
	FormatName    = "otpprov-journal"
	FormatVersion = 1
)

// maxLine bounds one record: a plan of every word of an i.MX8MP is well
// under this.
const maxLine = 4 << 20

// Record is one apply attempt, successful or not.
type Record struct {
	Format        string     `json:"format"`
	FormatVersion int        `json:"formatVersion"`
	Seq           int        `json:"seq"`  // 1 for the first record of the file
	Prev          string     `json:"prev"` // digest of the previous record, "" for the first
	Start         time.Time  `json:"start"`
	End           time.Time  `json:"end"`
	Host          string     `json:"host"`
	ToolVersion   string     `json:"toolVersion"`
	Command       string     `json:"command"`
	Device        string     `json:"device"`
	SoC           string     `json:"soc"`
	UniqueID      string     `json:"uniqueId"`
	Manifest      Manifest   `json:"manifest"`
	Variables     []Variable `json:"variables"`
	Words         []Word     `json:"words"`
	Outcome       string     `json:"outcome"` // applied, nothing-to-do, nothing-written, partial, refused, error
	ExitCode      int        `json:"exitCode"`
	Error         string     `json:"error,omitempty"`
	Digest        string     `json:"digest"` // of this record with Digest empty
}

// Manifest names what was applied.
type Manifest struct {
	Name   string   `json:"name"`
	Files  []string `json:"files"`
	Digest string   `json:"digest"`
}

// Variable is a per-unit value; a secret one is a digest.
type Variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
	From  string `json:"from"`
}

// Word is one burn: before, delta, what it read after, and its status.
// Values of words holding secret bits are "secret".
type Word struct {
	Bank        int    `json:"bank"`
	Word        int    `json:"word"`
	Offset      int    `json:"offset"`
	WriteOffset int    `json:"writeOffset"`
	Before      string `json:"before"`
	Delta       string `json:"delta"`
	After       string `json:"after,omitempty"` // as read back; absent if unreadable
	Status      string `json:"status"`
}

// File is an open journal, locked for this process. Opening it before the
// apply means a journal that cannot be written stops the apply before any
// fuse burns.
type File struct {
	f    *os.File
	path string
}

// Open opens (creating) and locks the journal. A second station process
// appending to the same file waits for the first.
func Open(path string) (*File, error) {
	// Look before opening: a FIFO (the open would not block, but every
	// record would be lost or fail after the burn), /dev/null (which would
	// swallow them all) or a directory is no journal, and must stop the
	// apply before it starts. O_NONBLOCK changes nothing for a regular
	// file; it keeps a FIFO swapped in after the look from blocking.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("journal %s: not a regular file (%s): a journal must be a file that keeps its records", path, inputfile.What(st.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("journal %s: not a regular file (it changed while it was opened)", path)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s: lock: %w", path, err)
	}
	return &File{f: f, path: path}, nil
}

// Close releases the journal.
func (j *File) Close() error { return j.f.Close() }

// Append chains r to the last record, writes it as one line and fsyncs.
func (j *File) Append(r *Record) error {
	last, seq, err := lastLine(j.f)
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	line, err := seal(r, last, seq+1)
	if err != nil {
		return err
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	return nil
}

// seal makes r the record seq of the journal, after the line last (nil
// for the first), and returns its line. The digest is taken over the
// record as Verify will read it back: JSON writes invalid UTF-8 (a file
// name in Latin-1, say) as U+FFFD, and a digest of the bytes before that
// would never match the record read back.
func seal(r *Record, last []byte, seq int) ([]byte, error) {
	r.Format, r.FormatVersion = FormatName, FormatVersion
	r.Seq, r.Prev, r.Digest = seq, "", ""
	if last != nil {
		r.Prev = digest(last)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var back Record
	if err := json.Unmarshal(body, &back); err != nil {
		return nil, err
	}
	if body, err = json.Marshal(&back); err != nil {
		return nil, err
	}
	back.Digest = digest(body)
	r.Digest = back.Digest
	return json.Marshal(&back)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// lastLine returns the journal's last record line and its seq.
func lastLine(f *os.File) ([]byte, int, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	var last []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			last = append(last[:0], sc.Bytes()...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, err
	}
	if last == nil {
		return nil, 0, nil
	}
	var r Record
	if err := json.Unmarshal(last, &r); err != nil || r.Format != FormatName {
		return nil, 0, errors.New("the last line is not a journal record: run 'otpprov journal verify' on it")
	}
	return last, r.Seq, nil
}

// Verify checks every record and the chain between them; it returns the
// number of records. The first problem found is returned with its line.
func Verify(rd io.Reader) (int, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(nil, maxLine) // grows from 4 KiB as lines need
	var prev []byte
	n := 0
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			return n, fmt.Errorf("line %d: empty line", line)
		}
		var r Record
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return n, fmt.Errorf("line %d: not a journal record: %v", line, err)
		}
		if r.Format != FormatName || r.FormatVersion != FormatVersion {
			return n, fmt.Errorf("line %d: format %q version %d, want %q version %d", line, r.Format, r.FormatVersion, FormatName, FormatVersion)
		}
		want := ""
		if prev != nil {
			want = digest(prev)
		}
		if r.Prev != want {
			return n, fmt.Errorf("line %d: the chain is broken: a record before it was deleted or edited", line)
		}
		if r.Seq != n+1 {
			return n, fmt.Errorf("line %d: seq %d, want %d: a record was deleted", line, r.Seq, n+1)
		}
		self := r.Digest
		r.Digest = ""
		body, _ := json.Marshal(&r)
		if digest(body) != self {
			return n, fmt.Errorf("line %d: the record was edited after it was written", line)
		}
		// The digest is of the record as decoded; the line must also be
		// exactly as Append writes it, or bytes no digest covers (data
		// after the record, a key repeated with another value, spaces)
		// would pass: a later line's prev covers them, the last line's
		// nothing does.
		r.Digest = self
		if written, _ := json.Marshal(&r); !bytes.Equal(written, b) {
			return n, fmt.Errorf("line %d: the record is not as otpprov writes it (reformatted, or data added to the line)", line)
		}
		prev = append(prev[:0], b...)
		n++
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	return n, nil
}
