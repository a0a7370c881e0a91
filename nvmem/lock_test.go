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
