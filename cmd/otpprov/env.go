package main

import (
	"bufio"
	"io"
	"os"

	"golang.org/x/term"
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
	// flush sends what stdout holds; apply calls it before the first
	// burn, so the plan is on the screen however long the burn takes.
	flush func()
}

// Flush sends buffered stdout, if any.
func (e env) Flush() {
	if e.flush != nil {
		e.flush()
	}
}

// terminal is the process's env. Stdout is buffered: a report of
// hundreds of lines becomes a few writes instead of one per line. It is
// flushed before anything is written to stderr or read from stdin, before
// a burn, and at exit (the caller's Flush), so the order the operator
// sees is the order of the program.
func terminal(stdin, stdout, stderr *os.File) env {
	out := bufio.NewWriterSize(stdout, 32<<10)
	flush := func() { _ = out.Flush() } // a reader that went away is no error of ours (SIGPIPE is ignored)
	return env{
		stdin: flushFirst{stdin, flush}, stdout: out, stderr: flushFirst{stderr, flush},
		stdinTTY:  term.IsTerminal(int(stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(stdout.Fd())),
		getenv:    os.Getenv,
		environ:   os.Environ,
		flush:     flush,
	}
}

// flushFirst flushes stdout before each read or write of the file.
type flushFirst struct {
	f     *os.File
	flush func()
}

func (f flushFirst) Read(p []byte) (int, error) {
	f.flush()
	return f.f.Read(p)
}

func (f flushFirst) Write(p []byte) (int, error) {
	f.flush()
	return f.f.Write(p)
}
