package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type testKey struct{ pkg, test string }

// report follows a run: what each test printed, and how it ended.
type report struct {
	w      io.Writer
	ci     bool
	output map[testKey][]string // a test's own lines, without go test's framing
	failed []testKey
	skips  []testKey
	passed int
	// started holds the packages that began and did not end: a stream
	// cut short (go test killed) must not read as a pass.
	started   map[string]bool
	pkgFailed bool
}

func newReport(w io.Writer, ci bool) *report {
	return &report{w: w, ci: ci, output: map[testKey][]string{}, started: map[string]bool{}}
}

// read consumes the stream, printing package results as they come.
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// go test prints a few things outside the JSON stream (a
			// package that does not build, before Go 1.24): show them,
			// and fail, since the run was not what it seemed.
			fmt.Fprintf(r.w, "%s\n", sc.Text())
			r.pkgFailed = true
			continue
		}
		r.event(e)
	}
	return sc.Err()
}

func (r *report) event(e event) {
	k := testKey{e.Package, e.Test}
	switch {
	case e.Action == "start":
		r.started[e.Package] = true
	case e.Action == "build-output":
		fmt.Fprint(r.w, e.Output)
	case e.Action == "build-fail":
		r.pkgFailed = true
	case e.Test == "" && e.Action == "output":
		// go test's own package lines: "ok  pkg 0.5s", "FAIL pkg",
		// "?   pkg [no test files]", and what the test binary printed
		// outside any test (a panic in TestMain, a loud NOT RUN).
		if out := e.Output; out != "PASS\n" && out != "FAIL\n" {
			fmt.Fprint(r.w, out)
		}
	case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
		delete(r.started, e.Package)
		if e.Action == "fail" {
			r.pkgFailed = true
		}
	case e.Action == "output":
		if !framing(e.Output) {
			r.output[k] = append(r.output[k], e.Output)
		}
	case e.Action == "pass":
		r.passed++
		delete(r.output, k)
	case e.Action == "fail":
		r.failed = append(r.failed, k)
	case e.Action == "skip":
		r.skips = append(r.skips, k)
	}
}

// framing is what go test -v adds around a test's own output.
func framing(line string) bool {
	t := strings.TrimSpace(line)
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- FAIL", "--- SKIP"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// finish prints the failures, the skips and the closing line, and says
// whether the run passed.
func (r *report) finish() bool {
	ok := !r.pkgFailed && len(r.failed) == 0
	for _, pkg := range slices.Sorted(maps.Keys(r.started)) {
		fmt.Fprintf(r.w, "FAIL %s: the stream ended before the package finished (go test killed or timed out?)\n", pkg)
		ok = false
	}
	if len(r.failed) > 0 {
		fmt.Fprintf(r.w, "\n%d FAILED:\n", len(r.failed))
		for _, k := range r.failed {
			fmt.Fprintf(r.w, "--- FAIL: %s %s\n", k.pkg, k.test)
			for _, l := range r.output[k] {
				fmt.Fprint(r.w, l)
			}
		}
	}
	if len(r.skips) > 0 {
		fmt.Fprintf(r.w, "\n*** NOT RUN: %d tests were skipped; what they test was NOT tested here: ***\n", len(r.skips))
		for _, k := range r.skips {
			fmt.Fprintf(r.w, "  %s %s: %s\n", strings.TrimPrefix(k.pkg, "github.com/otpprov/otpprov/"), k.test, reason(r.output[k]))
		}
		if r.ci {
			fmt.Fprintf(r.w, "CI installs what every test needs: a skip in CI is a missing step, and fails the run\n")
			ok = false
		}
	}
	fmt.Fprintf(r.w, "\ntests: %d passed, %d failed, %d skipped\n", r.passed, len(r.failed), len(r.skips))
	return ok
}

// reason is what a skipped test said, on one line.
func reason(lines []string) string {
	var parts []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		// "file_test.go:110: NOT RUN: zsh is not installed": the message.
		if i := strings.Index(l, ".go:"); i >= 0 {
			if _, msg, ok := strings.Cut(l[i:], ": "); ok {
				l = msg
			}
		}
		if l != "" {
			parts = append(parts, l)
		}
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " / ")
}
