package ocotpemu

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/ocotpfs"
	"github.com/otpprov/otpprov/nvmem"
)

func newSim(t *testing.T) string {
	t.Helper()
	m, err := fusemap.Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "board")
	if err := nvmem.InitSim(dir, m.SoC, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBadArguments(t *testing.T) {
	dir := newSim(t)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"none", nil, []string{"ocotp-emu: error: want 2 arguments, got 0", "ocotp-emu: hint: usage: ocotp-emu SIMDIR MOUNTPOINT"}},
		{"three", []string{"a", "b", "c"}, []string{"want 2 arguments, got 3"}},
		{"not a sim", []string{t.TempDir(), t.TempDir()}, []string{"is not an otpprov sim (no sim.yaml; create one with 'otpprov sim init')"}},
		{"no mount point", []string{dir, filepath.Join(t.TempDir(), "missing")}, []string{"ocotp-emu: error: mount point: ", "no such file or directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(tc.args, &stdout, &stderr); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks %q", stderr.String(), w)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
	// The failed mount closed the sim: it can be opened for writing again.
	s, err := nvmem.OpenSim(dir, nvmem.ReadWrite)
	if err != nil {
		t.Fatalf("sim still locked after a failed mount: %v", err)
	}
	s.Close()
}

func TestSimInUse(t *testing.T) {
	dir := newSim(t)
	s, err := nvmem.OpenSim(dir, nvmem.ReadWrite) // as an otpprov apply would
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stdout, stderr bytes.Buffer
	if code := Main([]string{dir, t.TempDir()}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if want := "is in use by another process"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q lacks %q", stderr.String(), want)
	}
}

// syncBuffer is written by Main's goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve runs Main in this process until it prints that it serves, and
// returns its exit code's channel. It skips where FUSE is unavailable
// (fails in CI).
func serve(t *testing.T, dir, mnt string) (<-chan int, *syncBuffer) {
	t.Helper()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	go func() { code <- Main([]string{dir, mnt}, stdout, stderr) }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(stdout.String(), "serving") {
		select {
		case c := <-code:
			msg := stderr.String()
			if c == 1 && (strings.Contains(msg, ocotpfs.ErrNoFUSE.Error()) || strings.Contains(msg, ocotpfs.ErrNoPrivilege.Error())) {
				if os.Getenv("CI") != "" {
					t.Fatalf("FUSE is needed in CI: %s", msg)
				}
				t.Skipf("FUSE TESTS NOT RUN: %s", msg)
			}
			t.Fatalf("Main exited %d before serving: %s", c, msg)
		case <-deadline:
			syscall.Unmount(mnt, syscall.MNT_DETACH)
			t.Fatal("not serving after 10s")
		case <-time.After(5 * time.Millisecond):
		}
	}
	want := "ocotp-emu: serving sim:" + dir + " (imx8mm, 1024 bytes, read-write) at " + mnt + "/nvmem\n"
	if stdout.String() != want {
		t.Errorf("stdout %q, want %q", stdout.String(), want)
	}
	return code, stderr
}

func exitCode(t *testing.T, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return within 10s")
		return -1
	}
}

// An operator's umount ends the service; the sim is closed and saved.
func TestExternalUnmount(t *testing.T) {
	dir, mnt := newSim(t), t.TempDir()
	code, stderr := serve(t, dir, mnt)
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	if c := exitCode(t, code); c != 0 {
		t.Errorf("exit %d after umount, want 0; stderr %q", c, stderr.String())
	}
	// Closed: the sim's lock is free again.
	s, err := nvmem.OpenSim(dir, nvmem.ReadWrite)
	if err != nil {
		t.Fatalf("sim not closed: %v", err)
	}
	s.Close()
}

// SIGTERM while a process holds the file open: the mount is detached at
// once, the open file is still answered, and Main returns when it closes.
func TestSignalWhileBusy(t *testing.T) {
	dir, mnt := newSim(t), t.TempDir()
	code, stderr := serve(t, dir, mnt)
	f, err := os.OpenFile(filepath.Join(mnt, "nvmem"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Whatever happens, the file is closed before the test process could
	// exit with it open on its own mount.
	defer f.Close()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "detaching") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "device or resource busy; detaching") {
		t.Fatalf("stderr %q, want the busy unmount and the detach", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(mnt, "nvmem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after the detach, the mount point still shows nvmem: %v", err)
	}
	// The open file is still served: a burn and its read-back work.
	if _, err := f.WriteAt([]byte{1, 0, 0, 0}, 4*56); err != nil {
		t.Errorf("write on the detached file: %v", err)
	}
	b := make([]byte, 4)
	if _, err := f.ReadAt(b, 4*56); err != nil || b[0] != 1 {
		t.Errorf("read-back on the detached file: %x, %v", b, err)
	}
	f.Close()
	if c := exitCode(t, code); c != 0 {
		t.Errorf("exit %d, want 0; stderr %q", c, stderr.String())
	}
	if !strings.HasSuffix(stderr.String(), "closed\n") {
		t.Errorf("stderr %q, want it to end with the sim closed", stderr.String())
	}
	if fuses, err := os.ReadFile(filepath.Join(dir, "fuses.bin")); err != nil || fuses[4*56] != 1 {
		t.Errorf("the burn on the detached file was not saved: %v", err)
	}
}
