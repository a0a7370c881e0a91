// Package output is otpprov's standard output: buffered, and never lost
// in silence. The first write or flush that fails is kept: every later
// write fails with it, nothing more reaches the file (a script cut in the
// middle of a value must not go on as if whole), and Flush reports it
// when the command ends, so that a plan, a script or a dump that did not
// reach its reader is never an exit 0.
//
// A reader that went away (EPIPE: otpprov ignores SIGPIPE, so that a
// closed pipe cannot kill it between a burn and its read-back) is a
// failed write like any other: what it did not read is lost all the same.
package output

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"syscall"
)

// Error is standard output failing: the output is incomplete.
type Error struct{ Err error }

func (e *Error) Error() string {
	cause := e.Err.Error()
	switch {
	case errors.Is(e.Err, syscall.EPIPE):
		cause = "its reader went away (broken pipe)"
	case errors.Is(e.Err, io.ErrShortWrite):
		cause = "a write was cut short"
	}
	return "writing standard output: " + cause + ": the output is incomplete"
}

func (e *Error) Unwrap() error { return e.Err }

// Stdout buffers what is written to it: a report of hundreds of lines is
// a few write calls, not one per line.
type Stdout struct {
	buf *bufio.Writer
	err *Error
}

// New buffers w.
func New(w io.Writer) *Stdout {
	return &Stdout{buf: bufio.NewWriterSize(w, 32<<10)}
}

// Write buffers p. After a failure it writes nothing and returns the
// failure.
func (s *Stdout) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.buf.Write(p)
	if err != nil {
		s.fail(err)
		return n, s.err
	}
	return n, nil
}

// Flush sends what is buffered. It returns the first failure of any
// write or flush so far, as an *Error, or nil when every byte went out.
func (s *Stdout) Flush() error {
	if s.err == nil {
		if err := s.buf.Flush(); err != nil {
			s.fail(err)
		}
	}
	if s.err == nil {
		return nil
	}
	return s.err
}

// fail keeps the first failure, without the *PathError's "write
// /dev/stdout": the message names standard output itself.
func (s *Stdout) fail(err error) {
	if s.err != nil {
		return
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	s.err = &Error{Err: err}
}

// FlushFirstReader returns r, which flushes s before each read: a
// prompt's question is on the screen before the answer is read.
func (s *Stdout) FlushFirstReader(r io.Reader) io.Reader { return beforeRead{r, s} }

// FlushFirstWriter returns w, which flushes s before each write: what goes
// to standard error comes after what went to standard output before it.
// A failed flush is not w's error: Flush reports it.
func (s *Stdout) FlushFirstWriter(w io.Writer) io.Writer { return beforeWrite{w, s} }

type beforeRead struct {
	r io.Reader
	s *Stdout
}

func (b beforeRead) Read(p []byte) (int, error) {
	_ = b.s.Flush()
	return b.r.Read(p)
}

type beforeWrite struct {
	w io.Writer
	s *Stdout
}

func (b beforeWrite) Write(p []byte) (int, error) {
	_ = b.s.Flush()
	return b.w.Write(p)
}
