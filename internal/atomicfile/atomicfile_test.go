package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/otpprov/otpprov/internal/smallfs"
)

// TestMain lets a test run Write in a process of its own, under strace:
// ATOMICFILE_WRITE=PATH writes ATOMICFILE_CONTENT there and exits.
func TestMain(m *testing.M) {
	if path := os.Getenv("ATOMICFILE_WRITE"); path != "" {
		if err := Write(path, []byte(os.Getenv("ATOMICFILE_CONTENT")), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	for _, content := range []string{"first", "second"} {
		if err := Write(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read %q, %v; want %q", b, err, content)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	err := Write(filepath.Join(dir, "missing", "x"), nil, 0o644)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "it was not created") {
		t.Errorf("writing into a missing directory: %v", err)
	}
}

// An existing file keeps its mode (a script the operator made executable,
// a plan kept 0600); a new one gets the mode asked for, whatever the umask.
func TestWriteKeepsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "burn.sh")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o750 {
		t.Errorf("mode %v, want the old file's 0750", fi.Mode().Perm())
	}
	fresh := filepath.Join(dir, "new.sh")
	old := syscall.Umask(0o077)
	err := Write(fresh, []byte("x"), 0o644)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", fi.Mode().Perm())
	}
}

// A link is followed, as a shell's > follows it: the file it names gets
// the content, the link stays a link. Anything but a regular file is
// refused and left as it is: a rename would make /dev/null a file.
func TestWriteTargets(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.json")
	if err := os.WriteFile(real, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("real.json", link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(real); string(b) != "new" {
		t.Errorf("the link's file holds %q, want new", b)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("nowhere/x", dangling); err != nil {
		t.Fatal(err)
	}
	toFifo := filepath.Join(dir, "to-fifo")
	if err := os.Symlink("fifo", toFifo); err != nil {
		t.Fatal(err)
	}
	// Check only: were Write to fail to refuse it, the machine would lose
	// its /dev/null.
	if err := Check("/dev/null"); err == nil || !strings.Contains(err.Error(), "it is a character device") {
		t.Errorf("/dev/null: %v", err)
	}
	for path, want := range map[string]string{
		dir:      "it is a directory",
		fifo:     "it is a FIFO",
		toFifo:   "it is a FIFO",
		dangling: "a symbolic link that cannot be followed",
	} {
		before, _ := os.Lstat(path)
		for _, f := range []func() error{func() error { return Check(path) }, func() error { return Write(path, []byte("x"), 0o644) }} {
			if err := f(); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %v, want %q", path, err, want)
			}
		}
		after, _ := os.Lstat(path)
		if before.Mode() != after.Mode() {
			t.Errorf("%s changed: %v -> %v", path, before.Mode(), after.Mode())
		}
	}
	if err := Check(filepath.Join(dir, "new.json")); err != nil {
		t.Errorf("a new file in a writable directory: %v", err)
	}
}

// On a full disk the file keeps its old content (or is not created), no
// temporary file is left, and the error says so: with room for none of
// the new content, and with room for part of it.
func TestWriteFullDisk(t *testing.T) {
	dir := smallfs.Mount(t, 256<<10)
	old := []byte("the plan as it was\n")
	path := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	for _, leave := range []int64{0, 16 << 10} {
		smallfs.Fill(t, dir, leave)
		for _, p := range []string{path, filepath.Join(dir, "new.json")} {
			err := Write(p, content, 0o644)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("leave %d, %s: %v, want ENOSPC", leave, filepath.Base(p), err)
			}
			t.Logf("leave %d: %v", leave, err)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, old) {
			t.Errorf("leave %d: plan.json holds %d bytes, want its old content", leave, len(b))
		}
		if _, err := os.Stat(filepath.Join(dir, "new.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leave %d: new.json exists: %v", leave, err)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tmp") {
				t.Errorf("leave %d: temporary file %s left behind", leave, e.Name())
			}
		}
		smallfs.Unfill(t, dir)
	}
}

// The order of the system calls, as strace sees a real process make them:
// every write to the temporary file, then its fsync, then the rename over
// the file, then an fsync of the directory. Rename before the data's fsync
// is the zero-length file after a power loss; no directory fsync, the
// rename itself may be lost. CI installs strace; elsewhere the test says
// loudly that it did not run.
func TestWriteSyncOrder(t *testing.T) {
	st, err := exec.LookPath("strace")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("strace is not installed, and CI must run this test (.ci/run installs it)")
		}
		t.Skip("NOT RUN: strace is not installed (apt-get install strace)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "burn.sh")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(st, "-f", "-qq", "-o", trace, "-e", "trace=openat,write,fsync,fdatasync,close,rename,renameat,renameat2",
		os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_WRITE="+path, "ATOMICFILE_CONTENT=new content\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(path); string(b) != "new content\n" {
		t.Fatalf("the file holds %q", b)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	calls := syncCalls(t, string(b), dir, path)
	want := []string{"open tmp", "write tmp", "fsync tmp", "close tmp", "rename tmp", "open dir", "fsync dir", "close dir"}
	if strings.Join(calls, ", ") != strings.Join(want, ", ") {
		t.Errorf("system calls:\n  %s\nwant:\n  %s\n%s", strings.Join(calls, ", "), strings.Join(want, ", "), b)
	}
}

var straceLine = regexp.MustCompile(`^\d+\s+(\w+)\((.*)\)\s+= (-?\d+)`)

// syncCalls reads an strace log: the calls on the temporary file in dir,
// on path and on dir itself, in order, named by what they touched. Calls
// that wrote the same file twice in a row count once.
func syncCalls(t *testing.T, log, dir, path string) []string {
	tmpFD, dirFD := "", ""
	tmpName := regexp.MustCompile(`"` + regexp.QuoteMeta(dir) + `/\.otpprov-\d+\.tmp"`)
	var calls []string
	add := func(c string) {
		if len(calls) == 0 || calls[len(calls)-1] != c {
			calls = append(calls, c)
		}
	}
	for _, line := range joinResumed(log) {
		m := straceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, args, ret := m[1], m[2], m[3]
		fd := strings.SplitN(args, ",", 2)[0]
		switch {
		case name == "openat" && tmpName.MatchString(args):
			tmpFD = ret
			add("open tmp")
		case name == "openat" && strings.Contains(args, `"`+dir+`"`):
			dirFD = ret
			add("open dir")
		case strings.HasPrefix(name, "rename") && tmpName.MatchString(args) && strings.Contains(args, `"`+path+`"`):
			add("rename tmp")
		case fd == tmpFD && tmpFD != "":
			add(syncName(name) + " tmp")
			if name == "close" {
				tmpFD = ""
			}
		case fd == dirFD && dirFD != "":
			add(syncName(name) + " dir")
			if name == "close" {
				dirFD = ""
			}
		}
	}
	return calls
}

// joinResumed puts back together the calls strace -f splits when another
// thread runs meanwhile ("123 fsync(5 <unfinished ...>", later "123 <...
// fsync resumed>) = 0"), at the place the call returned: the order that
// matters is the order calls finished in.
func joinResumed(log string) []string {
	started := map[string]string{}
	resumed := regexp.MustCompile(`^(\d+)\s+<\.\.\. \w+ resumed>(.*)$`)
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if head, ok := strings.CutSuffix(line, " <unfinished ...>"); ok {
			started[strings.Fields(head)[0]] = head
			continue
		}
		if m := resumed.FindStringSubmatch(line); m != nil {
			line = started[m[1]] + m[2]
			delete(started, m[1])
		}
		out = append(out, line)
	}
	return out
}

// syncName counts fdatasync as fsync: either makes the data durable.
func syncName(call string) string {
	if call == "fdatasync" {
		return "fsync"
	}
	return call
}
