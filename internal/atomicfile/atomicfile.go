// Package atomicfile writes a file whole or not at all: a reader (another
// otpprov, a station script) never sees half a plan or half a counter file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with b through a temporary file in the same
// directory and a rename.
func Write(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".otpprov-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
