// Package atomicfile writes a file whole or not at all: a reader (another
// otpprov, a station script, U-Boot loading a script) never sees half a
// plan or half a script, and after a power loss the file holds either its
// old content or the new, never a prefix or nothing.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/otpprov/otpprov/internal/inputfile"
)

// ErrNotRegular: the path names something other than a regular file (a
// directory, a device, a FIFO, a socket), which a rename would replace
// with a file: /dev/null would stop being a device.
var ErrNotRegular = errors.New("not a regular file")

// Error is a file that could not be written; it keeps its old content,
// or, if it did not exist, still does not.
type Error struct {
	Path    string
	Existed bool
	Err     error
}

func (e *Error) Error() string {
	if errors.Is(e.Err, ErrNotRegular) {
		return fmt.Sprintf("cannot write %s: %v; left as it is", e.Path, e.Err)
	}
	if e.Existed {
		return fmt.Sprintf("cannot write %s: %v; it keeps its old content", e.Path, e.Err)
	}
	return fmt.Sprintf("cannot write %s: %v; it was not created", e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Write replaces path with b, durably: a temporary file in the same
// directory is written, fsynced, given its mode and renamed over path,
// then the directory is fsynced, so that the rename itself survives a
// power loss. Without the first fsync a filesystem may commit the rename
// before the data, and a power loss leaves path empty: the zero-length
// plan. An existing path keeps its mode; a new one gets perm. A symbolic
// link is followed, as a shell's > does: the file it names is replaced.
// On any error path is as it was and the temporary file is gone.
func Write(path string, b []byte, perm os.FileMode) error {
	return write(path, b, perm, true)
}

// WriteNoSync is Write without the fsyncs: whole or not at all for a
// reader, but not across a power loss. It is for the emulator's counters,
// rewritten at every write call, where an fsync would be bookkeeping the
// real driver does not do.
func WriteNoSync(path string, b []byte, perm os.FileMode) error {
	return write(path, b, perm, false)
}

// Check says whether Write could replace path, before any work is done
// for it: path, or the file a link names, is a regular file or does not
// exist, and its directory is a directory this process may write in.
func Check(path string) error {
	_, _, err := target(path)
	return err
}

// target resolves path to the file to replace: the file itself, or the
// one a symbolic link names; and reports whether it exists and its mode.
func target(path string) (string, fs.FileInfo, error) {
	fail := func(existed bool, err error) (string, fs.FileInfo, error) {
		return "", nil, &Error{Path: path, Existed: existed, Err: err}
	}
	real := path
	fi, err := os.Lstat(path)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if real, err = filepath.EvalSymlinks(path); err != nil {
			return fail(true, fmt.Errorf("it is a symbolic link that cannot be followed: %w", unwrapPath(err)))
		}
		fi, err = os.Stat(real)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fi = nil
	case err != nil:
		return fail(true, unwrapPath(err))
	case !fi.Mode().IsRegular():
		return fail(true, fmt.Errorf("it is %s, %w", inputfile.What(fi.Mode()), ErrNotRegular))
	}
	dir := filepath.Dir(real)
	if di, err := os.Stat(dir); err != nil {
		return fail(fi != nil, fmt.Errorf("its directory: %w", unwrapPath(err)))
	} else if !di.IsDir() {
		return fail(fi != nil, fmt.Errorf("its directory %s is not a directory", dir))
	}
	if err := syscall.Access(dir, 2 /* W_OK */); err != nil {
		return fail(fi != nil, fmt.Errorf("its directory %s: %w", dir, err))
	}
	return real, fi, nil
}

func write(path string, b []byte, perm os.FileMode, durable bool) error {
	real, fi, err := target(path)
	if err != nil {
		return err
	}
	mode := perm
	if fi != nil {
		mode = fi.Mode().Perm()
	}
	fail := func(err error) error { return &Error{Path: path, Existed: fi != nil, Err: unwrapPath(err)} }
	dir := filepath.Dir(real)
	tmp, err := os.CreateTemp(dir, ".otpprov-*.tmp")
	if err != nil {
		return fail(err)
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil && durable {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), real)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fail(err)
	}
	if durable {
		if err := syncDir(dir); err != nil {
			// The new content is in place, but the rename may not
			// survive a power loss: not done, say so.
			return fmt.Errorf("wrote %s, but its directory could not be synced to disk (a power loss may undo the write): %w", path, err)
		}
	}
	return nil
}

// syncDir fsyncs a directory, which makes the entries renamed into it
// durable. A filesystem that cannot (EINVAL: some FUSE and network ones)
// has nothing more to offer: that is not an error of the write.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// unwrapPath drops the *PathError's operation and temporary name: the
// error names the file the operator gave.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
