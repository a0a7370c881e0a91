package lockholder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The holder of a real flock is found: here this very process, through
// another open file of the same file.
func TestOf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if pid, _ := Of(b); pid != 0 {
		t.Errorf("no lock yet, but pid %d", pid)
	}
	if err := syscall.Flock(int(a.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skipf("NOT RUN: no /proc here: %v", err)
	}
	if pid, name := Of(b); pid != os.Getpid() || name != strings.TrimSpace(string(comm)) {
		t.Errorf("Of = %d %q, want %d %q", pid, name, os.Getpid(), strings.TrimSpace(string(comm)))
	}
}

// What /proc/locks cannot tell is said as pid 0: a holder in another pid
// namespace, a waiter (which holds nothing), another file's lock, a
// POSIX lock; a pid whose name cannot be read has none.
func TestOfFallbacks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	for _, c := range []struct {
		name, locks string
		comm        bool
		pid         int
		want        string
	}{
		{"named", "1: FLOCK  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", true, 4242, "ocotp-emu"},
		{"no comm", "1: FLOCK  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", false, 4242, ""},
		{"other namespace", "1: FLOCK  ADVISORY  WRITE 0 " + id + " 0 EOF\n", true, 0, ""},
		{"a waiter only", "1: -> FLOCK  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", true, 0, ""},
		{"another file", "1: FLOCK  ADVISORY  WRITE 4242 00:00:1 0 EOF\n", true, 0, ""},
		{"a POSIX lock", "1: POSIX  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", true, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			proc := t.TempDir()
			if err := os.WriteFile(filepath.Join(proc, "locks"), []byte(c.locks), 0o644); err != nil {
				t.Fatal(err)
			}
			if c.comm {
				if err := os.MkdirAll(filepath.Join(proc, "4242"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(proc, "4242", "comm"), []byte("ocotp-emu\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if pid, comm := of(f, proc); pid != c.pid || comm != c.want {
				t.Errorf("of = %d %q, want %d %q", pid, comm, c.pid, c.want)
			}
		})
	}
}
