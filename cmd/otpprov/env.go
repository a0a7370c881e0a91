package main

import (
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
}

func terminal(stdin, stdout, stderr *os.File) env {
	return env{
		stdin: stdin, stdout: stdout, stderr: stderr,
		stdinTTY:  term.IsTerminal(int(stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(stdout.Fd())),
		getenv:    os.Getenv,
		environ:   os.Environ,
	}
}
