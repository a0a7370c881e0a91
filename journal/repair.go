package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Repaired says what Repair did.
type Repaired struct {
	Records   int    // complete records, all verified
	Torn      int64  // bytes moved aside; 0 if a newline was all that was missing
	Side      string // the file they were moved to
	NUL       bool   // they were all NUL: the filesystem lost the end of the file
	Completed bool   // a whole record had lost only its newline, which was added
	// Unreserved: the room for the outcomes of the attempts still in
	// progress could not be reserved again after the cut (nil if it was).
	Unreserved error
}

// ErrNothingToRepair: the journal ends with a complete record.
var ErrNothingToRepair = errors.New("nothing to repair: the journal ends with a complete record")

// Repair mends a torn tail, and only that: the bytes after the last
// complete record move to a side file (never deleted), the journal is
// cut back to that record and fsynced. A whole record that lost only its
// newline gets it back instead. Anything else (a complete line that does
// not verify, bytes that are no record's beginning) is refused: that is
// damage for a person to look at, not a write cut short.
func Repair(ctx context.Context, path string, notify func(string)) (*Repaired, error) {
	j, err := openFile(path, os.O_RDWR, notify)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	if err := j.lock(ctx, false); err != nil {
		return nil, err
	}
	defer unix.Flock(int(j.f.Fd()), unix.LOCK_UN)
	st, err := j.f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	s, err := scanFile(j.f, path, size)
	if err != nil {
		return nil, fmt.Errorf("%w; that is not a torn tail, and journal repair mends only that", err)
	}
	rep, err := Verify(io.NewSectionReader(j.f, 0, s.torn))
	var je *Error
	if errors.As(err, &je) {
		je.Path = path
	}
	if err != nil {
		return nil, fmt.Errorf("%w; that is not a torn tail, and journal repair mends only that", err)
	}
	n := size - s.torn
	if n == 0 {
		return &Repaired{Records: rep.Records}, ErrNothingToRepair
	}
	if rep.Records == 0 && tornKind(s.buf[s.torn-s.base:]) != "complete" {
		// Nothing before the bytes to move: what would be left is an
		// empty file, and a file of NULs is no torn journal but none.
		_, err := s.check(j.f, path, size)
		return nil, fmt.Errorf("%w; the file holds no complete record, and journal repair keeps records: it was left as it is", err)
	}
	// The same judgement as an apply's: the bytes after the last record
	// must be NULs or the beginning of a record that chains.
	if _, err := s.check(j.f, path, size); err != nil {
		var te *Error
		if !errors.As(err, &te) || !te.Torn {
			return nil, fmt.Errorf("%w; that is not a torn tail, and journal repair mends only that", err)
		}
	}
	torn := s.buf[s.torn-s.base:]
	kind := tornKind(torn)
	cut := s.torn // where the journal is cut back to
	if kind == "complete" {
		// A whole record is never moved aside: only the NULs after it,
		// if any, then the newline it lost.
		cut += int64(len(bytes.TrimRight(torn, "\x00")))
	}
	side := ""
	if cut < size {
		if side, err = keepAside(path, s.buf[cut-s.base:]); err != nil {
			return nil, err
		}
		if err := j.f.Truncate(cut); err != nil {
			return nil, fmt.Errorf("journal %s: the torn bytes are kept in %s, but the journal could not be cut back: %w", path, side, err)
		}
	}
	out := &Repaired{Records: rep.Records, Torn: size - cut, Side: side, NUL: kind == "nul"}
	if kind == "complete" {
		if _, err := j.f.WriteAt([]byte("\n"), cut); err != nil {
			return nil, err
		}
		out.Records++
		out.Completed = true
	}
	if err := j.f.Sync(); err != nil {
		return nil, err
	}
	if side != "" {
		// The cut freed the blocks reserved beyond the end, those of the
		// attempts still in progress too: reserve them again.
		st, err := j.f.Stat()
		if err == nil {
			var t *tail
			if t, err = readTail(j.f, path); err == nil {
				err = reserve(j.f, st.Size(), needs(t.last.carried()))
			}
		}
		out.Unreserved = err
	}
	return out, nil
}

// keepAside writes b to a new file beside path (path.torn, or
// path.torn.N if that is taken), durably, before the journal loses them.
func keepAside(path string, b []byte) (string, error) {
	for i := 0; i < 1000; i++ {
		side := path + ".torn"
		if i > 0 {
			side = fmt.Sprintf("%s.torn.%d", path, i)
		}
		f, err := os.OpenFile(side, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(b)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = syncDir(filepath.Dir(side))
		}
		if err != nil {
			os.Remove(side)
			return "", fmt.Errorf("keeping the torn bytes in %s: %w; the journal was not changed", side, err)
		}
		return side, nil
	}
	return "", fmt.Errorf("%s.torn to %s.torn.999 all exist: move them away first", path, path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
