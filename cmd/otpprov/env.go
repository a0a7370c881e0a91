package main

import (
	"io"
	"os"

	"golang.org/x/term"

	"github.com/otpprov/otpprov/internal/output"
)

// env is everything run needs from the process, so that tests can run the
// whole CLI in-process with buffers and a pretend terminal.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stdinTTY       bool // the operator can answer a prompt
	stdoutTTY      bool // colour is allowed
	getenv         func(string) string
	environ        func() []string // for OTPPROV_VAR_name
	// flush sends what stdout holds and returns its first failure, an
	// *output.Error; nil where stdout is not buffered (a test's buffer).
	flush func() error
}

// Flush sends what stdout holds and returns its first failure: apply
// calls it before the first burn, so the plan is on the screen however
// long the burn takes, and run at the end.
func (e env) Flush() error {
	if e.flush != nil {
		return e.flush()
	}
	return nil
}

// terminal is the process's env. Stdout is buffered (output.Stdout): a
// report of hundreds of lines becomes a few writes instead of one per
// line. It is flushed before anything is written to stderr or read from
// stdin, before a burn, and at the end of run, so the order the operator
// sees is the order of the program, and a failed write is reported.
func terminal(stdin, stdout, stderr *os.File) env {
	out := output.New(stdout)
	return env{
		stdin: out.FlushFirstReader(stdin), stdout: out, stderr: out.FlushFirstWriter(stderr),
		stdinTTY:  term.IsTerminal(int(stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(stdout.Fd())),
		getenv:    os.Getenv,
		environ:   os.Environ,
		flush:     out.Flush,
	}
}
