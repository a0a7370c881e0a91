package nvmem

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f without waiting. flock is
// generic VFS, so it works on the sysfs file and on image files alike, and
// the kernel drops it when the process dies: no stale lock files.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}
