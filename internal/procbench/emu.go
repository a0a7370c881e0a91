package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// How long ocotp-emu may take to serve its mount and to stop.
const (
	emuStartTimeout = 10 * time.Second
	emuStopTimeout  = 10 * time.Second
)

// emu is one running ocotp-emu, serving a sim at mnt/nvmem.
type emu struct {
	cmd    *exec.Cmd
	mnt    string
	stderr bytes.Buffer  // read only once exited is closed
	exited chan struct{} // closed when the process has exited
	err    error         // its exit, once exited is closed
}

// running are the emulators not yet stopped, for the cleanup after an
// error or a signal: a mount must not outlive the benchmark.
var (
	runningMu sync.Mutex
	running   = map[*emu]bool{}
)

// startEmu starts bin on simDir, mounted at mnt, and returns once
// mnt/nvmem is served.
func startEmu(bin, simDir, mnt string) (*emu, error) {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	e := &emu{cmd: exec.Command(bin, simDir, mnt), mnt: mnt, exited: make(chan struct{})}
	e.cmd.Stderr = &e.stderr
	out, err := e.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	runningMu.Lock()
	running[e] = true
	runningMu.Unlock()

	// It prints one line once the file is served.
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "serving") {
				said = true
				close(serving)
			}
		}
		e.err = e.cmd.Wait()
		close(e.exited)
	}()
	select {
	case <-serving:
	case <-e.exited:
		e.forget()
		return nil, fmt.Errorf("ocotp-emu exited before serving (%v): %s", e.err, strings.TrimSpace(e.stderr.String()))
	case <-time.After(emuStartTimeout):
		e.kill()
		return nil, fmt.Errorf("ocotp-emu is not serving %s after %v", mnt, emuStartTimeout)
	}
	if _, err := os.Stat(e.path()); err != nil {
		e.kill()
		return nil, fmt.Errorf("ocotp-emu says it serves, but: %v", err)
	}
	return e, nil
}

func (e *emu) path() string { return filepath.Join(e.mnt, "nvmem") }

// stop asks the emulator to unmount and save the sim (SIGTERM), as an
// operator would, and fails if it does not exit cleanly: the sim's files
// are only complete after that.
func (e *emu) stop() error {
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(emuStopTimeout):
		e.kill()
		return fmt.Errorf("ocotp-emu on %s did not stop within %v", e.mnt, emuStopTimeout)
	}
	e.forget()
	if e.err != nil {
		return fmt.Errorf("ocotp-emu on %s: %v: %s", e.mnt, e.err, strings.TrimSpace(e.stderr.String()))
	}
	return nil
}

// kill stops the emulator at once and detaches its mount, which a killed
// emulator leaves behind answering ENOTCONN.
func (e *emu) kill() {
	e.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-e.exited:
	case <-time.After(emuStopTimeout):
	}
	syscall.Unmount(e.mnt, syscall.MNT_DETACH)
	e.forget()
}

func (e *emu) forget() {
	runningMu.Lock()
	delete(running, e)
	runningMu.Unlock()
}

// killAll kills every emulator still running.
func killAll() {
	runningMu.Lock()
	es := make([]*emu, 0, len(running))
	for e := range running {
		es = append(es, e)
	}
	runningMu.Unlock()
	for _, e := range es {
		e.kill()
	}
}
