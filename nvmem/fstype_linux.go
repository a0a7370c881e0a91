package nvmem

import (
	"os"
	"syscall"
)

// sysfsMagic is SYSFS_MAGIC from linux/magic.h.
const sysfsMagic = 0x62656572

// onSysfs reports whether f is a sysfs file, i.e. the driver's nvmem file
// with a fuse controller behind it.
func onSysfs(f *os.File) bool {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(f.Fd()), &st); err != nil {
		return true // unknown: assume hardware, whose writes need no help
	}
	return st.Type == sysfsMagic
}
