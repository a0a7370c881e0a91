// Package ocotpemu is the ocotp-emu command: it serves an otpprov sim
// (sim:DIR) as MOUNTPOINT/nvmem through the kernel, so that any program
// can use it as the imx-ocotp driver's sysfs file. It lives outside
// cmd/ocotp-emu so that otpprov's end-to-end tests can run it as a real
// process of their own test binary.
package ocotpemu

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/otpprov/otpprov/internal/ocotpfs"
	"github.com/otpprov/otpprov/nvmem"
)

const usage = "usage: ocotp-emu SIMDIR MOUNTPOINT"

// Main runs the command and returns its exit code: 0 after a clean
// shutdown, 1 on bad arguments, a sim that cannot be opened or a failed
// mount.
func Main(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ocotp-emu: error: "+format+"\n", a...)
		return 1
	}
	hint := func(format string, a ...any) {
		fmt.Fprintf(stderr, "ocotp-emu: hint: "+format+"\n", a...)
	}
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(stdout, usage)
		fmt.Fprintln(stdout, "Serves the sim in SIMDIR (made by 'otpprov sim init') as MOUNTPOINT/nvmem,")
		fmt.Fprintln(stdout, "a file with the imx-ocotp driver's rules, until SIGINT, SIGTERM or umount.")
		return 0
	}
	if len(args) != 2 {
		code := fail("want 2 arguments, got %d", len(args))
		hint("%s", usage)
		return code
	}
	dir, mountpoint := args[0], args[1]

	cfg, soc, err := nvmem.ReadSimConfig(dir)
	if err != nil {
		return fail("%v", err)
	}
	// A read-only sim is opened read-only: it refuses writing (EACCES) at
	// open, as sysfs does, before a write could reach it.
	mode, access := nvmem.ReadWrite, "read-write"
	if cfg.ReadOnly {
		mode, access = nvmem.ReadOnly, "read-only"
	}
	sim, err := nvmem.OpenSim(dir, mode)
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fail("sim %s is in use by another process (otpprov or ocotp-emu)", dir)
		}
		return fail("sim %s: %v", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	srv, err := ocotpfs.Mount(mountpoint, ocotpfs.Device{
		File:     sim,
		Size:     int64(soc.Bytes()),
		ReadOnly: cfg.ReadOnly,
		Source:   "sim:" + abs,
		// The node a board of this SoC has, so that otpprov knows the
		// emulated board's SoC as it knows a real one's.
		Compatible: append(append([]string{}, soc.Compatible...), "syscon"),
	})
	if err != nil {
		sim.Close()
		code := fail("%v", err)
		switch {
		case errors.Is(err, ocotpfs.ErrNoFUSE):
			hint("this machine (or container) has no FUSE; use --device sim:%s with otpprov instead", dir)
		case errors.Is(err, ocotpfs.ErrNoPrivilege):
			hint("run ocotp-emu as root")
		}
		return code
	}

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	unmounted := make(chan struct{})
	go func() {
		srv.Wait()
		close(unmounted)
	}()

	fmt.Fprintf(stdout, "ocotp-emu: serving sim:%s (%s, %d bytes, %s) at %s\n", dir, soc.Name, soc.Bytes(), access, srv.Path())

	code := 0
	select {
	case <-unmounted: // an operator's umount
	case sig := <-signals:
		code = shutdown(srv, sig, signals, unmounted, stderr)
	}
	if err := srv.Close(); err != nil {
		return fail("closing sim %s: %v", dir, err)
	}
	if code == 0 {
		fmt.Fprintf(stderr, "ocotp-emu: unmounted %s; sim %s closed\n", mountpoint, dir)
	}
	return code
}

// shutdown unmounts after a signal. While a process has the file open the
// unmount is refused (EBUSY): the mount is then taken out of the tree and
// its open files are answered until they are closed, or until a second
// signal stops at once (their users then get I/O errors, as from a device
// that vanished).
func shutdown(srv *ocotpfs.Server, sig os.Signal, signals <-chan os.Signal, unmounted <-chan struct{}, stderr io.Writer) int {
	err := srv.Unmount()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "ocotp-emu: %v: unmount %s: %v; detaching, serving it until it is closed (signal again to stop now)\n", sig, srv.Path(), err)
	if err := srv.Detach(); err != nil {
		fmt.Fprintf(stderr, "ocotp-emu: error: detach: %v\n", err)
		return 1
	}
	select {
	case <-unmounted:
		return 0
	case <-signals:
		fmt.Fprintf(stderr, "ocotp-emu: error: stopped while %s was still open\n", srv.Path())
		return 1
	}
}
