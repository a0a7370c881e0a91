// Command floor does the device I/O of an apply and nothing else: open the
// file, read it whole, then per word one 4-byte pwrite and one 4-byte
// pread, then read it whole again. No manifest, no plan, no report. It
// is procbench's floor: what any Go program applying these words on this
// device must spend at least.
//
//	floor DEV WORD=VALUE...   (WORD is the word index, VALUE hex)
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: floor DEV WORD=VALUE...")
	}
	f, err := os.OpenFile(args[0], os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := readAll(f); err != nil {
		return err
	}
	for _, a := range args[1:] {
		k, v, ok := strings.Cut(a, "=")
		word, err1 := strconv.Atoi(k)
		value, err2 := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 32)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("%q is not WORD=VALUE", a)
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(value))
		if _, err := f.WriteAt(b[:], 4*int64(word)); err != nil {
			return err
		}
		if _, err := f.ReadAt(b[:], 4*int64(word)); err != nil {
			return err
		}
		if got := binary.LittleEndian.Uint32(b[:]); got != uint32(value) {
			return fmt.Errorf("word %d reads 0x%08x, want 0x%08x", word, got, value)
		}
	}
	return readAll(f)
}

// readAll reads the file to EOF, as otpprov's full read does.
func readAll(f *os.File) error {
	buf := make([]byte, 4096)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		off += int64(n)
		if err == io.EOF || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
