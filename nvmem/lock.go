package nvmem

import (
	"fmt"
	"os"
	"syscall"

	"github.com/otpprov/otpprov/internal/lockholder"
)

// lockFile takes an exclusive advisory lock on f without waiting. flock is
// generic VFS, so it works on the sysfs file and on image files alike, and
// the kernel drops it when the process dies: no stale lock files. When
// another process holds it, the error says which, as far as /proc/locks
// tells.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EWOULDBLOCK:
			return &kindError{&busyError{holder: lockHolder(f)}, err}
		}
		return err
	}
}

// busyError is ErrBusy, naming who holds the lock when that is known.
type busyError struct{ holder string }

func (b *busyError) Error() string {
	if b.holder == "" {
		return ErrBusy.Error()
	}
	return "the device is locked by " + b.holder
}

func (b *busyError) Is(target error) bool { return target == ErrBusy }

// lockHolder names the process holding an flock on f, as "ocotp-emu
// (pid 1234)", or "" when /proc cannot tell.
func lockHolder(f *os.File) string {
	switch pid, comm := lockholder.Of(f); {
	case pid == 0:
		return ""
	case comm == "":
		return fmt.Sprintf("pid %d", pid)
	default:
		return fmt.Sprintf("%s (pid %d)", comm, pid)
	}
}
