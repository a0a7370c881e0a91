// Package inputfile opens the files an operator names as input: manifests
// and the bases they extend, --var-file, --fusemap overlays, saved plans,
// dumps, valueFrom files. Each must be a regular file (a symbolic link to
// one is fine), and that is checked before it is opened: opening a FIFO
// blocks until something writes to it, and reading /dev/zero or a
// directory tells the operator nothing useful.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Error is an input file that could not be opened or was refused. It
// reads "PATH: what is wrong"; Err alone, for a caller that names the
// file its own way (--var-file PATH, extends NAME).
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrNotRegular is a directory, device node, FIFO or socket named as input.
var ErrNotRegular = errors.New("not a regular file")

// Hint says what to do about an input file refused as not regular, or
// "" for any other error.
func Hint(err error) string {
	if errors.Is(err, ErrNotRegular) {
		return "name a regular file; save piped or generated input to a file first"
	}
	return ""
}

// Open opens path for reading once it is known to be a regular file.
func Open(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, &Error{Path: path, Err: reason(err)}
	}
	if !st.Mode().IsRegular() {
		return nil, &Error{Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, What(st.Mode()))}
	}
	// O_NONBLOCK changes nothing for a regular file; it is there so that
	// a FIFO swapped in between the look and the open does not block the
	// open either, and is refused by the second look.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &Error{Path: path, Err: reason(err)}
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, &Error{Path: path, Err: fmt.Errorf("%w (it changed while it was opened)", ErrNotRegular)}
	}
	return f, nil
}

// Read reads at most max+1 bytes of path: enough for a parser to say the
// file is too large without reading all of a wrong, huge file.
func Read(path string, max int) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, &Error{Path: path, Err: reason(err)}
	}
	return b, nil
}

// What names the kind of a file that is not a regular one, for messages.
func What(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}

// reason drops the operation and path from an *fs.PathError ("open x:
// permission denied"): Error names the path once, and the operation is
// always reading the file.
func reason(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
