// Package ocotpfs serves an OTP device (the emulator core, nvmem.OTP or
// nvmem.Sim) as a real file through the kernel, with FUSE: a directory
// holding one regular file, nvmem, that behaves as the imx-ocotp driver's
// sysfs file does. Real programs (od, dd, otpprov itself) then meet the
// driver's errnos from the kernel, not from our own Go code.
//
// The driver's rules (read sizes, one aligned word per write, EFBIG past
// the end, EPERM, 0xBADABADA, faults) live in the core; this package only
// forwards each read(2) and write(2) to it, one call per call, and hands
// the core's errno back. What it does itself is what sysfs and kernfs do
// around the driver: the file's mode and size, EACCES when a read-only
// device is opened for writing, ignoring truncation, and serialising
// calls as the driver's mutex does.
//
// It is a separate program's business (cmd/ocotp-emu): the otpprov binary
// never links FUSE.
package ocotpfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/otpprov/otpprov/nvmem"
)

// FileName is the one file the mount holds, named as in sysfs.
const FileName = "nvmem"

// devFUSE is the kernel's FUSE device; a variable so that a test can point
// it at a missing path and see the error an operator would.
var devFUSE = "/dev/fuse"

var (
	// ErrNoFUSE: the kernel offers no FUSE device here.
	ErrNoFUSE = errors.New("FUSE is not available")
	// ErrNoPrivilege: mounting was refused; it needs root (CAP_SYS_ADMIN).
	ErrNoPrivilege = errors.New("not allowed to mount")
)

// Device is what is served: the core, and the facts sysfs shows about it.
type Device struct {
	File nvmem.File
	// Size is the nvmem file's size in bytes (4 × words), as sysfs
	// reports it in st_size.
	Size int64
	// ReadOnly: the device tree's read-only property. The file then has
	// no write bits and opening it for writing fails with EACCES.
	ReadOnly bool
	// Source names the device in the mount table, e.g. "sim:/tmp/board".
	Source string
	// Compatible is the compatible list of the OCOTP's device tree node.
	// When set, the mount also holds of_node/compatible, as the kernel
	// links it into the nvmem device's sysfs directory: otpprov learns
	// the emulated board's SoC the way it learns a real board's.
	Compatible []string
}

// Server is a mounted device.
type Server struct {
	mountpoint string
	fuse       *fuse.Server
	file       *nvmemNode
}

// Mount mounts dev on the directory mountpoint and starts serving. It
// mounts with mount(2) directly, so it needs root but no fusermount.
func Mount(mountpoint string, dev Device) (*Server, error) {
	if st, err := os.Stat(mountpoint); err != nil {
		return nil, fmt.Errorf("mount point: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("mount point %s is not a directory", mountpoint)
	}
	// go-fuse would say only "no such file or directory" for a missing
	// /dev/fuse; check first, so the operator learns what is missing.
	if f, err := os.OpenFile(devFUSE, os.O_RDWR, 0); err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%w: %s is missing (load the fuse module; in a container, pass the device, e.g. --device /dev/fuse)", ErrNoFUSE, devFUSE)
		case errors.Is(err, os.ErrPermission):
			return nil, fmt.Errorf("%w: %v (run as root)", ErrNoPrivilege, err)
		default:
			return nil, fmt.Errorf("%w: %v", ErrNoFUSE, err)
		}
	} else {
		f.Close()
	}

	node := &nvmemNode{dev: dev, mtime: time.Now()}
	root := &fs.Inode{}
	zero := time.Duration(0)
	opts := &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName: dev.Source,
			Name:   "ocotp",
			// Root may mount without the fusermount helper; strict, so a
			// failure says why instead of trying a helper that is not there.
			DirectMountStrict: true,
			// The kernel checks the mode as for any file (root passes);
			// the extra EACCES of sysfs for a read-only device is Open's.
			Options:    []string{"default_permissions"},
			AllowOther: true,
			// EnableLocks stays false: the kernel then keeps flock(2)
			// locks itself, per open file, as on sysfs, and two otpprov
			// processes conflict on this file exactly as on the real one.
		},
		// The file never changes shape; cache nothing anyway, so a stat
		// always reaches Getattr and tells the truth.
		EntryTimeout: &zero,
		AttrTimeout:  &zero,
		OnAdd: func(ctx context.Context) {
			ch := root.NewPersistentInode(ctx, node, fs.StableAttr{Mode: syscall.S_IFREG, Ino: 2})
			root.AddChild(FileName, ch, false)
			if len(dev.Compatible) > 0 {
				// A device tree string list: each string ends in NUL.
				var list []byte
				for _, c := range dev.Compatible {
					list = append(append(list, c...), 0)
				}
				ofNode := root.NewPersistentInode(ctx, &fs.Inode{}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: 3})
				root.AddChild("of_node", ofNode, false)
				compat := &readOnlyFile{fs.MemRegularFile{Data: list, Attr: fuse.Attr{Mode: 0o444}}}
				ofNode.AddChild("compatible", ofNode.NewPersistentInode(ctx, compat, fs.StableAttr{Mode: syscall.S_IFREG, Ino: 4}), false)
			}
		},
	}
	srv, err := fs.Mount(mountpoint, root, opts)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w on %s: %v (mounting needs root, or CAP_SYS_ADMIN)", ErrNoPrivilege, mountpoint, err)
		}
		return nil, fmt.Errorf("mounting on %s: %w", mountpoint, err)
	}
	return &Server{mountpoint: mountpoint, fuse: srv, file: node}, nil
}

// Path is the served file's path.
func (s *Server) Path() string { return s.mountpoint + "/" + FileName }

// Wait returns when the file system is unmounted, by Unmount or by an
// operator's umount.
func (s *Server) Wait() { s.fuse.Wait() }

// Unmount unmounts and waits until no request is being served. It fails
// (EBUSY) while a process has the file open or the mount point as its
// working directory.
func (s *Server) Unmount() error { return s.fuse.Unmount() }

// Detach unmounts lazily (MNT_DETACH): the mount disappears from the tree
// at once, and open files keep being served until they are closed.
func (s *Server) Detach() error { return syscall.Unmount(s.mountpoint, syscall.MNT_DETACH) }

// Close closes the device, after the calls in flight, so that a sim saves
// its counters. Calls that still arrive get EIO, as from a device gone.
func (s *Server) Close() error { return s.file.close() }

// readOnlyFile is a small file that refuses writing even to root, as a
// kernfs file without a store method does (the device tree's files).
type readOnlyFile struct{ fs.MemRegularFile }

var _ fs.NodeOpener = (*readOnlyFile)(nil)

func (f *readOnlyFile) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EACCES
	}
	return f.MemRegularFile.Open(ctx, flags)
}

// nvmemNode is the nvmem file. Every read and write goes to the core under
// mu, one call per call, as the driver serialises them under its mutex.
type nvmemNode struct {
	fs.Inode
	dev   Device
	mtime time.Time

	mu     sync.Mutex
	closed bool
}

var (
	_ fs.NodeOpener    = (*nvmemNode)(nil)
	_ fs.NodeGetattrer = (*nvmemNode)(nil)
	_ fs.NodeSetattrer = (*nvmemNode)(nil)
	_ fs.NodeReader    = (*nvmemNode)(nil)
	_ fs.NodeWriter    = (*nvmemNode)(nil)
	_ fs.NodeFsyncer   = (*nvmemNode)(nil)
)

// mode is the nvmem core's: 0644, without the write bit when the device
// is read-only (0444).
func (n *nvmemNode) mode() uint32 {
	if n.dev.ReadOnly {
		return 0o444
	}
	return 0o644
}

// Open answers as kernfs does for a sysfs file: a read-only device cannot
// be opened for writing, even by root (EACCES). Direct I/O keeps the page
// cache out: every read(2) and write(2) reaches Read and Write with the
// caller's own offset and size, and no word is ever served from a cache.
func (n *nvmemNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY && n.dev.ReadOnly {
		return nil, 0, syscall.EACCES
	}
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (n *nvmemNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.attr(&out.Attr)
	return 0
}

func (n *nvmemNode) attr(a *fuse.Attr) {
	a.Mode = syscall.S_IFREG | n.mode()
	a.Size = uint64(n.dev.Size)
	a.Nlink = 1
	a.SetTimes(&n.mtime, &n.mtime, &n.mtime)
}

// Setattr follows kernfs, which ignores size changes: truncate(2) and
// open(O_TRUNC) succeed and change nothing (that is why `echo > file`
// works on sysfs), so a shell redirection cannot empty the device, and
// the size stays what it is. Time changes are accepted and not kept.
// Mode and owner changes are refused: kernfs would keep them, but the
// read-only property is the device tree's, not something chmod may lift.
func (n *nvmemNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if in.Valid&(fuse.FATTR_MODE|fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		return syscall.EPERM
	}
	n.attr(&out.Attr)
	return 0
}

// Read forwards one read to the core. EOF from the core is an empty,
// successful read: the end of the file.
func (n *nvmemNode) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, syscall.EIO
	}
	got, err := n.dev.File.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errnoOf(err)
	}
	return fuse.ReadResultData(dest[:got]), 0
}

// Write forwards one write to the core and returns what the core wrote: a
// 6-byte write burns one word and returns 4, as on the hardware. A signal
// to the writer does not cancel a write that has reached the core: the
// driver does not abort a burn either.
func (n *nvmemNode) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return 0, syscall.EIO
	}
	written, err := n.dev.File.WriteAt(data, off)
	if err != nil {
		return 0, errnoOf(err)
	}
	return uint32(written), 0
}

// Fsync succeeds and does nothing, as kernfs's: a burn is in the fuses
// when the write returns.
func (n *nvmemNode) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	return 0
}

func (n *nvmemNode) close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	return n.dev.File.Close()
}

// errnoOf is the errno the caller sees: the core's own errno, or EIO for
// any other failure (a sim that cannot save a burn, say), which is what a
// driver reports for a device error it has no better word for.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errno
	}
	return syscall.EIO
}
