// Package smallfs is for tests: it mounts a small tmpfs the test can fill,
// to see what a full disk does. It needs root (mount(2)); without it a
// test skips with a loud NOT RUN line, and fails where CI is set: CI must
// run it.
package smallfs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Mount mounts a tmpfs of size bytes on a new directory and unmounts it
// when the test ends.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("a small tmpfs is needed in CI (mount as root): %v", err)
		}
		t.Skipf("NOT RUN: cannot mount a small tmpfs (mount needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Free is how many bytes the filesystem at dir can still take.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	return int64(s.Bfree) * int64(s.Bsize)
}

// Fill takes all but leave bytes of the filesystem at dir with a file.
func Fill(t testing.TB, dir string, leave int64) {
	t.Helper()
	n := Free(t, dir) - leave
	if n < 0 {
		t.Fatalf("%s has only %d bytes free, want to leave %d", dir, Free(t, dir), leave)
	}
	f, err := os.CreateTemp(dir, "filler")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if got := Free(t, dir); got != leave {
		t.Fatalf("%s: %d bytes free after filling, want %d", dir, got, leave)
	}
}

// Unfill removes what Fill took, so that the next case starts with room.
func Unfill(t testing.TB, dir string) {
	t.Helper()
	fillers, err := filepath.Glob(filepath.Join(dir, "filler*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}
