package output

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Full is a disk with room for Room bytes: the write that goes past it
// writes what fits and fails with ENOSPC, and so does every later one.
type full struct {
	room  int
	got   bytes.Buffer
	calls int // write calls after the first failure
	err   error
}

func (f *full) Write(p []byte) (int, error) {
	if f.err != nil {
		f.calls++
		return 0, f.err
	}
	if f.got.Len()+len(p) <= f.room {
		return f.got.Write(p)
	}
	n := f.room - f.got.Len()
	f.got.Write(p[:n])
	f.err = &os.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
	return n, f.err
}

// For every room k, through small writes and writes larger than the
// buffer: Flush fails exactly when something did not fit, the file holds
// a prefix of what was written, and once a write failed, none reaches
// the file again.
func TestStickyFailure(t *testing.T) {
	small := strings.Repeat("fuse prog -y 14 3 0x00001234\n", 40)
	big := strings.Repeat("x", 70<<10)
	for name, chunks := range map[string][]string{
		"lines": strings.SplitAfter(small, "\n"),
		"big":   {"head\n", big, "tail\n"},
	} {
		whole := strings.Join(chunks, "")
		for _, k := range rooms(len(whole)) {
			f := &full{room: k}
			s := New(f)
			for _, c := range chunks {
				s.Write([]byte(c))
			}
			err := s.Flush()
			got := f.got.String()
			if !strings.HasPrefix(whole, got) {
				t.Fatalf("%s, room %d: the file holds something else than a prefix", name, k)
			}
			switch {
			case k >= len(whole):
				if err != nil || got != whole {
					t.Fatalf("%s, room %d: %v, %d of %d bytes", name, k, err, len(got), len(whole))
				}
			case err == nil:
				t.Fatalf("%s, room %d: %d of %d bytes written and no error", name, k, len(got), len(whole))
			case !errors.Is(err, syscall.ENOSPC) || err.Error() != "writing standard output: no space left on device: the output is incomplete":
				t.Fatalf("%s, room %d: %v", name, k, err)
			case f.calls > 0:
				t.Fatalf("%s, room %d: %d writes after the failure", name, k, f.calls)
			}
			// Sticky: later writes and flushes fail the same, write nothing.
			if err != nil {
				if n, werr := s.Write([]byte("more")); n != 0 || werr != err {
					t.Fatalf("%s, room %d: a write after the failure: %d, %v", name, k, n, werr)
				}
				if s.Flush() != err || f.calls > 0 {
					t.Fatalf("%s, room %d: a flush after the failure reached the file", name, k)
				}
			}
		}
	}
}

// rooms: every k up to 2 KiB, then around each buffer boundary and the end.
func rooms(n int) []int {
	var ks []int
	for k := 0; k <= n+1; k++ {
		if k <= 2048 || k%(32<<10) < 3 || (32<<10)-k%(32<<10) < 3 || n-k < 3 || k%4093 == 0 {
			ks = append(ks, k)
		}
	}
	return ks
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

type pipeGone struct{}

func (pipeGone) Write(p []byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "|1", Err: syscall.EPIPE}
}

func TestCauses(t *testing.T) {
	for _, c := range []struct {
		w    io.Writer
		want string
	}{
		{shortWriter{}, "writing standard output: a write was cut short: the output is incomplete"},
		{pipeGone{}, "writing standard output: its reader went away (broken pipe): the output is incomplete"},
	} {
		s := New(c.w)
		s.Write([]byte("plan\n"))
		if err := s.Flush(); err == nil || err.Error() != c.want {
			t.Errorf("%T: %v, want %q", c.w, err, c.want)
		}
	}
}

// The real thing: a file that is always full.
func TestDevFull(t *testing.T) {
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	defer f.Close()
	s := New(f)
	s.Write([]byte("0x00001234\n"))
	err = s.Flush()
	var oe *Error
	if !errors.As(err, &oe) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("%v, want ENOSPC as *Error", err)
	}
}

// Standard error and standard input see standard output flushed first.
func TestBefore(t *testing.T) {
	var log bytes.Buffer
	s := New(&log)
	stderr := s.FlushFirstWriter(&log)
	s.Write([]byte("plan\n"))
	stderr.Write([]byte("question? "))
	stdin := s.FlushFirstReader(strings.NewReader("yes\n"))
	s.Write([]byte("more\n"))
	answer, _ := io.ReadAll(stdin)
	s.Flush()
	if got := log.String(); got != "plan\nquestion? more\n" || string(answer) != "yes\n" {
		t.Errorf("log %q, answer %q", got, answer)
	}
}
