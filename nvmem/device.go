// Package nvmem reads and programs OTP words through a file that behaves like
// the Linux nvmem sysfs file of the imx-ocotp driver: the real sysfs file, a
// raw image file, or the OTP emulator ("sim:DIR").
//
// The driver's rules shape this code: reads of any size work and end at EOF,
// but a write must be exactly one aligned 4-byte word, so every write here is
// one 4-byte positioned write and never goes through buffered I/O.
package nvmem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/otpprov/otpprov/internal/inputfile"
)

// DefaultPath is where the imx-ocotp driver's nvmem file lives on i.MX boards.
const DefaultPath = "/sys/bus/nvmem/devices/imx-ocotp0/nvmem"

// ReadProtected is what the driver returns for a word the hardware will not
// let software read. The read itself succeeds, so the value must be
// recognised here: it means "unknown", never data.
const ReadProtected uint32 = 0xBADABADA

// maxDeviceBytes caps a full read so that pointing --device at an endless
// file (a character device, a FIFO) fails instead of eating memory. The
// largest OCOTP array is 1536 bytes.
const maxDeviceBytes = 1 << 20

// File is the part of the nvmem sysfs file the tool uses.
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Close() error
}

// Mode says whether a device is opened to be programmed.
type Mode int

const (
	ReadOnly Mode = iota
	ReadWrite
)

// Device is an opened OTP device.
type Device struct {
	Spec string // what the operator named: a path or sim:DIR
	f    File
	// size is what the last full read found, 0 before one: a word inside
	// it that reads short is the device misbehaving, not the end.
	size int
	// image: the file is a plain image, not the driver's sysfs file. No
	// fuse controller ORs what is written into what is burned, so
	// WriteWord does it: a delta written over a burned word must not
	// clear its bits.
	image bool
	// chip is which SoC the device says it belongs to (Chip).
	chip Chip
}

// Kind says how a device file is driven.
type Kind string

const (
	// KindAuto decides from the file: a file on sysfs is the driver's
	// nvmem file, any other regular file is an image, anything else is
	// refused.
	KindAuto Kind = "auto"
	// KindNvmem: the file keeps the driver's rules (one aligned word per
	// write, the controller ORs the burn in). The operator vouches for it,
	// e.g. for the FUSE-mounted emulator or a device node that does.
	KindNvmem Kind = "nvmem"
	// KindImage: a plain regular file holding the words; otpprov ORs each
	// write in itself.
	KindImage Kind = "image"
)

// Kinds lists the kinds in the order the help shows them.
var Kinds = []Kind{KindAuto, KindNvmem, KindImage}

// Open opens a device as KindAuto decides.
func Open(spec string, mode Mode) (*Device, error) { return OpenKind(spec, mode, KindAuto) }

// OpenKind opens a device. spec is a path to an nvmem file or raw image,
// or "sim:DIR" for the emulator. Opened ReadWrite, the device is also
// locked exclusively so that two applies never interleave their writes; a
// second opener gets ErrBusy.
func OpenKind(spec string, mode Mode, kind Kind) (*Device, error) {
	flag, op := os.O_RDONLY, "open"
	if mode == ReadWrite {
		flag, op = os.O_RDWR, opOpenWrite
	}
	if dir, ok := strings.CutPrefix(spec, "sim:"); ok {
		if kind != KindAuto {
			return nil, &Error{Op: op, Spec: spec, Word: -1,
				Err: fmt.Errorf("%w: --device-kind %s is for files; sim:DIR is always the emulator", ErrDeviceKind, kind)}
		}
		s, err := OpenSim(dir, mode)
		if err != nil {
			return nil, classify(op, spec, -1, err)
		}
		return &Device{Spec: spec, f: s, chip: Chip{SoC: s.Map.Name, Evidence: "sim.yaml"}}, nil
	}
	// Look before opening: opening a FIFO blocks, and a device node must
	// not be touched at all unless the operator said it keeps the rules.
	st, err := os.Stat(spec)
	if err != nil {
		return nil, classify(op, spec, -1, err)
	}
	if err := allowed(st, kind); err != nil {
		return nil, &Error{Op: op, Spec: spec, Word: -1, Err: err}
	}
	f, err := os.OpenFile(spec, flag, 0)
	if err != nil {
		return nil, classify(op, spec, -1, err)
	}
	if st, err := f.Stat(); err != nil || allowed(st, kind) != nil {
		f.Close() // replaced between the look and the open
		return nil, &Error{Op: op, Spec: spec, Word: -1, Err: fmt.Errorf("%w: the file changed while it was opened", ErrDeviceKind)}
	}
	if mode == ReadWrite {
		if err := lockFile(f); err != nil {
			f.Close()
			return nil, classify("lock", spec, -1, err)
		}
	}
	sysfs := onSysfs(f)
	d := &Device{Spec: spec, f: f, image: kind == KindImage || (kind == KindAuto && !sysfs)}
	// The device tree node is looked for beside the file the descriptor
	// really is: a symlink, or a path through one, must not choose which
	// node speaks for the device.
	dir := filepath.Dir(realPath(f, spec))
	switch {
	case sysfs:
		// The board itself: the OCOTP's node must be there (an nvmem file
		// without one is another device, an EEPROM), and soc0 confirms it.
		d.chip = probeChip(dir, socIDFile, true)
	default:
		// ocotp-emu or a device node vouched for: the node beside it, if
		// any; soc0 is this machine's, not its. A plain image has none.
		d.chip = probeChip(dir, "", false)
		if !d.chip.Known() && d.chip.Err() == nil {
			d.chip.why = "there is no device tree node (of_node/compatible) beside it"
			if d.image {
				d.chip.why = "a plain image file has no device tree node"
			}
		}
	}
	return d, nil
}

// realPath is where the opened file really is: the kernel's name for the
// descriptor, symlinks resolved.
func realPath(f *os.File, spec string) string {
	if p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd())); err == nil && filepath.IsAbs(p) {
		return p
	}
	if p, err := filepath.EvalSymlinks(spec); err == nil {
		return p
	}
	return spec
}

// Chip says which SoC the device belongs to, as far as it can tell: from
// sim.yaml for the emulator, from the OCOTP's device tree node and the
// kernel's soc_id for the nvmem file; a plain image cannot tell.
func (d *Device) Chip() Chip { return d.chip }

// allowed applies the device policy. The danger it guards against is a
// slip of the finger: --device /dev/mmcblk0boot0 or /dev/mtd0 would take
// "one aligned 4-byte write" quite differently from the OCOTP, and burn
// nothing while corrupting a boot partition, or OR nothing at all.
func allowed(st os.FileInfo, kind Kind) error {
	m := st.Mode()
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return fmt.Errorf("%w: it is a directory; name the nvmem file inside it", ErrDeviceKind)
	case m&(os.ModeNamedPipe|os.ModeSocket) != 0:
		// No positioned reads or writes, and opening a FIFO blocks:
		// whatever the operator says, this is no OTP array.
		return fmt.Errorf("%w: it is %s, which cannot hold fuse words at offsets", ErrDeviceKind, inputfile.What(m))
	case kind == KindNvmem:
		return nil
	}
	return fmt.Errorf("%w: it is %s. otpprov programs fuses through the imx-ocotp nvmem file in sysfs or a regular image file; "+
		"anything else may not keep the driver's rules (one aligned word per write, burns OR-ed in), so a write could land "+
		"where no fuse is. If you know this file keeps them, say so with --device-kind nvmem", ErrDeviceKind, inputfile.What(m))
}

// Image reports a plain image file: one byte layout for reads and writes.
func (d *Device) Image() bool { return d.image }

// NewDevice wraps any File, e.g. an in-memory emulator in tests.
func NewDevice(spec string, f File) *Device { return &Device{Spec: spec, f: f} }

// Close releases the device and its lock.
func (d *Device) Close() error { return d.f.Close() }

// ReadAll reads the whole device until EOF. The size is what the read
// returns, never st_size: older kernels report 0 for the sysfs file.
func (d *Device) ReadAll() ([]byte, error) {
	buf := make([]byte, 0, 2048)
	chunk := make([]byte, 4096)
	for {
		n, err := d.f.ReadAt(chunk, int64(len(buf)))
		buf = append(buf, chunk[:n]...)
		// Check the size before EOF ends the loop: the last read of a file
		// just over the limit comes back short, with EOF.
		if len(buf) > maxDeviceBytes {
			return nil, &Error{Op: "read", Spec: d.Spec, Word: -1,
				Err: fmt.Errorf("%w: more than %d bytes; this is not an OTP device", ErrNotDevice, maxDeviceBytes)}
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return nil, classify("read", d.Spec, -1, err)
		}
	}
	if len(buf) == 0 || len(buf)%4 != 0 {
		return nil, &Error{Op: "read", Spec: d.Spec, Word: -1,
			Err: fmt.Errorf("%w: read %d bytes, want a non-zero multiple of 4", ErrNotDevice, len(buf))}
	}
	d.size = len(buf)
	return buf, nil
}

// ReadWord reads word index with one 4-byte positioned read.
func (d *Device) ReadWord(index int) (uint32, error) {
	var b [4]byte
	n, err := d.f.ReadAt(b[:], int64(4*index))
	if n == 4 {
		return binary.LittleEndian.Uint32(b[:]), nil
	}
	inside := 4*index+4 <= d.size
	if errors.Is(err, io.EOF) && !inside {
		err = syscall.EFBIG // the file ends inside the word: past the end
	}
	if err == nil || errors.Is(err, io.EOF) {
		// Fewer bytes and no error: the device misbehaved, and the word's
		// content is unknown.
		return 0, &Error{Op: "read", Spec: d.Spec, Word: index, Err: fmt.Errorf("%w: %d of 4 bytes", ErrShortRead, n)}
	}
	return 0, classify("read", d.Spec, index, err)
}

// WriteWord programs word index with value: one aligned 4-byte positioned
// write, little-endian, exactly as the driver wants it. The hardware burns
// the 1 bits and ignores the 0 bits; on an image file WriteWord ORs the
// current word in first, so the image behaves as fuses do.
func (d *Device) WriteWord(index int, value uint32) error {
	if d.image {
		cur, err := d.ReadWord(index)
		if err != nil {
			return err
		}
		value |= cur
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], value)
	n, err := d.f.WriteAt(b[:], int64(4*index))
	if err == nil && n != 4 {
		err = io.ErrShortWrite
	}
	if err != nil {
		return classify("write", d.Spec, index, err)
	}
	return nil
}

// Words splits raw device bytes into little-endian words.
func Words(b []byte) []uint32 {
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}
