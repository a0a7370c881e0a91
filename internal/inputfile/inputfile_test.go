package inputfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	in := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(in("m.yaml"), []byte("soc: imx8mm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("m.yaml", in("link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop.yaml", in("loop.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(in("fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(in("dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/null", in("null.yaml")); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"m.yaml", "link.yaml"} {
		b, err := Read(in(name), 100)
		if err != nil || string(b) != "soc: imx8mm\n" {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	// The cap: max+1 bytes, so that the caller can tell "too large".
	if b, err := Read(in("m.yaml"), 4); err != nil || string(b) != "soc: " {
		t.Errorf("capped read: %q, %v", b, err)
	}

	for _, c := range []struct{ name, want string }{
		// A FIFO with no writer: the open would block forever.
		{"fifo.yaml", "fifo.yaml: not a regular file (a FIFO)"},
		{"dir.yaml", "dir.yaml: not a regular file (a directory)"},
		{"null.yaml", "null.yaml: not a regular file (a character device)"},
		{"loop.yaml", "loop.yaml: too many levels of symbolic links"},
		{"none.yaml", "none.yaml: no such file or directory"},
	} {
		_, err := Read(in(c.name), 100)
		var e *Error
		if !errors.As(err, &e) || e.Path != in(c.name) {
			t.Errorf("%s: %v, want an *Error for the path", c.name, err)
			continue
		}
		if !strings.HasSuffix(err.Error(), c.want) || strings.Count(err.Error(), c.name) != 1 {
			t.Errorf("%s: %q, want it to end in %q, naming the file once", c.name, err, c.want)
		}
	}
	_, err := Open(in("fifo.yaml"))
	if !errors.Is(err, ErrNotRegular) {
		t.Errorf("a FIFO: %v, want ErrNotRegular", err)
	}
	_, err = Open(in("none.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want it to unwrap to fs.ErrNotExist", err)
	}
}
