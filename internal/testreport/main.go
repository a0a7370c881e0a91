// Command testreport reads `go test -json` on standard input and writes
// what a person needs from a whole run: each package's result line as go
// test prints it, the output of every failed test, every skipped test
// with its reason, and a closing line "tests: N passed, N failed, N
// skipped". `make test` pipes the suite through it.
//
// Skips are loud here because `go test` without -v says nothing of them:
// a test that needs zsh, busybox or FUSE and does not find it passes its
// package as "ok", and a run that tested less looks like one that tested
// everything. With CI set, a skip fails the run: CI installs what every
// test needs, so a skip there means a step is missing.
//
// Its exit code is 1 when any package or test failed, the stream ends
// before a package finished, or a line is not a test2json event; else 0.
package main

import (
	"fmt"
	"os"
)

func main() {
	r := newReport(os.Stdout, os.Getenv("CI") != "")
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintf(os.Stdout, "testreport: %v\n", err)
		os.Exit(1)
	}
	if !r.finish() {
		os.Exit(1)
	}
}
