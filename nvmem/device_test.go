package nvmem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
)

func imx8mm(t testing.TB) fusemap.SoC {
	t.Helper()
	soc, err := fusemap.Load("imx8mm")
	if err != nil {
		t.Fatal(err)
	}
	return soc.SoC
}

// writeImage writes b to a new file and returns its path.
func writeImage(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "otp.bin")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testImage is a 1024-byte image where no two words are equal and word 37
// (bank 9 word 1) is 0.
func testImage() []byte {
	b := randomImage(1024, 7)
	clear(b[148:152])
	return b
}

func openT(t *testing.T, spec string, mode Mode) *Device {
	t.Helper()
	d, err := Open(spec, mode)
	if err != nil {
		t.Fatalf("Open(%q, %v) = %v", spec, mode, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// wantKind checks that err is an *Error of kind with errno behind it.
func wantKind(t *testing.T, err, kind error, errno syscall.Errno) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v (%v)", kind, errno)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want an *Error", err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("err = %v, want kind %v", err, kind)
	}
	for _, other := range []error{ErrReadOnly, ErrLocked, ErrBadOffset, ErrTimedOut, ErrIO, ErrBusy, ErrNotDevice, ErrNotFound, ErrPermission} {
		if other != kind && errors.Is(err, other) {
			t.Errorf("err = %v is also of kind %v", err, other)
		}
	}
	if errno != 0 {
		var got syscall.Errno
		if !errors.As(err, &got) || got != errno {
			t.Errorf("errno of %v = %v, want %v", err, got, errno)
		}
	}
}

func TestDeviceOverOTP(t *testing.T) {
	soc := imx8mm(t)
	otp := NewOTP(soc.Words)
	d := NewDevice("emulator", otp)

	k := soc.ReadIndex(9, 1)
	if err := d.WriteWord(k, 0x12345678); err != nil {
		t.Fatal(err)
	}
	if otp.Fuses[k] != 0x12345678 {
		t.Errorf("Fuses[%d] = %#08x, want 0x12345678", k, otp.Fuses[k])
	}
	if otp.Writes != 1 {
		t.Errorf("WriteWord made %d write calls, want 1", otp.Writes)
	}
	otp.Reads = 0
	v, err := d.ReadWord(k)
	if err != nil || v != 0x12345678 {
		t.Errorf("ReadWord(%d) = %#08x, %v; want 0x12345678, nil", k, v, err)
	}
	if otp.Reads != 1 {
		t.Errorf("ReadWord made %d read calls, want 1", otp.Reads)
	}
	// OR, as the fuses do.
	if err := d.WriteWord(k, 0x80000001); err != nil {
		t.Fatal(err)
	}
	if v, _ := d.ReadWord(k); v != 0x92345679 {
		t.Errorf("after a second write, ReadWord = %#08x, want 0x92345679", v)
	}
	// The last word works.
	if err := d.WriteWord(soc.Words-1, 0xCAFE); err != nil {
		t.Fatal(err)
	}
	otp.ReadProtected[3] = true

	b, err := d.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != soc.Bytes() {
		t.Fatalf("ReadAll read %d bytes, want %d", len(b), soc.Bytes())
	}
	w := Words(b)
	want := make([]uint32, soc.Words)
	want[k], want[3], want[soc.Words-1] = 0x92345679, ReadProtected, 0xCAFE
	if !slices.Equal(w, want) {
		t.Errorf("ReadAll words differ:\n got %08x\nwant %08x", w, want)
	}
	if v, err := d.ReadWord(3); v != ReadProtected || err != nil {
		t.Errorf("ReadWord(protected) = %#08x, %v; want 0xbadabada, nil", v, err)
	}
}

func TestDeviceImageFile(t *testing.T) {
	img := testImage()
	path := writeImage(t, img)

	d := openT(t, path, ReadWrite)
	got, err := d.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, img) {
		t.Fatal("ReadAll of the image differs from the file")
	}
	for _, k := range []int{0, 1, 37, 255} {
		v, err := d.ReadWord(k)
		if err != nil || v != word(img, k) {
			t.Errorf("ReadWord(%d) = %#08x, %v; want %#08x", k, v, err, word(img, k))
		}
	}

	soc := imx8mm(t)
	k := soc.ReadIndex(9, 1)
	if k != 37 || soc.Offset(9, 1) != 148 {
		t.Fatalf("bank 9 word 1 is index %d offset %d, want 37 and 148", k, soc.Offset(9, 1))
	}
	if err := d.WriteWord(k, 0x12345678); err != nil {
		t.Fatal(err)
	}
	// The write reaches the file at once, before Close.
	disk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(img)
	copy(want[148:], []byte{0x78, 0x56, 0x34, 0x12})
	if !bytes.Equal(disk, want) {
		for i := range disk {
			if i >= len(want) || disk[i] != want[i] {
				t.Errorf("byte %d = %#02x, want %#02x", i, disk[i], want[i])
			}
		}
		if len(disk) != len(want) {
			t.Errorf("the image is %d bytes, want %d", len(disk), len(want))
		}
	}
	if v, err := d.ReadWord(k); v != 0x12345678 || err != nil {
		t.Errorf("ReadWord(%d) after the write = %#08x, %v", k, v, err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}

	// A fresh open sees the write.
	d2 := openT(t, path, ReadOnly)
	if v, err := d2.ReadWord(k); v != 0x12345678 || err != nil {
		t.Errorf("ReadWord(%d) after reopening = %#08x, %v", k, v, err)
	}
	if d2.Spec != path {
		t.Errorf("Spec = %q, want %q", d2.Spec, path)
	}
}

func TestDeviceReadOnlyFileRefusesWrites(t *testing.T) {
	img := testImage()
	path := writeImage(t, img)
	d := openT(t, path, ReadOnly)
	err := d.WriteWord(37, 1)
	wantKind(t, err, ErrIO, syscall.EBADF)
	if disk, _ := os.ReadFile(path); !bytes.Equal(disk, img) {
		t.Error("a write through a read-only device changed the file")
	}
}

func TestDeviceErrors(t *testing.T) {
	soc := imx8mm(t)
	for _, tc := range []struct {
		name  string
		setup func(o *OTP)
		op    func(d *Device) error
		kind  error
		errno syscall.Errno
		word  int
		burns bool // word 5 holds 1 afterwards
	}{
		{"write-locked", func(o *OTP) { o.WriteLocked[5] = true },
			func(d *Device) error { return d.WriteWord(5, 1) }, ErrLocked, syscall.EPERM, 5, false},
		{"eio", func(o *OTP) { o.Faults = []Fault{{Kind: FaultEIO, Write: 1}} },
			func(d *Device) error { return d.WriteWord(5, 1) }, ErrIO, syscall.EIO, 5, false},
		{"etimedout", func(o *OTP) { o.Faults = []Fault{{Kind: FaultTimeout, Write: 1}} },
			func(d *Device) error { return d.WriteWord(5, 1) }, ErrTimedOut, syscall.ETIMEDOUT, 5, false},
		{"etimedout after burn", func(o *OTP) { o.Faults = []Fault{{Kind: FaultTimeoutAfterBurn, Write: 1}} },
			func(d *Device) error { return d.WriteWord(5, 1) }, ErrTimedOut, syscall.ETIMEDOUT, 5, true},
		{"eperm fault", func(o *OTP) { o.Faults = []Fault{{Kind: FaultEPERM, Write: 1}} },
			func(d *Device) error { return d.WriteWord(5, 1) }, ErrLocked, syscall.EPERM, 5, false},
		{"device vanishes", func(o *OTP) { o.Faults = []Fault{{Kind: FaultVanish, Write: 1}} },
			func(d *Device) error { return d.WriteWord(5, 1) }, ErrGone, syscall.ENODEV, 5, false},
		{"write past the end", func(o *OTP) {},
			func(d *Device) error { return d.WriteWord(soc.Words, 1) }, ErrBadOffset, syscall.EFBIG, soc.Words, false},
		{"write far past the end", func(o *OTP) {},
			func(d *Device) error { return d.WriteWord(1<<20, 1) }, ErrBadOffset, syscall.EFBIG, 1 << 20, false},
		{"write at a negative index", func(o *OTP) {},
			func(d *Device) error { return d.WriteWord(-1, 1) }, ErrBadOffset, syscall.EINVAL, -1, false},
		{"read past the end", func(o *OTP) {},
			func(d *Device) error { _, err := d.ReadWord(soc.Words); return err }, ErrBadOffset, syscall.EFBIG, soc.Words, false},
		{"read at a negative index", func(o *OTP) {},
			func(d *Device) error { _, err := d.ReadWord(-2); return err }, ErrBadOffset, syscall.EINVAL, -2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			otp := NewOTP(soc.Words)
			tc.setup(otp)
			err := tc.op(NewDevice("sim:board", otp))
			wantKind(t, err, tc.kind, tc.errno)
			var e *Error
			if errors.As(err, &e) && (e.Word != tc.word || e.Spec != "sim:board") {
				t.Errorf("Error{Word: %d, Spec: %q}, want Word %d, Spec sim:board", e.Word, e.Spec, tc.word)
			}
			if got := otp.Fuses[5] == 1; got != tc.burns {
				t.Errorf("word 5 burned = %v, want %v", got, tc.burns)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	otp := NewOTP(256)
	otp.WriteLocked[37] = true
	err := NewDevice("sim:board", otp).WriteWord(37, 1)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"write", "sim:board", "word 37", "0x094", ErrLocked.Error(), syscall.EPERM.Error()} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	e := &Error{Op: "read", Spec: "x", Word: -1, Err: ErrIO}
	if got := e.Error(); got != "read x: I/O error" {
		t.Errorf("Error() = %q", got)
	}
}

func TestClassify(t *testing.T) {
	root := os.Geteuid() == 0
	eaccesOpenWrite := ErrPermission
	if root {
		eaccesOpenWrite = ErrReadOnly
	}
	for _, tc := range []struct {
		op    string
		err   error
		kind  error
		errno syscall.Errno
	}{
		{opOpenWrite, syscall.EACCES, eaccesOpenWrite, syscall.EACCES},
		{opOpenWrite, &os.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, eaccesOpenWrite, syscall.EACCES},
		{"open", syscall.EACCES, ErrPermission, syscall.EACCES},
		{"write", syscall.EPERM, ErrLocked, syscall.EPERM},
		{"open", syscall.EPERM, ErrPermission, syscall.EPERM},
		{"read", syscall.EINVAL, ErrBadOffset, syscall.EINVAL},
		{"write", syscall.EFBIG, ErrBadOffset, syscall.EFBIG},
		{"write", syscall.ETIMEDOUT, ErrTimedOut, syscall.ETIMEDOUT},
		{"open", &os.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, ErrNotFound, syscall.ENOENT},
		{"lock", syscall.EWOULDBLOCK, ErrBusy, syscall.EWOULDBLOCK},
		{"write", syscall.EIO, ErrIO, syscall.EIO},
		{"write", syscall.ENOSPC, ErrIO, syscall.ENOSPC},
		{"open", &kindError{ErrReadOnly, syscall.EACCES}, ErrReadOnly, syscall.EACCES},
	} {
		err := classify(tc.op, "dev", 3, tc.err)
		t.Run(tc.op+" "+tc.err.Error(), func(t *testing.T) {
			wantKind(t, err, tc.kind, tc.errno)
		})
	}
	// An error without an errno (a sim's config) keeps its own words: it
	// is wrapped, never labelled with a kind.
	inner := errors.New("sim.yaml: unknown soc")
	err := classify("open", "sim:x", -1, inner)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, inner) {
		t.Fatalf("classify(non-errno) = %v (%T), want an *Error wrapping it", err, err)
	}
	for _, kind := range []error{ErrReadOnly, ErrLocked, ErrBadOffset, ErrTimedOut, ErrIO, ErrBusy, ErrNotDevice, ErrNotFound, ErrPermission} {
		if errors.Is(err, kind) {
			t.Errorf("classify(non-errno) = %v, labelled %v", err, kind)
		}
	}
}

func TestOpenNotFound(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "nvmem")
	for _, mode := range []Mode{ReadOnly, ReadWrite} {
		d, err := Open(missing, mode)
		if d != nil {
			d.Close()
		}
		wantKind(t, err, ErrNotFound, syscall.ENOENT)
		if err != nil && !strings.Contains(err.Error(), missing) {
			t.Errorf("message %q does not name the path", err)
		}
	}
}

func TestOpenBusy(t *testing.T) {
	path := writeImage(t, testImage())
	first := openT(t, path, ReadWrite)

	second, err := Open(path, ReadWrite)
	if second != nil {
		second.Close()
	}
	wantKind(t, err, ErrBusy, syscall.EWOULDBLOCK)

	// Reading needs no lock.
	r := openT(t, path, ReadOnly)
	if _, err := r.ReadAll(); err != nil {
		t.Errorf("ReadAll while locked = %v", err)
	}

	// Closing releases the lock.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third := openT(t, path, ReadWrite)
	if err := third.WriteWord(37, 1); err != nil {
		t.Errorf("WriteWord after the lock was released = %v", err)
	}
}

func TestReadAllRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		ok   bool
	}{
		{"empty", 0, false},
		{"5 bytes", 5, false},
		{"1 byte", 1, false},
		{"1026 bytes", 1026, false},
		{"4 bytes", 4, true},
		{"1 MiB", maxDeviceBytes, true},
		{"1 MiB and a word", maxDeviceBytes + 4, false},
		{"1 MiB and a chunk", maxDeviceBytes + 4096, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := randomImage(tc.size+4-tc.size%4, int64(tc.size))[:tc.size]
			d := openT(t, writeImage(t, b), ReadOnly)
			got, err := d.ReadAll()
			if tc.ok {
				if err != nil || !bytes.Equal(got, b) {
					t.Errorf("ReadAll = %d bytes, %v; want the %d bytes of the file", len(got), err, len(b))
				}
				return
			}
			if got != nil {
				t.Errorf("ReadAll returned %d bytes with its error", len(got))
			}
			wantKind(t, err, ErrNotDevice, 0)
		})
	}
}

// shortFile serves data at most max bytes per ReadAt and reports EOF only
// with a zero count, as a file whose st_size means nothing may.
type shortFile struct {
	data []byte
	max  int
	err  error // returned instead of data once off reaches errAt
	at   int
}

func (f *shortFile) ReadAt(p []byte, off int64) (int, error) {
	if f.err != nil && off >= int64(f.at) {
		return 0, f.err
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	return copy(p[:min(len(p), f.max)], f.data[off:]), nil
}
func (f *shortFile) WriteAt(p []byte, off int64) (int, error) { return 0, syscall.EBADF }
func (f *shortFile) Close() error                             { return nil }

// endlessFile is a character device or FIFO: it never ends. (It does end
// at 4 MiB, so that a ReadAll without its cap fails instead of hanging.)
type endlessFile struct{ calls int }

func (f *endlessFile) ReadAt(p []byte, off int64) (int, error) {
	f.calls++
	if off >= 4*maxDeviceBytes {
		return 0, io.EOF
	}
	return len(p), nil
}
func (f *endlessFile) WriteAt(p []byte, off int64) (int, error) {
	return 0, syscall.EBADF
}
func (f *endlessFile) Close() error { return nil }

func TestReadAllShortReads(t *testing.T) {
	img := testImage()
	got, err := NewDevice("short", &shortFile{data: img, max: 12}).ReadAll()
	if err != nil || !bytes.Equal(got, img) {
		t.Errorf("ReadAll over 12-byte reads = %d bytes, %v; want the %d-byte image", len(got), err, len(img))
	}
}

func TestReadAllZeroReadEnds(t *testing.T) {
	// A read of 0 bytes without an error ends the device, as read(2) does.
	img := testImage()
	d := NewDevice("zero", readFunc(func(p []byte, off int64) (int, error) {
		if off >= 64 {
			return 0, nil
		}
		return copy(p, img[off:64]), nil
	}))
	got, err := d.ReadAll()
	if err != nil || len(got) != 64 {
		t.Errorf("ReadAll = %d bytes, %v; want 64, nil", len(got), err)
	}
}

type readFunc func(p []byte, off int64) (int, error)

func (r readFunc) ReadAt(p []byte, off int64) (int, error) { return r(p, off) }
func (r readFunc) WriteAt(p []byte, off int64) (int, error) {
	return 0, syscall.EBADF
}
func (r readFunc) Close() error { return nil }

func TestReadAllEndless(t *testing.T) {
	f := &endlessFile{}
	got, err := NewDevice("/dev/zero", f).ReadAll()
	if got != nil {
		t.Errorf("ReadAll returned %d bytes", len(got))
	}
	wantKind(t, err, ErrNotDevice, 0)
	if f.calls > maxDeviceBytes/4096+2 {
		t.Errorf("ReadAll made %d reads before giving up", f.calls)
	}
}

func TestReadAllError(t *testing.T) {
	f := &shortFile{data: testImage(), max: 16, err: syscall.EIO, at: 64}
	got, err := NewDevice("flaky", f).ReadAll()
	if got != nil {
		t.Errorf("ReadAll returned %d bytes with its error", len(got))
	}
	wantKind(t, err, ErrIO, syscall.EIO)
}

// TestReadWordShortReadNoError: fewer bytes and no error is the device
// misbehaving, reported as such, never taken for a value.
func TestReadWordShortReadNoError(t *testing.T) {
	otp := NewOTP(16)
	otp.Faults = []Fault{{Kind: FaultShortRead, Write: 1}}
	d := NewDevice("sim:board", otp)
	if err := d.WriteWord(3, 1); err != nil {
		t.Fatal(err)
	}
	v, err := d.ReadWord(3)
	if !errors.Is(err, ErrShortRead) || v != 0 {
		t.Fatalf("ReadWord = %#x, %v; want 0, a short read", v, err)
	}
	if v, err := d.ReadWord(3); err != nil || v != 1 {
		t.Errorf("the next ReadWord = %#x, %v; want 1, nil", v, err)
	}
}

func TestReadWordShortRead(t *testing.T) {
	// A file that ends inside a word: the word is past the end.
	path := writeImage(t, append(testImage(), 0xAA, 0xBB))
	d := openT(t, path, ReadOnly)
	_, err := d.ReadWord(256)
	wantKind(t, err, ErrBadOffset, syscall.EFBIG)
	if v, err := d.ReadWord(255); err != nil || v != word(testImage(), 255) {
		t.Errorf("ReadWord(255) = %#08x, %v", v, err)
	}
}

func TestWords(t *testing.T) {
	got := Words([]byte{0x78, 0x56, 0x34, 0x12, 0xda, 0xba, 0xda, 0xba, 0xff})
	if want := []uint32{0x12345678, ReadProtected}; !slices.Equal(got, want) {
		t.Errorf("Words = %08x, want %08x", got, want)
	}
	if got := Words(nil); len(got) != 0 {
		t.Errorf("Words(nil) = %v", got)
	}
}

// A raw image has no fuse controller behind it: the device ORs in software,
// so a second burn into a word keeps the bits of the first, as fuses do.
func TestDeviceImageORs(t *testing.T) {
	path := writeImage(t, make([]byte, 1024))
	d := openT(t, path, ReadWrite)
	if !d.image {
		t.Fatal("a file in a temp dir was taken for the sysfs file")
	}
	for _, v := range []uint32{0x0000000f, 0x00000100, 0x00000001} {
		if err := d.WriteWord(56, v); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := d.ReadWord(56); v != 0x0000010f || err != nil {
		t.Fatalf("ReadWord = %#08x, %v; want 0x0000010f", v, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(b[224:]); got != 0x0000010f {
		t.Fatalf("image holds %#08x at offset 224", got)
	}
}

// TestDevicePolicy: only regular files are driven unless the operator
// says the file keeps the driver's rules; nothing is opened before that.
func TestDevicePolicy(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: making device nodes with mknod needs root")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	blk := filepath.Join(dir, "blk")
	if err := syscall.Mknod(blk, syscall.S_IFBLK|0o600, 7<<8); err != nil { // loop0's numbers; never opened
		t.Fatal(err)
	}
	img := writeImage(t, testImage())
	for _, tc := range []struct {
		spec  string
		kind  Kind
		want  string // "" opens
		image bool
	}{
		{"/dev/zero", KindAuto, "it is a character device", false},
		{"/dev/zero", KindImage, "it is a character device", false},
		{"/dev/zero", KindNvmem, "", false},
		{blk, KindAuto, "it is a block device", false},
		{fifo, KindAuto, "it is a FIFO", false},
		{dir, KindAuto, "it is a directory", false},
		{dir, KindNvmem, "it is a directory", false},
		{img, KindAuto, "", true},
		{img, KindImage, "", true},
		{img, KindNvmem, "", false},
		{"sim:" + dir, KindNvmem, "sim:DIR is always the emulator", false},
	} {
		t.Run(filepath.Base(tc.spec)+"/"+string(tc.kind), func(t *testing.T) {
			d, err := OpenKind(tc.spec, ReadOnly, tc.kind)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("OpenKind = %v, want it opened", err)
				}
				defer d.Close()
				if d.Image() != tc.image {
					t.Errorf("Image() = %v, want %v", d.Image(), tc.image)
				}
				return
			}
			if !errors.Is(err, ErrDeviceKind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OpenKind = %v, want ErrDeviceKind saying %q", err, tc.want)
			}
		})
	}
	// The endless character device, once vouched for, is still caught by
	// the size cap rather than read forever.
	d, err := OpenKind("/dev/zero", ReadOnly, KindNvmem)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.ReadAll(); !errors.Is(err, ErrNotDevice) {
		t.Errorf("ReadAll(/dev/zero) = %v, want ErrNotDevice", err)
	}
}

// eofFile reads like a file whose reads at one offset come back empty with
// EOF, as a FUSE file's short read does through os.File.
type eofFile struct {
	data []byte
	at   int64
}

func (f *eofFile) ReadAt(p []byte, off int64) (int, error) {
	if off == f.at && len(p) == 4 {
		return 0, io.EOF
	}
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	return copy(p, f.data[off:]), nil
}
func (f *eofFile) WriteAt(p []byte, off int64) (int, error) { return 0, syscall.EIO }
func (f *eofFile) Close() error                             { return nil }

// TestReadWordEOFInsideDevice: EOF for a word the full read showed is a
// short read; past the end it is the end.
func TestReadWordEOFInsideDevice(t *testing.T) {
	d := NewDevice("fuse", &eofFile{data: testImage(), at: 4 * 9})
	if _, err := d.ReadWord(9); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("before any full read: %v, want the end of the file (nothing known)", err)
	}
	if _, err := d.ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadWord(9); !errors.Is(err, ErrShortRead) {
		t.Errorf("word 9 after the full read: %v, want a short read", err)
	}
	if _, err := d.ReadWord(256); !errors.Is(err, ErrBadOffset) {
		t.Errorf("word 256: %v, want past the end", err)
	}
}
