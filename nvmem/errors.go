package nvmem

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

const opOpenWrite = "open for writing"

// Kinds of device failure, in the words an operator needs. The errno the
// driver returned stays reachable through errors.As.
var (
	// ErrReadOnly: EACCES on open. The device tree marks the OCOTP
	// read-only, so sysfs refuses writing even to root.
	ErrReadOnly = errors.New("device is read-only (device tree)")
	// ErrLocked: EPERM on write. The controller flagged an error, most
	// often a write into a locked region. The driver can also return EPERM
	// from the shadow reload after a burn, so the word must be re-read.
	ErrLocked = errors.New("word is write-locked")
	// ErrBadOffset: EINVAL or EFBIG. The driver refused the offset or size.
	ErrBadOffset = errors.New("the driver rejected the offset")
	// ErrTimedOut: ETIMEDOUT. The controller timed out, possibly in the
	// shadow reload after the fuse was burned: the word must be re-read.
	ErrTimedOut = errors.New("the controller timed out; the fuse may have burned")
	// ErrIO: EIO or another error of the device.
	ErrIO = errors.New("I/O error")
	// ErrGone: ENODEV, ENXIO, ENOTCONN or ECONNABORTED. The device went
	// away under us: the driver was unbound, or the process serving the
	// file died (FUSE answers the call in flight with ECONNABORTED, later
	// ones with ENOTCONN).
	ErrGone = errors.New("the device disappeared")
	// ErrShortRead: a read returned fewer bytes than the word needs and no
	// error. The word's content is unknown.
	ErrShortRead = errors.New("short read")
	// ErrBusy: another process holds the device's lock: another otpprov,
	// ocotp-emu serving the sim, flock(1). The error names it where
	// /proc/locks does (see lockHolder).
	ErrBusy = errors.New("the device is locked by another process")
	// ErrNotDevice: the file does not look like an OTP array.
	ErrNotDevice = errors.New("not an OTP device")
	// ErrDeviceKind: the file is not one otpprov drives without being told
	// to (a device node, a FIFO); see Kind.
	ErrDeviceKind = errors.New("refusing this device")
	// ErrNotFound: the device does not exist.
	ErrNotFound = errors.New("device not found")
	// ErrPermission: the operator may not open the file (not root).
	ErrPermission = errors.New("permission denied")
)

// Error is a failed device operation.
type Error struct {
	Op   string // open, lock, read, write
	Spec string
	Word int // word index, -1 when the operation is not about one word
	Err  error
}

func (e *Error) Error() string {
	if e.Word >= 0 {
		return fmt.Sprintf("%s %s word %d (offset 0x%03x): %v", e.Op, e.Spec, e.Word, 4*e.Word, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Spec, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// kindError pairs the operator's word for a failure with the errno behind it.
type kindError struct {
	kind  error
	errno error
}

func (k *kindError) Error() string   { return fmt.Sprintf("%v (%v)", k.kind, k.errno) }
func (k *kindError) Unwrap() []error { return []error{k.kind, k.errno} }

// classify turns an errno from the driver (or the emulator, which returns
// the same errnos) into an Error of one of the kinds above.
func classify(op, spec string, word int, err error) error {
	var known *kindError
	if errors.As(err, &known) {
		return &Error{Op: op, Spec: spec, Word: word, Err: known}
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return &Error{Op: op, Spec: spec, Word: word, Err: err} // e.g. a sim's own config error
	}
	var kind error
	switch {
	case errno == syscall.EACCES && op == opOpenWrite && os.Geteuid() == 0:
		// Root is refused only when sysfs has no write bit on the file:
		// the device tree's read-only property.
		kind = ErrReadOnly
	case errno == syscall.EACCES:
		kind = ErrPermission
	case errno == syscall.EPERM && op == "write":
		kind = ErrLocked
	case errno == syscall.EPERM:
		kind = ErrPermission
	case errno == syscall.EINVAL || errno == syscall.EFBIG:
		kind = ErrBadOffset
	case errno == syscall.ETIMEDOUT:
		kind = ErrTimedOut
	case errno == syscall.ENOENT:
		kind = ErrNotFound
	case errno == syscall.ENODEV || errno == syscall.ENXIO || errno == syscall.ENOTCONN || errno == syscall.ECONNABORTED:
		kind = ErrGone
	case errno == syscall.EWOULDBLOCK:
		kind = ErrBusy
	default:
		kind = ErrIO
	}
	return &Error{Op: op, Spec: spec, Word: word, Err: &kindError{kind, errno}}
}
