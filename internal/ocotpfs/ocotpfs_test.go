package ocotpfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/nvmem"
)

// These tests mount the emulator core through the kernel and use the file
// with plain system calls, as any program would: what they check is what
// the kernel hands a caller. Every call into the mount is bounded by
// opTimeout, so a broken server fails the test instead of hanging it.

const opTimeout = 10 * time.Second

// within runs op, one or more system calls on the mount, and fails the
// test if it has not returned after opTimeout. It then aborts the test's
// FUSE connections first: the stuck call fails, and the test binary can
// still exit (a process blocked on its own FUSE server never does).
func within[T any](t *testing.T, what string, op func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := op()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(opTimeout):
		for _, conn := range connections {
			abort(t, conn)
		}
		t.Fatalf("%s: no answer from the mount after %v; connections aborted", what, opTimeout)
		panic("unreachable")
	}
}

// connections are the FUSE connections this test binary serves, by the
// number of their directory in /sys/fs/fuse/connections.
var connections = map[string]uint64{}

// abort ends a FUSE connection as the kernel's fusectl allows: every
// pending and later call on it fails with ENOTCONN.
func abort(t *testing.T, conn uint64) {
	dir := "/sys/fs/fuse/connections"
	if _, err := os.Stat(fmt.Sprintf("%s/%d", dir, conn)); err != nil {
		// fusectl is usually mounted by the init system; mount it if not.
		syscall.Mount("fusectl", dir, "fusectl", 0, "")
	}
	if err := os.WriteFile(fmt.Sprintf("%s/%d/abort", dir, conn), []byte("1"), 0); err != nil {
		t.Logf("aborting FUSE connection %d: %v", conn, err)
	}
}

// closeLeaked replaces every descriptor of this process that is open on a
// file under mnt with /dev/null. A test that failed may have left one
// open; a process that exits with a file open on its own FUSE mount hangs
// in the kernel forever, flushing it to a server that is gone.
func closeLeaked(t *testing.T, mnt string) {
	null, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Logf("closeLeaked: %v", err)
		return
	}
	defer syscall.Close(null)
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, e := range fds {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || !strings.HasPrefix(target, mnt+"/") {
			continue
		}
		fd, _ := strconv.Atoi(e.Name())
		t.Errorf("%s left open (fd %d): closed", target, fd)
		syscall.Dup3(null, fd, syscall.O_CLOEXEC)
	}
}

// fuseUnavailable skips a test where this machine cannot mount FUSE, and
// fails it in CI, where the FUSE scenarios must run.
func fuseUnavailable(t *testing.T, err error) {
	t.Helper()
	msg := fmt.Sprintf("FUSE TESTS NOT RUN: %v", err)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI must run them)", msg)
	}
	fmt.Fprintf(os.Stderr, "\n*** %s ***\n\n", msg)
	t.Skip(msg)
}

// mountT serves dev on a fresh directory for the test's duration and
// returns the nvmem file's path. Cleanup closes what the test left open,
// unmounts (aborting and detaching if that fails, so no stale mount
// outlives the test) and closes dev.
func mountT(t *testing.T, dev Device) (*Server, string) {
	t.Helper()
	mnt := t.TempDir()
	srv, err := Mount(mnt, dev)
	if errors.Is(err, ErrNoFUSE) || errors.Is(err, ErrNoPrivilege) {
		fuseUnavailable(t, err)
	}
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	registerConnection(t, srv)
	t.Cleanup(func() { unmountT(t, srv) })
	return srv, srv.Path()
}

// registerConnection notes the mount's FUSE connection while the server
// answers, so that a stuck call can be aborted later without asking it.
func registerConnection(t *testing.T, srv *Server) {
	t.Helper()
	var st syscall.Stat_t
	if _, err := within(t, "stat", func() (int, error) { return 0, syscall.Stat(srv.mountpoint, &st) }); err != nil {
		t.Fatal(err)
	}
	connections[srv.mountpoint] = uint64(unix.Major(st.Dev))<<20 | uint64(unix.Minor(st.Dev))
}

func unmountT(t *testing.T, srv *Server) {
	closeLeaked(t, srv.mountpoint)
	if _, err := within(t, "unmount", func() (int, error) { return 0, srv.Unmount() }); err != nil {
		t.Errorf("unmount: %v; aborting and detaching", err)
		abort(t, connections[srv.mountpoint])
		srv.Detach()
	}
	delete(connections, srv.mountpoint)
	if _, err := within(t, "close", func() (int, error) { return 0, srv.Close() }); err != nil {
		t.Errorf("closing the device: %v", err)
	}
}

func imx8mm(t *testing.T) *fusemap.Map {
	t.Helper()
	m, err := fusemap.Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// patternOTP is an i.MX8MM emulator whose word k holds 0xA0B0C000|k.
func patternOTP(t *testing.T) *nvmem.OTP {
	m := imx8mm(t)
	o := nvmem.NewOTP(m.Words)
	o.Map = m
	for k := range o.Fuses {
		o.Fuses[k] = 0xA0B0C000 | uint32(k)
	}
	return o
}

func device(o *nvmem.OTP) Device {
	return Device{File: o, Size: 4 * int64(len(o.Fuses)), Source: "test"}
}

// call is one call as it reached the core.
type call struct {
	write bool
	off   int64
	n     int
}

// recorder passes every call to the emulator and notes its offset and
// size: what the kernel delivered. It also notes calls that overlap, and
// can hold each call for a while so that unserialised calls would.
type recorder struct {
	nvmem.File
	hold     time.Duration
	mu       sync.Mutex
	calls    []call
	inFlight atomic.Int32
	overlaps atomic.Int32
}

func (r *recorder) note(c call) func() {
	if r.inFlight.Add(1) > 1 {
		r.overlaps.Add(1)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
	time.Sleep(r.hold)
	return func() { r.inFlight.Add(-1) }
}

func (r *recorder) ReadAt(p []byte, off int64) (int, error) {
	defer r.note(call{false, off, len(p)})()
	return r.File.ReadAt(p, off)
}

func (r *recorder) WriteAt(p []byte, off int64) (int, error) {
	defer r.note(call{true, off, len(p)})()
	return r.File.WriteAt(p, off)
}

func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func openFile(t *testing.T, path string, flag int) *os.File {
	t.Helper()
	f, err := within(t, "open", func() (*os.File, error) { return os.OpenFile(path, flag, 0) })
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func pread(t *testing.T, f *os.File, n int, off int64) ([]byte, error) {
	t.Helper()
	return within(t, "pread", func() ([]byte, error) {
		b := make([]byte, n)
		got, err := syscall.Pread(int(f.Fd()), b, off)
		if got < 0 {
			got = 0
		}
		return b[:got], err
	})
}

func pwrite(t *testing.T, f *os.File, b []byte, off int64) (int, error) {
	t.Helper()
	return within(t, "pwrite", func() (int, error) { return syscall.Pwrite(int(f.Fd()), b, off) })
}

func le(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestStatAsSysfs(t *testing.T) {
	for _, tc := range []struct {
		readOnly bool
		mode     os.FileMode
	}{{false, 0o644}, {true, 0o444}} {
		t.Run(fmt.Sprintf("readOnly=%t", tc.readOnly), func(t *testing.T) {
			dev := device(patternOTP(t))
			dev.ReadOnly = tc.readOnly
			_, path := mountT(t, dev)
			st, err := within(t, "stat", func() (os.FileInfo, error) { return os.Stat(path) })
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != tc.mode || st.Size() != 1024 {
				t.Errorf("stat = %v, %d bytes; want %v, 1024 bytes", st.Mode(), st.Size(), tc.mode)
			}
			entries, err := within(t, "readdir", func() ([]os.DirEntry, error) { return os.ReadDir(filepath.Dir(path)) })
			if err != nil || len(entries) != 1 || entries[0].Name() != FileName {
				t.Errorf("the mount holds %v (%v), want just %s", entries, err, FileName)
			}
		})
	}
}

// Every read(2) reaches the core once, with the caller's offset and size:
// no page-sized reads, no readahead, no cached words.
func TestReadsReachTheCoreAsMade(t *testing.T) {
	o := patternOTP(t)
	rec := &recorder{File: o}
	dev := device(o)
	dev.File = rec
	_, path := mountT(t, dev)
	f := openFile(t, path, os.O_RDONLY)
	rec.take() // whatever opening cost

	for _, tc := range []struct {
		name  string
		n     int
		off   int64
		want  []byte
		errno syscall.Errno
	}{
		{"one word", 4, 8, le(0xA0B0C002), 0},
		{"unaligned", 4, 2, append(le(0xA0B0C000)[2:], le(0xA0B0C001)[:2]...), 0},
		{"rounded down to words", 7, 0, le(0xA0B0C000), 0},
		{"three bytes", 3, 0, nil, syscall.EINVAL},
		{"clamped at the end", 100, 1016, append(le(0xA0B0C0FE), le(0xA0B0C0FF)...), 0},
		{"under a word before the end", 4, 1022, nil, syscall.EINVAL},
		{"at the end: EOF", 4, 1024, []byte{}, 0},
		{"past the end: EOF", 4, 4096, []byte{}, 0},
	} {
		got, err := pread(t, f, tc.n, tc.off)
		if tc.errno != 0 {
			if !errors.Is(err, tc.errno) {
				t.Errorf("%s: pread(%d at %d) = %x, %v; want %v", tc.name, tc.n, tc.off, got, err, tc.errno)
			}
		} else if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: pread(%d at %d) = %x, %v; want %x", tc.name, tc.n, tc.off, got, err, tc.want)
		}
		calls := rec.take()
		if want := (call{false, tc.off, tc.n}); len(calls) != 1 || calls[0] != want {
			t.Errorf("%s: the core saw %+v, want one call %+v", tc.name, calls, want)
		}
	}

	// The fuses changed behind the file (another burn): the next read
	// shows it, no cache answers instead.
	o.Fuses[2] = 0x12345678
	if got, err := pread(t, f, 4, 8); err != nil || !bytes.Equal(got, le(0x12345678)) {
		t.Errorf("pread after the fuses changed = %x, %v; want %x", got, err, le(0x12345678))
	}
}

func TestWritesAsTheDriver(t *testing.T) {
	o := patternOTP(t)
	clear(o.Fuses)
	o.WriteLocked[56] = true
	o.ReadProtected[57] = true
	rec := &recorder{File: o}
	dev := device(o)
	dev.File = rec
	_, path := mountT(t, dev)
	f := openFile(t, path, os.O_RDWR)
	rec.take()

	for _, tc := range []struct {
		name  string
		data  []byte
		off   int64
		wantN int
		errno syscall.Errno
	}{
		{"one word", le(0x00000101), 4 * 37, 4, 0},
		{"three bytes", []byte{1, 2, 3}, 4 * 38, 0, syscall.EINVAL},
		{"eight bytes", append(le(1), le(2)...), 4 * 38, 0, syscall.EINVAL},
		{"unaligned", le(1), 4*38 + 2, 0, syscall.EINVAL},
		{"at the end", le(1), 1024, 0, syscall.EFBIG},
		{"past the end", le(1), 4096, 0, syscall.EFBIG},
		{"write-locked word", le(1), 4 * 56, 0, syscall.EPERM},
		{"six bytes burn one word", []byte{0x10, 0, 0, 0, 0xff, 0xff}, 4 * 39, 4, 0},
	} {
		n, err := pwrite(t, f, tc.data, tc.off)
		if tc.errno != 0 {
			if !errors.Is(err, tc.errno) {
				t.Errorf("%s: pwrite(%d at %d) = %d, %v; want %v", tc.name, len(tc.data), tc.off, n, err, tc.errno)
			}
		} else if err != nil || n != tc.wantN {
			t.Errorf("%s: pwrite(%d at %d) = %d, %v; want %d", tc.name, len(tc.data), tc.off, n, err, tc.wantN)
		}
		calls := rec.take()
		if want := (call{true, tc.off, len(tc.data)}); len(calls) != 1 || calls[0] != want {
			t.Errorf("%s: the core saw %+v, want one call %+v", tc.name, calls, want)
		}
	}
	want := make([]uint32, len(o.Fuses))
	want[37], want[39] = 0x101, 0x10
	if !slices.Equal(o.Fuses, want) {
		t.Errorf("fuses after the writes differ from words 37 = 0x101, 39 = 0x10")
	}
	// Burning is OR: a later write never clears a bit.
	if _, err := pwrite(t, f, le(0x10), 4*37); err != nil || o.Fuses[37] != 0x111 {
		t.Errorf("second burn of word 37: %v, word = %#x; want 0x111", err, o.Fuses[37])
	}
	if got, err := pread(t, f, 4, 4*57); err != nil || !bytes.Equal(got, le(nvmem.ReadProtected)) {
		t.Errorf("read-protected word reads %x, %v; want %x", got, err, le(nvmem.ReadProtected))
	}
}

func TestFaultsReachTheCaller(t *testing.T) {
	o := patternOTP(t)
	clear(o.Fuses)
	o.Faults = []nvmem.Fault{
		{Kind: nvmem.FaultEIO, Write: 1},
		{Kind: nvmem.FaultTimeout, Write: 2},
		{Kind: nvmem.FaultTimeoutAfterBurn, Write: 3},
	}
	_, path := mountT(t, device(o))
	f := openFile(t, path, os.O_WRONLY)
	for i, want := range []syscall.Errno{syscall.EIO, syscall.ETIMEDOUT, syscall.ETIMEDOUT} {
		if _, err := pwrite(t, f, le(1<<i), 4*40); !errors.Is(err, want) {
			t.Errorf("write %d: %v, want %v", i+1, err, want)
		}
	}
	if o.Fuses[40] != 1<<2 {
		t.Errorf("word 40 = %#x: only the third write (timed out after the burn) burns", o.Fuses[40])
	}
}

// failing is a device whose writes fail with an error that is no errno,
// as a sim that cannot save a burn.
type failing struct{ nvmem.File }

func (failing) WriteAt([]byte, int64) (int, error) { return 0, errors.New("disk full") }

func TestOtherErrorsAreEIO(t *testing.T) {
	o := patternOTP(t)
	dev := device(o)
	dev.File = failing{o}
	_, path := mountT(t, dev)
	f := openFile(t, path, os.O_WRONLY)
	if _, err := pwrite(t, f, le(1), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("write = %v, want EIO", err)
	}
}

func TestReadOnlyRefusesOpenForWriting(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the point is that even root is refused")
	}
	o := patternOTP(t)
	rec := &recorder{File: o}
	dev := device(o)
	dev.File = rec
	dev.ReadOnly = true
	_, path := mountT(t, dev)
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC} {
		f, err := within(t, "open", func() (*os.File, error) { return os.OpenFile(path, flag, 0) })
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("open(%#x) as root = %v, want EACCES", flag, err)
		}
		if err == nil {
			f.Close()
		}
	}
	f := openFile(t, path, os.O_RDONLY)
	if got, err := pread(t, f, 4, 0); err != nil || !bytes.Equal(got, le(0xA0B0C000)) {
		t.Errorf("reading a read-only device: %x, %v", got, err)
	}
	for _, c := range rec.take() {
		if c.write {
			t.Errorf("a write reached a read-only device: %+v", c)
		}
	}
}

// Truncation is ignored, as kernfs ignores it: `> file` cannot empty the
// device, and its size stays.
func TestTruncateIsIgnored(t *testing.T) {
	o := patternOTP(t)
	rec := &recorder{File: o}
	dev := device(o)
	dev.File = rec
	_, path := mountT(t, dev)
	before := append([]uint32(nil), o.Fuses...)

	if _, err := within(t, "truncate", func() (int, error) { return 0, os.Truncate(path, 0) }); err != nil {
		t.Errorf("truncate = %v, want success", err)
	}
	f, err := within(t, "open O_TRUNC", func() (*os.File, error) { return os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0) })
	if err != nil {
		t.Fatalf("open O_TRUNC = %v, want success", err)
	}
	f.Close()
	st, err := within(t, "stat", func() (os.FileInfo, error) { return os.Stat(path) })
	if err != nil || st.Size() != 1024 {
		t.Errorf("after truncation: %v, %v; want 1024 bytes", st, err)
	}
	if !slices.Equal(o.Fuses, before) {
		t.Errorf("truncation changed the fuses")
	}
	if calls := rec.take(); len(calls) != 0 {
		t.Errorf("truncation reached the core: %+v", calls)
	}
	if _, err := within(t, "chmod", func() (int, error) { return 0, os.Chmod(path, 0o666) }); !errors.Is(err, syscall.EPERM) {
		t.Errorf("chmod = %v, want EPERM", err)
	}
}

// flock stays in the kernel (no lock forwarding): two opens of the file
// conflict as on sysfs, which is how otpprov keeps one writer per device.
func TestFlockIsTheKernels(t *testing.T) {
	_, path := mountT(t, device(patternOTP(t)))
	a := openFile(t, path, os.O_RDWR)
	b := openFile(t, path, os.O_RDWR)
	flock := func(f *os.File) error {
		_, err := within(t, "flock", func() (int, error) {
			return 0, syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		})
		return err
	}
	if err := flock(a); err != nil {
		t.Fatalf("first flock = %v", err)
	}
	if err := flock(b); !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Errorf("second flock = %v, want EWOULDBLOCK", err)
	}
	a.Close()
	if err := flock(b); err != nil {
		t.Errorf("flock after the holder closed = %v", err)
	}
}

// Calls from many processes' threads reach the core one at a time, as the
// driver's mutex makes them.
func TestCallsAreSerialised(t *testing.T) {
	o := nvmem.NewOTP(256) // no fuse map: no LOCK word to lock the others
	rec := &recorder{File: o, hold: 2 * time.Millisecond}
	dev := device(o)
	dev.File = rec
	_, path := mountT(t, dev)
	f := openFile(t, path, os.O_RDWR)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				k := int64(8*g + i)
				if _, err := syscall.Pwrite(int(f.Fd()), le(1<<g), 4*k); err != nil {
					errs <- err
				}
				if _, err := syscall.Pread(int(f.Fd()), make([]byte, 8), 4*k); err != nil {
					errs <- err
				}
			}
		}()
	}
	if _, err := within(t, "concurrent calls", func() (int, error) { wg.Wait(); return 0, nil }); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}
	if n := len(rec.take()); n != 64 {
		t.Errorf("the core saw %d calls, want 64", n)
	}
	if n := rec.overlaps.Load(); n != 0 {
		t.Errorf("%d calls reached the core while another was in it", n)
	}
}

// A sim served and closed keeps its counters and burns, as after an
// otpprov run.
func TestCloseSavesTheSim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "board")
	if err := nvmem.InitSim(dir, imx8mm(t).SoC, nil); err != nil {
		t.Fatal(err)
	}
	sim, err := nvmem.OpenSim(dir, nvmem.ReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	srv, err := Mount(mnt, Device{File: sim, Size: 1024, Source: "sim:" + dir})
	if errors.Is(err, ErrNoFUSE) || errors.Is(err, ErrNoPrivilege) {
		sim.Close()
		fuseUnavailable(t, err)
	}
	if err != nil {
		sim.Close()
		t.Fatal(err)
	}
	registerConnection(t, srv)
	unmounted := false
	t.Cleanup(func() {
		if !unmounted { // the test failed before its own unmount
			unmountT(t, srv)
		}
	})
	f := openFile(t, srv.Path(), os.O_RDWR)
	pread(t, f, 4, 0)
	pread(t, f, 8, 0)
	if _, err := pwrite(t, f, le(0x5), 4*37); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := within(t, "unmount", func() (int, error) { return 0, srv.Unmount() }); err != nil {
		t.Fatal(err)
	}
	unmounted = true
	delete(connections, srv.mountpoint)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := nvmem.ReadSimCounters(dir)
	if err != nil || c != (nvmem.Counters{Reads: 2, Writes: 1}) {
		t.Errorf("counters = %+v, %v; want 2 reads, 1 write", c, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "fuses.bin"))
	if err != nil || binary.LittleEndian.Uint32(b[4*37:]) != 0x5 {
		t.Errorf("fuses.bin word 37 not burned: %v", err)
	}
	// Calls after Close get EIO, as from a device that is gone.
	node := srv.file
	if _, errno := node.Read(context.Background(), nil, make([]byte, 4), 0); errno != syscall.EIO {
		t.Errorf("read after close = %v, want EIO", errno)
	}
}

func TestMountErrors(t *testing.T) {
	dev := device(patternOTP(t))
	if _, err := Mount(filepath.Join(t.TempDir(), "missing"), dev); err == nil || !strings.Contains(err.Error(), "mount point") {
		t.Errorf("Mount on a missing directory = %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Mount(file, dev); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Mount on a file = %v", err)
	}

	saved := devFUSE
	devFUSE = filepath.Join(t.TempDir(), "fuse")
	defer func() { devFUSE = saved }()
	_, err := Mount(t.TempDir(), dev)
	if !errors.Is(err, ErrNoFUSE) || !strings.Contains(err.Error(), devFUSE+" is missing") {
		t.Errorf("Mount without %s = %v, want ErrNoFUSE naming it", devFUSE, err)
	}
}

func TestErrnoOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{syscall.EPERM, syscall.EPERM},
		{fmt.Errorf("burning: %w", syscall.ETIMEDOUT), syscall.ETIMEDOUT},
		{&os.PathError{Op: "write", Path: "fuses.bin", Err: syscall.ENOSPC}, syscall.ENOSPC},
		{errors.New("disk full"), syscall.EIO},
		{syscall.Errno(0), syscall.EIO},
	} {
		if got := errnoOf(tc.err); got != tc.want {
			t.Errorf("errnoOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// With a compatible list, the mount holds of_node/compatible beside the
// nvmem file, as sysfs links the OCOTP's device tree node: read-only,
// NUL-terminated strings, and otpprov's device layer names the SoC from
// it as it does on a board.
func TestServesTheDeviceTreeNode(t *testing.T) {
	dev := device(patternOTP(t))
	dev.Compatible = []string{"fsl,imx8mn-ocotp", "fsl,imx8mm-ocotp", "syscon"}
	_, path := mountT(t, dev)
	node := filepath.Join(filepath.Dir(path), "of_node", "compatible")
	b, err := within(t, "read", func() ([]byte, error) { return os.ReadFile(node) })
	if want := "fsl,imx8mn-ocotp\x00fsl,imx8mm-ocotp\x00syscon\x00"; err != nil || string(b) != want {
		t.Fatalf("%s holds %q (%v), want %q", node, b, err, want)
	}
	st, err := within(t, "stat", func() (os.FileInfo, error) { return os.Stat(node) })
	if err != nil || st.Mode().Perm() != 0o444 {
		t.Errorf("%s: mode %v (%v), want 0444", node, st.Mode(), err)
	}
	if f, err := within(t, "open", func() (*os.File, error) { return os.OpenFile(node, os.O_WRONLY, 0) }); !errors.Is(err, syscall.EACCES) {
		t.Errorf("%s opened for writing: %v, want EACCES", node, err)
		if err == nil {
			f.Close()
		}
	}
	d, err := within(t, "open", func() (*nvmem.Device, error) { return nvmem.OpenKind(path, nvmem.ReadOnly, nvmem.KindNvmem) })
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if chip := d.Chip(); chip.SoC != "imx8mn" || chip.Evidence != "of_node/compatible fsl,imx8mn-ocotp" {
		t.Errorf("chip %v, want imx8mn from of_node/compatible fsl,imx8mn-ocotp", chip)
	}
}
