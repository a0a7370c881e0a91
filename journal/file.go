package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otpprov/otpprov/internal/inputfile"
	"github.com/otpprov/otpprov/internal/lockholder"
)

// File is an open journal. It is locked only while a record is appended
// (and the end it hangs on re-read), never while a person is asked or a
// fuse burns: several stations may share one file.
type File struct {
	f      *os.File
	path   string
	notify func(string)
}

// ErrInterrupted: the wait for the journal's lock was ended (Ctrl-C,
// SIGTERM); nothing was appended.
var ErrInterrupted = errors.New("interrupted while waiting for the journal's lock")

// ErrNoSpace: the journal's filesystem cannot take the records of this
// attempt.
var ErrNoSpace = errors.New("no room for this attempt's records")

// openFile opens (creating) the journal. notify hears what the journal
// waits for, one line at a time.
func openFile(path string, flag int, notify func(string)) (*File, error) {
	// Look before opening: a FIFO (the open would not block, but every
	// record would be lost or fail after the burn), /dev/null (which would
	// swallow them all) or a directory is no journal, and must stop the
	// apply before it starts. O_NONBLOCK changes nothing for a regular
	// file; it keeps a FIFO swapped in after the look from blocking.
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("journal %s: not a regular file (%s): a journal must be a file that keeps its records", path, inputfile.What(st.Mode()))
	}
	f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("journal %s: not a regular file (it changed while it was opened)", path)
	}
	if notify == nil {
		notify = func(string) {}
	}
	return &File{f: f, path: path, notify: notify}, nil
}

// Close releases the journal.
func (j *File) Close() error { return j.f.Close() }

// locked runs fn with the journal locked and its end read and checked.
func (j *File) locked(ctx context.Context, fn func(t *tail) error) error {
	if err := j.lock(ctx); err != nil {
		return err
	}
	defer unix.Flock(int(j.f.Fd()), unix.LOCK_UN)
	t, err := readTail(j.f, j.path)
	if err != nil {
		return err
	}
	return fn(t)
}

// lockPoll bounds how long a waiting station sleeps between tries: a
// record's append takes milliseconds.
const lockPoll = 100 * time.Millisecond

// lock takes the journal's lock, waiting while another process holds it.
// The wait is said (which file, which holder) and ends with ctx: a
// blocked flock cannot be interrupted, so it polls.
func (j *File) lock(ctx context.Context) error {
	fd := int(j.f.Fd())
	told := false
	for delay := time.Millisecond; ; delay = min(2*delay, lockPoll) {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return fmt.Errorf("journal %s: lock: %w", j.path, err)
		}
		who := ""
		if !told && ctx.Err() == nil {
			who = holder(j.f)
			j.notify(fmt.Sprintf("waiting for the lock of journal %s, held by %s (Ctrl-C stops waiting)", j.path, who))
			told = true
		}
		select {
		case <-ctx.Done():
			if who == "" {
				who = holder(j.f)
			}
			return fmt.Errorf("journal %s: %w (held by %s)", j.path, ErrInterrupted, who)
		case <-time.After(delay):
		}
	}
}

// holder names the process holding the flock on f, as /proc/locks tells.
func holder(f *os.File) string {
	switch pid, comm := lockholder.Of(f); {
	case pid == 0:
		return "another process (/proc/locks does not say which)"
	case comm == "":
		return fmt.Sprintf("pid %d", pid)
	default:
		return fmt.Sprintf("pid %d (%s)", pid, comm)
	}
}

// write appends r after the end t, with the lock held: it chains r,
// hands on the open intents (adding r's own with need, if r is an
// intent), reserves room bytes on the disk first when room > 0, and
// writes one line and fsyncs. t becomes the new end. It returns where
// r's line starts.
func (j *File) write(t *tail, r *Record, need, room int64) (int64, error) {
	at := t.size
	seq := 1
	if t.last != nil {
		seq = t.last.Seq + 1
	}
	r.Seq = seq
	r.Open = nextOpen(t.last.carried(), r, at, need)
	line, err := seal(r, t.lastLine, seq, FormatVersion)
	if err != nil {
		return 0, fmt.Errorf("journal %s: %w", j.path, err)
	}
	if room > 0 {
		if err := reserve(j.f, at, room+int64(len(line))+1); err != nil {
			return 0, fmt.Errorf("journal %s: %w", j.path, err)
		}
	}
	if _, err := j.f.Write(append(line, '\n')); err != nil {
		// A line cut short (a full disk) would stop every later apply
		// on this journal: take it back. The lock is ours, so nobody
		// wrote after it.
		if terr := j.f.Truncate(at); terr != nil {
			return 0, fmt.Errorf("journal %s: %w; the torn line could not be removed either: %v", j.path, err, terr)
		}
		return 0, fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return 0, fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	t.size, t.last, t.lastLine = at+int64(len(line))+1, r, line
	return at, nil
}

// reserve makes sure the filesystem can take n more bytes at offset at
// of f. fallocate with KEEP_SIZE allocates them to the file without
// changing its size, so that nothing else can take them; where the
// filesystem cannot (NFS before 4.2, FUSE, FAT...), statfs at least says
// whether they are free now.
func reserve(f *os.File, at, n int64) error {
	fd := int(f.Fd())
	err := unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, at, n)
	for err == unix.EINTR {
		err = unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, at, n)
	}
	switch err {
	case nil:
		return nil
	case unix.ENOSPC, unix.EDQUOT:
		return fmt.Errorf("%w (%d bytes): the filesystem is full", ErrNoSpace, n)
	}
	var s unix.Statfs_t
	if err := unix.Fstatfs(fd, &s); err != nil {
		return fmt.Errorf("cannot tell whether the filesystem has room for this attempt's records: %w", err)
	}
	free := s.Bavail
	if os.Geteuid() == 0 {
		free = s.Bfree // root may use the blocks kept for it
	}
	if bs := uint64(s.Bsize); free < (uint64(n)+bs-1)/bs+1 {
		return fmt.Errorf("%w (%d bytes): %d bytes are free", ErrNoSpace, n, free*bs)
	}
	return nil
}
