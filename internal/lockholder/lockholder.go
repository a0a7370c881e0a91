// Package lockholder tells which process holds a flock(2) lock on a
// file, from Linux's /proc/locks (the pid) and /proc/PID/comm (its name),
// so that a refusal or a wait can name it. It reads /proc: ask on those
// paths only.
package lockholder

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Of returns the pid and name of the process holding an flock on f. pid
// is 0 when /proc cannot say: no /proc, no such lock, or a holder in
// another pid namespace (shown as pid 0 or -1); comm is "" when the
// name cannot be read.
func Of(f *os.File) (pid int, comm string) { return of(f, "/proc") }

func of(f *os.File, proc string) (int, string) {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return 0, ""
	}
	b, err := os.ReadFile(proc + "/locks")
	if err != nil {
		return 0, ""
	}
	// "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; a process waiting
	// for the lock has "->" after the number, and holds nothing.
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 || fs[1] != "FLOCK" || fs[5] != id {
			continue
		}
		pid, err := strconv.Atoi(fs[4])
		if err != nil || pid <= 0 {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("%s/%d/comm", proc, pid))
		if err != nil {
			return pid, ""
		}
		return pid, strings.TrimSpace(string(comm))
	}
	return 0, ""
}
