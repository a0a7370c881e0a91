package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/otpprov/otpprov/internal/ocotpemu"
	"github.com/otpprov/otpprov/internal/ocotpfs"
	"github.com/otpprov/otpprov/nvmem"
)

// The FUSE scenarios (testdata/fuse) serve a sim through the kernel with
// ocotp-emu, a real process, and drive MNT/nvmem with the real otpprov and
// its file backend (--device MNT/nvmem) and with the Digi document's own
// commands: every errno they meet comes from the kernel.

func ocotpEmuMain() { os.Exit(ocotpemu.Main(os.Args[1:], os.Stdout, os.Stderr)) }

func TestFUSEScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/fuse"))
}

// The limits that keep a broken emulator from hanging the tests: how long
// ocotp-emu may take to mount and to stop, and how long a scenario may use
// one mount before the watchdog kills the emulator, which makes the kernel
// fail every pending and later call on the mount with ENOTCONN.
const (
	emuStartTimeout = 10 * time.Second
	emuStopTimeout  = 10 * time.Second
	emuWatchdog     = 60 * time.Second
)

// fuseAvailable probes once whether this machine can mount FUSE, by
// mounting an emulator on a scratch directory. Outside CI a scenario then
// skips, saying why, loudly; in CI the condition fails the scenario: CI
// must run them.
var fuseAvailable = sync.OnceValue(func() error {
	mnt, err := os.MkdirTemp("", "ocotpfs-probe")
	if err != nil {
		return err
	}
	defer os.Remove(mnt)
	srv, err := ocotpfs.Mount(mnt, ocotpfs.Device{File: nvmem.NewOTP(4), Size: 16, Source: "probe"})
	if err != nil {
		if os.Getenv("CI") == "" {
			fmt.Fprintf(os.Stderr, "\n*** FUSE SCENARIOS NOT RUN: %v ***\n\n", err)
		}
		return err
	}
	if err := srv.Unmount(); err != nil {
		srv.Detach()
	}
	return nil
})

func fuseCondition() (bool, error) {
	err := fuseAvailable()
	if err == nil {
		return true, nil
	}
	if os.Getenv("CI") != "" {
		return false, fmt.Errorf("FUSE is needed in CI: %v", err)
	}
	return false, nil
}

// emulator is one running ocotp-emu.
type emulator struct {
	cmd      *exec.Cmd
	mnt      string
	exited   chan struct{} // closed when the process has exited
	err      error         // its exit, once exited is closed
	watchdog *time.Timer
}

// emulators are the running ones, by absolute mount point.
var emulators sync.Map

// fuseCmd drives ocotp-emu from a scenario:
//
//	fuse mount SIMDIR MNT   start it, wait until MNT/nvmem is served
//	fuse stop MNT           SIGTERM; it must unmount and exit 0
//	fuse kill MNT           SIGKILL: the device vanishes
//
// Whatever a scenario does, at its end every emulator it started is killed
// and its mount detached (MNT_DETACH), so no stale mount survives it.
func fuseCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: fuse mount SIMDIR MNT | fuse stop MNT | fuse kill MNT")
	}
	switch args[0] {
	case "mount":
		if len(args) != 3 {
			ts.Fatalf("usage: fuse mount SIMDIR MNT")
		}
		startEmulator(ts, ts.MkAbs(args[1]), ts.MkAbs(args[2]))
	case "stop", "kill":
		v, ok := emulators.Load(ts.MkAbs(args[1]))
		if !ok {
			ts.Fatalf("no emulator serves %s", args[1])
		}
		e := v.(*emulator)
		if args[0] == "kill" {
			e.cmd.Process.Signal(syscall.SIGKILL)
			e.wait(ts)
			return
		}
		e.cmd.Process.Signal(syscall.SIGTERM)
		if err := e.wait(ts); err != nil {
			ts.Fatalf("ocotp-emu did not stop cleanly: %v", err)
		}
		if mounted(e.mnt) {
			ts.Fatalf("ocotp-emu exited but %s is still mounted", e.mnt)
		}
	default:
		ts.Fatalf("fuse: unknown subcommand %q", args[0])
	}
}

func startEmulator(ts *testscript.TestScript, dir, mnt string) {
	bin, err := exec.LookPath("ocotp-emu")
	ts.Check(err)
	ts.Check(os.MkdirAll(mnt, 0o755))
	e := &emulator{cmd: exec.Command(bin, dir, mnt), mnt: mnt, exited: make(chan struct{})}
	// The emulator's output goes to files beside MNT, for the scenario to
	// check: MNT.emu.out and MNT.emu.err.
	out, err := os.Create(mnt + ".emu.out")
	ts.Check(err)
	errOut, err := os.Create(mnt + ".emu.err")
	ts.Check(err)
	e.cmd.Stdout = out
	e.cmd.Stderr = errOut
	ts.Check(e.cmd.Start())
	go func() {
		e.err = e.cmd.Wait()
		out.Close()
		errOut.Close()
		close(e.exited)
	}()
	e.watchdog = time.AfterFunc(emuWatchdog, func() { e.cmd.Process.Signal(syscall.SIGKILL) })
	emulators.Store(mnt, e)
	ts.Defer(func() {
		e.watchdog.Stop()
		e.cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-e.exited:
		case <-time.After(emuStopTimeout):
		}
		// A killed emulator leaves its mount behind, answering ENOTCONN.
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL {
			ts.Logf("detaching %s: %v", mnt, err)
		}
		emulators.Delete(mnt)
	})

	// Ready is the one line it prints once the file is served.
	deadline := time.Now().Add(emuStartTimeout)
	for {
		b, _ := os.ReadFile(mnt + ".emu.out")
		if bytes.Contains(b, []byte("serving")) {
			break
		}
		select {
		case <-e.exited:
			msg, _ := os.ReadFile(mnt + ".emu.err")
			ts.Fatalf("ocotp-emu exited before serving (%v):\n%s", e.err, msg)
		default:
		}
		if time.Now().After(deadline) {
			ts.Fatalf("ocotp-emu is not serving %s after %v", mnt, emuStartTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(mnt, "nvmem")); err != nil {
		ts.Fatalf("ocotp-emu says it serves, but: %v", err)
	}
	ts.Setenv("EMU_PID", strconv.Itoa(e.cmd.Process.Pid))
}

// wait waits for the emulator to exit and returns its exit error.
func (e *emulator) wait(ts *testscript.TestScript) error {
	select {
	case <-e.exited:
		return e.err
	case <-time.After(emuStopTimeout):
		e.cmd.Process.Signal(syscall.SIGKILL)
		ts.Fatalf("ocotp-emu did not exit within %v", emuStopTimeout)
		return nil
	}
}

// mounted reports whether mnt is a mount point, from /proc/self/mountinfo
// (asking the mount itself could block on a stuck server).
func mounted(mnt string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == mnt {
			return true
		}
	}
	return false
}

// The otpprov binary must never link FUSE: it runs on boards, where it
// talks to the real driver, and it must stay small and static.
func TestOtpprovDoesNotLinkFUSE(t *testing.T) {
	for _, d := range otpprovDeps(t) {
		if strings.Contains(d, "hanwen/go-fuse") || strings.Contains(d, "/ocotpfs") || strings.Contains(d, "/ocotpemu") {
			t.Errorf("otpprov links %s", d)
		}
	}
}

// The otpprov binary must not link a general JSON Schema validator: its
// package initialisation alone (every draft's meta-schema compiled) costs
// more than a whole plan may take. internal/schema validates; the tests
// use jsonschema as its oracle.
func TestOtpprovDoesNotLinkJSONSchema(t *testing.T) {
	for _, d := range otpprovDeps(t) {
		if strings.Contains(d, "santhosh-tekuri/jsonschema") {
			t.Errorf("otpprov links %s", d)
		}
	}
}

// otpprovDeps lists the packages the otpprov binary links.
func otpprovDeps(t *testing.T) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "github.com/otpprov/otpprov/nvmem") {
		t.Fatalf("go list -deps gave %d packages, not otpprov's: %q", len(deps), out)
	}
	return deps
}
