package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	// dev and ino are the file opened: before each append the path must
	// still name it, or the record would go to a file nobody reads.
	dev, ino uint64
	// seen is the journal's size when this attempt last appended or
	// looked: a journal is only ever appended to, and one found shorter
	// was cut under the attempt.
	seen int64
	// onAppend hears each record appended (BeginWith); chain is the
	// digest of the file's first line, read once when onAppend is set.
	onAppend func(Appended)
	chain    string
}

// ErrInterrupted: the wait for the journal's lock was ended (Ctrl-C,
// SIGTERM); nothing was appended.
var ErrInterrupted = errors.New("interrupted while waiting for the journal's lock")

// ErrNoSpace: the journal's filesystem cannot take the records of this
// attempt.
var ErrNoSpace = errors.New("no room for this attempt's records")

// ErrMoved: the journal's path no longer names the file this attempt
// opened (removed, renamed, replaced), or the attempt's intent is no
// longer where it was written (the file was cut or rewritten). Nothing
// is appended: a record there would be lost, or hang on the wrong chain.
var ErrMoved = errors.New("the journal changed under this attempt")

// ErrLockTimeout: after a burn the outcome waited outcomeWait for the
// journal's lock and did not get it.
var ErrLockTimeout = errors.New("gave up waiting for the journal's lock")

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
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("journal %s: not a regular file (it changed while it was opened)", path)
	}
	if notify == nil {
		notify = func(string) {}
	}
	sys := st.Sys().(*syscall.Stat_t)
	return &File{f: f, path: path, notify: notify, dev: uint64(sys.Dev), ino: uint64(sys.Ino)}, nil
}

// same checks that the journal's path still names the file opened:
// records appended to a file removed, renamed or replaced since would
// reach nobody who reads FILE.
func (j *File) same() error {
	st, err := os.Stat(j.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("journal %s: %w: it was removed or renamed during the attempt (no file has that name now)", j.path, ErrMoved)
	case err != nil:
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if sys := st.Sys().(*syscall.Stat_t); uint64(sys.Dev) != j.dev || uint64(sys.Ino) != j.ino {
		return fmt.Errorf("journal %s: %w: the name now leads to another file (the journal was replaced, or renamed and a new one made, during the attempt)", j.path, ErrMoved)
	}
	return nil
}

// Close releases the journal.
func (j *File) Close() error { return j.f.Close() }

// locked runs fn with the journal locked, its path checked to name the
// file opened, the intent (if any) checked to be where it was written,
// and its end read and checked. After a burn (intent set) the wait for
// the lock is not for a signal to end: only ctx's deadline bounds it.
func (j *File) locked(ctx context.Context, intent *written, fn func(t *tail) error) error {
	if err := j.lock(ctx, intent != nil); err != nil {
		return err
	}
	defer unix.Flock(int(j.f.Fd()), unix.LOCK_UN)
	if err := j.same(); err != nil {
		return err
	}
	if intent != nil {
		if err := j.holds(intent); err != nil {
			return err
		}
	}
	if st, err := j.f.Stat(); err == nil && st.Size() < j.seen {
		return fmt.Errorf("journal %s: %w: it was cut to %d bytes during the attempt (it held %d)", j.path, ErrMoved, st.Size(), j.seen)
	}
	t, err := readTail(j.f, j.path)
	if err != nil {
		return err
	}
	defer func() { j.seen = t.size }()
	return fn(t)
}

// written is a record this attempt wrote: its seq, where its line starts,
// and the line with its newline.
type written struct {
	seq  int
	at   int64
	line []byte
}

// holds checks that the journal still holds w, byte for byte, where it
// was written: a journal cut short (truncated, rewritten) has lost the
// record the next one would name.
func (j *File) holds(w *written) error {
	st, err := j.f.Stat()
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if end := w.at + int64(len(w.line)); st.Size() < end {
		return fmt.Errorf("journal %s: %w: it was cut to %d bytes during the attempt, and the intent (seq %d) at bytes %d to %d is gone",
			j.path, ErrMoved, st.Size(), w.seq, w.at, end)
	}
	got := make([]byte, len(w.line))
	if _, err := j.f.ReadAt(got, w.at); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if !bytes.Equal(got, w.line) {
		return fmt.Errorf("journal %s: %w: the intent (seq %d) is no longer at byte %d: the file was rewritten during the attempt",
			j.path, ErrMoved, w.seq, w.at)
	}
	return nil
}

// lockPoll bounds how long a waiting station sleeps between tries: a
// record's append takes milliseconds.
const lockPoll = 100 * time.Millisecond

// lock takes the journal's lock, waiting while another process holds it.
// The wait is said (which file, which holder) and ends with ctx: a
// blocked flock cannot be interrupted, so it polls. Before a burn ctx
// ends with a signal (Ctrl-C stops the wait: nothing burned); after one
// (afterBurn) ctx carries only a deadline, since the outcome of fuses
// burned must not be given up for a key pressed while it waits.
func (j *File) lock(ctx context.Context, afterBurn bool) error {
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
			if afterBurn {
				j.notify(fmt.Sprintf("waiting for the lock of journal %s, held by %s, to record the outcome of the burn (at most %s; a signal does not stop this wait)", j.path, who, outcomeWait))
			} else {
				j.notify(fmt.Sprintf("waiting for the lock of journal %s, held by %s (Ctrl-C stops waiting)", j.path, who))
			}
			told = true
		}
		select {
		case <-ctx.Done():
			if who == "" {
				who = holder(j.f)
			}
			if afterBurn {
				return fmt.Errorf("journal %s: %w: it was held by %s for %s", j.path, ErrLockTimeout, who, outcomeWait)
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
// intent), and writes one line and fsyncs. t becomes the new end. It
// returns where r's line starts.
//
// Every append first reserves, from where its line starts, its line and
// the room every intent still open after it needs for its outcome (need):
// a refusal or an interrupted mark written into blocks an intent
// reserved must not leave that intent's outcome without room. Where the
// reservation fails the record is not written, except an outcome of this
// attempt's own intent (afterBurn): its room was reserved with the
// intent, and after a burn the record matters more than the check.
func (j *File) write(t *tail, r *Record, need int64, afterBurn bool) (int64, error) {
	at := t.size
	seq := 1
	if t.last != nil {
		seq = t.last.Seq + 1
	}
	r.Seq = seq
	r.Open = nextOpen(t.last.carried(), r, at, need)
	line, err := seal(r, t.lastLine, seq, r.version())
	if err != nil {
		return 0, fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := reserve(j.f, at, int64(len(line))+1+needs(r.Open)); err != nil && !afterBurn {
		return 0, fmt.Errorf("journal %s: %w", j.path, err)
	}
	if _, err := writeLine(j.f, append(line, '\n')); err != nil {
		// A line cut short (a full disk) would stop every later apply
		// on this journal: take it back. The lock is ours, so nobody
		// wrote after it. Cutting the file frees the blocks reserved
		// beyond its end, the open intents' too: reserve them again.
		if terr := j.f.Truncate(at); terr != nil {
			return 0, fmt.Errorf("journal %s: %w; the torn line could not be removed either: %v", j.path, err, terr)
		}
		if rerr := reserve(j.f, at, needs(t.last.carried())); rerr != nil {
			return 0, fmt.Errorf("journal %s: %w; and the room kept for the outcomes of the attempts in progress is lost: %v", j.path, err, rerr)
		}
		return 0, fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return 0, fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	t.size, t.last, t.lastLine = at+int64(len(line))+1, r, line
	// The record is in the file: a copy that cannot be told of it does
	// not undo that, so the append stands.
	if err := j.appended(r, line); err != nil {
		j.notify(err.Error())
	}
	return at, nil
}

// writeLine appends b to f; a test makes it fail as a full disk would.
var writeLine = func(f *os.File, b []byte) (int, error) { return f.Write(b) }

// needs is the room the outcomes of the open intents take.
func needs(open []Open) int64 {
	var n int64
	for _, o := range open {
		n += o.Need
	}
	return n
}

// reserve makes sure the filesystem can take n more bytes at offset at
// of f. fallocate with KEEP_SIZE allocates them to the file without
// changing its size, so that nothing else can take them; where the
// filesystem cannot (NFS before 4.2, FUSE, FAT...), statfs at least says
// whether they are free now.
func reserve(f *os.File, at, n int64) error {
	if n <= 0 {
		return nil
	}
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
