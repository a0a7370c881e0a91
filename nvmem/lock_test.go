package nvmem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A device locked by another holder is refused with who holds it, as
// /proc/locks says: here this very process, through another open file.
func TestLockNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img.bin")
	if err := os.WriteFile(path, make([]byte, 16), 0o644); err != nil {
		t.Fatal(err)
	}
	first, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if err := lockFile(first); err != nil {
		t.Fatal(err)
	}
	second, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	err = lockFile(second)
	if !errors.Is(err, ErrBusy) || !errors.Is(err, unix.EWOULDBLOCK) {
		t.Fatalf("err = %v, want ErrBusy and EWOULDBLOCK", err)
	}
	comm, cerr := os.ReadFile("/proc/self/comm")
	if cerr != nil {
		t.Skipf("NOT RUN: no /proc here: %v", cerr)
	}
	want := fmt.Sprintf("the device is locked by %s (pid %d)", strings.TrimSpace(string(comm)), os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
}

// Where /proc/locks cannot say (a holder in another pid namespace shows
// pid 0 or -1, a waiter holds nothing, no entry at all), the error is the
// neutral ErrBusy; a pid without a readable name is named by its pid.
func TestLockHolderFallbacks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img.bin")
	if err := os.WriteFile(path, make([]byte, 16), 0o644); err != nil {
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
		name, locks, want string
		comm              bool
	}{
		{"named", "1: FLOCK  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", "ocotp-emu (pid 4242)", true},
		{"no comm", "1: FLOCK  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", "pid 4242", false},
		{"other namespace", "1: FLOCK  ADVISORY  WRITE 0 " + id + " 0 EOF\n", "", true},
		{"a waiter only", "1: -> FLOCK  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", "", true},
		{"another file", "1: FLOCK  ADVISORY  WRITE 4242 00:00:1 0 EOF\n", "", true},
		{"a POSIX lock", "1: POSIX  ADVISORY  WRITE 4242 " + id + " 0 EOF\n", "", true},
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
			if got := lockHolder(f, proc); got != c.want {
				t.Errorf("lockHolder = %q, want %q", got, c.want)
			}
		})
	}
	if got := (&busyError{}).Error(); got != ErrBusy.Error() {
		t.Errorf("no holder: %q", got)
	}
}
