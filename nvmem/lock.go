package nvmem

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
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
			return &kindError{&busyError{holder: lockHolder(f, "/proc")}, err}
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

// lockHolder names the process holding an flock on f, as "ocotp-emu (pid
// 1234)", from Linux's /proc/locks (the pid) and /proc/PID/comm (its
// name); "" when it cannot tell: no /proc, or a holder in another pid
// namespace (pid 0 or -1). It runs only on the refusal path.
func lockHolder(f *os.File, proc string) string {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return ""
	}
	b, err := os.ReadFile(proc + "/locks")
	if err != nil {
		return ""
	}
	// "1: FLOCK  ADVISORY  WRITE 1234 00:2f:5678 0 EOF"; a process waiting
	// for the lock has "->" after the number, and holds nothing.
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[1] != "FLOCK" || f[5] != id {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil || pid <= 0 {
			return ""
		}
		comm, err := os.ReadFile(fmt.Sprintf("%s/%d/comm", proc, pid))
		if name := string(bytes.TrimSpace(comm)); err == nil && name != "" {
			return fmt.Sprintf("%s (pid %d)", name, pid)
		}
		return fmt.Sprintf("pid %d", pid)
	}
	return ""
}
