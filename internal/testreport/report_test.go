package main

import (
	"bytes"
	"strings"
	"testing"
)

// A recorded run, in go test -json's own words: a package that passes
// with one test skipped (the reason before go test's SKIP line, as t.Skip
// prints it), and one whose test fails.
const run = `{"Action":"start","Package":"p/a"}
{"Action":"run","Package":"p/a","Test":"TestOK"}
{"Action":"output","Package":"p/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"p/a","Test":"TestOK","Output":"--- PASS: TestOK (0.00s)\n"}
{"Action":"pass","Package":"p/a","Test":"TestOK"}
{"Action":"run","Package":"p/a","Test":"TestZsh/zsh"}
{"Action":"output","Package":"p/a","Test":"TestZsh/zsh","Output":"    completion_test.go:230: NOT RUN: zsh is not installed\n"}
{"Action":"output","Package":"p/a","Test":"TestZsh/zsh","Output":"--- SKIP: TestZsh/zsh (0.00s)\n"}
{"Action":"skip","Package":"p/a","Test":"TestZsh/zsh"}
{"Action":"output","Package":"p/a","Output":"PASS\n"}
{"Action":"output","Package":"p/a","Output":"ok  \tp/a\t0.01s\n"}
{"Action":"pass","Package":"p/a"}
`

const failing = `{"Action":"start","Package":"p/b"}
{"Action":"run","Package":"p/b","Test":"TestBad"}
{"Action":"output","Package":"p/b","Test":"TestBad","Output":"=== RUN   TestBad\n"}
{"Action":"output","Package":"p/b","Test":"TestBad","Output":"    x_test.go:9: got 2, want 3\n"}
{"Action":"output","Package":"p/b","Test":"TestBad","Output":"--- FAIL: TestBad (0.00s)\n"}
{"Action":"fail","Package":"p/b","Test":"TestBad"}
{"Action":"output","Package":"p/b","Output":"FAIL\n"}
{"Action":"output","Package":"p/b","Output":"FAIL\tp/b\t0.01s\n"}
{"Action":"fail","Package":"p/b"}
`

func report1(t *testing.T, stream string, ci bool) (string, bool) {
	t.Helper()
	var out bytes.Buffer
	r := newReport(&out, ci)
	if err := r.read(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	ok := r.finish()
	return out.String(), ok
}

func TestSkipsAreLoud(t *testing.T) {
	out, ok := report1(t, run, false)
	if !ok {
		t.Errorf("a run with a skip and no failure failed:\n%s", out)
	}
	for _, want := range []string{
		"ok  \tp/a\t0.01s\n",
		"*** NOT RUN: 1 tests were skipped",
		"  p/a TestZsh/zsh: NOT RUN: zsh is not installed\n",
		"\ntests: 1 passed, 0 failed, 1 skipped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "=== RUN") || strings.Contains(out, "--- PASS") {
		t.Errorf("report holds go test -v's framing:\n%s", out)
	}
	// In CI a skip is a missing step: the run fails.
	if out, ok := report1(t, run, true); ok || !strings.Contains(out, "a skip in CI is a missing step") {
		t.Errorf("with CI set, a skip passed:\n%s", out)
	}
}

func TestFailuresShowTheirOutput(t *testing.T) {
	out, ok := report1(t, run+failing, false)
	if ok {
		t.Errorf("a failing run passed:\n%s", out)
	}
	for _, want := range []string{"FAIL\tp/b\t0.01s\n", "--- FAIL: p/b TestBad\n    x_test.go:9: got 2, want 3\n", "tests: 1 passed, 1 failed, 1 skipped\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// What must never read as a pass: a stream cut short (go test killed), a
// package that does not build, and lines that are not events.
func TestBrokenRunsFail(t *testing.T) {
	cut := run[:strings.Index(run, `{"Action":"output","Package":"p/a","Output":"PASS`)]
	build := `{"Action":"build-output","ImportPath":"p/c","Output":"x.go:3: undefined: y\n"}
{"Action":"build-fail","ImportPath":"p/c"}
{"Action":"start","Package":"p/c"}
{"Action":"output","Package":"p/c","Output":"FAIL\tp/c [build failed]\n"}
{"Action":"fail","Package":"p/c"}
`
	for name, stream := range map[string]string{
		"cut short":  cut,
		"no build":   build,
		"not events": "go: cannot find main module\n",
	} {
		if out, ok := report1(t, stream, false); ok {
			t.Errorf("%s: passed:\n%s", name, out)
		}
	}
	if out, _ := report1(t, build, false); !strings.Contains(out, "x.go:3: undefined: y") {
		t.Errorf("the build error is not shown:\n%s", out)
	}
}
