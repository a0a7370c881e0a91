package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/otpprov/otpprov/internal/shquote"
)

// An apply checks only the end of the journal: the last record must be
// one otpprov wrote and chain to the line before it, and nothing may
// follow it. That is what the next record hangs on, and it costs the same
// for a journal of ten records as of a million; the whole chain is
// 'journal verify''s job.

// tail is the end of a journal that can be appended to.
type tail struct {
	size     int64   // the file's size
	last     *Record // the last record; nil for an empty journal
	lastLine []byte  // its line, without the newline
}

// Error is a problem found in a journal, at a line: what keeps an apply
// from appending to it, or what journal verify found. Torn tails can be
// repaired; anything else needs a person.
type Error struct {
	Path       string
	Line       int // 1-based, the line at fault
	Torn       bool
	NotJournal bool // no line of the file is a journal record
	// NoRecord: the file holds the start of a record and no whole one;
	// there is nothing to repair it to.
	NoRecord bool
	Newer    bool
	Reason   string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("journal %s:%d: %s", e.Path, e.Line, e.Reason)
}

// Hint says what to do about it.
func (e *Error) Hint() string {
	path := e.Path
	if path == "" {
		path = "FILE"
	}
	switch {
	case e.NoRecord:
		return fmt.Sprintf("the file holds no complete record, so there is nothing to repair it to: move it aside for the audit (mv %s %s.torn) and run again, which starts a new journal", shquote.Arg(path), shquote.Arg(path))
	case e.Torn:
		return fmt.Sprintf("otpprov journal repair %s moves the torn bytes to a side file and keeps every complete record; then run again", shquote.Arg(path))
	case e.NotJournal:
		return "--journal names the station's journal (JSON lines otpprov writes) or a new file; this file was left as it is"
	case e.Newer:
		return "append with the newer otpprov, or start a new journal file"
	}
	return fmt.Sprintf("otpprov journal verify %s shows the damage; keep the file as it is for the audit and start a new journal", shquote.Arg(path))
}

// recordStart is how every record's line begins: bytes after the last
// newline that begin so are a record whose write was cut short.
var recordStart = []byte(`{"format":"otpprov-journal","formatVersion":`)

// tornKind says what bytes after a journal's last newline are: "nul"
// (the filesystem lost the end of the file: power loss), "complete" (a
// whole record whose newline was lost, perhaps with NUL bytes after it),
// "record" (the start of one), or "" (something else: not a torn write).
func tornKind(b []byte) string {
	t := bytes.TrimRight(b, "\x00")
	switch {
	case len(t) == 0:
		return "nul"
	case !bytes.HasPrefix(t, recordStart) && !bytes.HasPrefix(recordStart, t):
		return ""
	}
	if _, err := parse(trimEOL(t)); err == nil {
		return "complete"
	}
	return "record"
}

// onlyNUL says what a file of n NUL bytes and no record is: not a
// journal (a preallocated or zeroed file), whatever a crash left.
func onlyNUL(n int) string {
	return fmt.Sprintf("not an otpprov journal: the file holds only %d NUL bytes and no record (a zeroed or preallocated file)", n)
}

func tornReason(kind string, n int) string {
	switch kind {
	case "nul":
		return fmt.Sprintf("the file ends in %d NUL bytes where records should be: the filesystem lost its end (power loss)", n)
	case "complete":
		return "the last record has no newline: its write was cut short"
	}
	return fmt.Sprintf("the last line is torn: %d bytes of a record with no newline, a write cut short (power loss, a full disk, a killed copy)", n)
}

// maxTail bounds how far back readTail looks: two records and what may
// follow them.
const maxTail = 3*maxLine + 1<<20

// readTail finds and checks the end of the journal: no torn bytes after
// the last newline, a last record as otpprov writes it, chained to the
// line before it.
func readTail(f *os.File, path string) (*tail, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	size := st.Size()
	if size == 0 {
		return &tail{}, nil
	}
	s, err := scanFile(f, path, size)
	if err != nil {
		return nil, err
	}
	return s.check(f, path, size)
}

// scanFile reads the end of a file of size bytes, back as far as it takes
// to find its last two lines.
func scanFile(f *os.File, path string, size int64) (*scanned, error) {
	for win := min(size, 16<<10); ; win = min(size, 4*win) {
		buf := make([]byte, win)
		if _, err := f.ReadAt(buf, size-win); err != nil && err != io.EOF {
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
		if s, ok := scanTail(buf, size-win); ok {
			return &s, nil
		}
		if win >= maxTail {
			return nil, &Error{Path: path, Line: countLines(f, size) + 1, NotJournal: !firstIsRecord(f),
				Reason: "the last lines are longer than any record: not a journal as otpprov writes it"}
		}
	}
}

// span is a line of the file: [start, end), without its newline.
type span struct{ start, end int64 }

// scanned is the end of a file: where torn bytes start (the size if there
// are none), the last complete line and the one before it.
type scanned struct {
	torn       int64
	last, prev *span
	buf        []byte
	base       int64
}

func (s *scanned) bytes(sp *span) []byte { return s.buf[sp.start-s.base : sp.end-s.base] }

// scanTail splits the last bytes of a file, buf, read from offset base.
// It says !ok when buf does not reach back far enough to tell.
func scanTail(buf []byte, base int64) (s scanned, ok bool) {
	s.buf, s.base = buf, base
	atStart := base == 0
	e := len(buf)
	for e > 0 && buf[e-1] == 0 {
		e--
	}
	nl := bytes.LastIndexByte(buf[:e], '\n')
	if nl < 0 {
		s.torn = base
		return s, atStart
	}
	s.torn = base + int64(nl) + 1
	p := bytes.LastIndexByte(buf[:nl], '\n')
	if p < 0 && !atStart {
		return s, false
	}
	s.last = &span{base + int64(p) + 1, base + int64(nl)}
	if p < 0 {
		return s, true
	}
	q := bytes.LastIndexByte(buf[:p], '\n')
	if q < 0 && !atStart {
		return s, false
	}
	s.prev = &span{base + int64(q) + 1, base + int64(p)}
	return s, true
}

// check judges the scanned end of a journal of size bytes.
func (s *scanned) check(f *os.File, path string, size int64) (*tail, error) {
	fail := func(at int64, reason string) *Error {
		return &Error{Path: path, Line: countLines(f, at) + 1, Reason: reason}
	}
	var last *Record
	if s.last != nil {
		r, err := parse(trimEOL(s.bytes(s.last)))
		if err != nil {
			e := fail(s.last.start, err.Error())
			e.Newer = errors.Is(err, errNewer)
			if e.NotJournal = !e.Newer && !firstIsRecord(f); e.NotJournal {
				e.Reason = "not an otpprov journal: " + strings.TrimPrefix(e.Reason, "not a journal record: ")
			}
			return nil, e
		}
		var prev []byte
		var before *Record
		if s.prev != nil {
			prev = trimEOL(s.bytes(s.prev))
			if before, err = parse(prev); err != nil {
				// The last record chains to it only if it was forged
				// or the record before was edited: either way, damage.
				return nil, fail(s.prev.start, err.Error())
			}
		}
		if err := chained(r, prev, before); err != nil {
			return nil, fail(s.last.start, err.Error())
		}
		last = r
	}
	if n := size - s.torn; n > 0 {
		torn := s.buf[s.torn-s.base:]
		kind := tornKind(torn)
		if kind == "complete" {
			// A whole record without its newline must also chain, or it is
			// not a write cut short but something put there.
			r, _ := parse(trimEOL(bytes.TrimRight(torn, "\x00")))
			var prev []byte
			if last != nil {
				prev = trimEOL(s.bytes(s.last))
			}
			if chained(r, prev, last) != nil {
				kind = ""
			}
		}
		if kind == "" {
			e := fail(s.torn, "the bytes after the last record are not a journal record (data appended by something else?)")
			e.NotJournal = last == nil
			if e.NotJournal {
				e.Reason = "not an otpprov journal: the file does not start with a journal record"
			}
			return nil, e
		}
		if last == nil && kind == "nul" {
			e := fail(s.torn, onlyNUL(int(n)))
			e.NotJournal = true
			return nil, e
		}
		e := fail(s.torn, tornReason(kind, int(n)))
		e.Torn = true
		e.NoRecord = last == nil && kind != "complete"
		return nil, e
	}
	t := &tail{size: size, last: last}
	if last != nil {
		t.lastLine = trimEOL(s.bytes(s.last))
	}
	return t, nil
}

// firstIsRecord tells a damaged journal from a file that never was one
// (a README, another program's JSON): only the latter's first line is not
// a record. This is the error path, so it may read the file's head.
func firstIsRecord(f *os.File) bool {
	buf := make([]byte, len(recordStart))
	n, _ := f.ReadAt(buf, 0)
	return bytes.Equal(buf[:n], recordStart)
}

// countLines is the number of newlines before offset at: the line number
// of an error is worth reading the file for, on the error path only.
func countLines(f *os.File, at int64) int {
	n := 0
	buf := make([]byte, 256<<10)
	for off := int64(0); off < at; {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), at-off)], off)
		n += bytes.Count(buf[:k], []byte("\n"))
		off += int64(k)
		if err != nil || k == 0 {
			break
		}
	}
	return n
}
