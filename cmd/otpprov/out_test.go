package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outClash finds the file behind a /proc/self/fd link, as for standard
// output: --out /dev/stdout, when stdout is a regular file, would rename
// the output over the file stdout writes to.
func TestOutClashSeesThroughFDLinks(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "log.txt")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := used{what: "standard output itself", path: fmt.Sprintf("/proc/self/fd/%d", f.Fd())}
	err = outClash(name, fd)
	if err == nil || !strings.Contains(err.Error(), "is standard output itself") {
		t.Fatalf("--out the file behind fd %d: %v", f.Fd(), err)
	}
	// Another file, and a new one, are not in use.
	if err := outClash(filepath.Join(dir, "other.txt"), fd); err != nil {
		t.Fatal(err)
	}
	// A new file in a directory in use (a sim's) is refused; beside it,
	// not.
	sim := used{what: "in the sim's directory", path: filepath.Join(dir, "sim"), dir: true}
	if err := os.Mkdir(sim.path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := outClash(filepath.Join(sim.path, "new.json"), sim); err == nil {
		t.Fatal("--out a new file in the sim's directory: no error")
	}
	if err := outClash(filepath.Join(dir, "new.json"), sim); err != nil {
		t.Fatal(err)
	}
}
