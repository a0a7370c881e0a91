package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/output"
	"github.com/otpprov/otpprov/nvmem"
)

// These tests drive run in-process where a script cannot: a terminal that
// answers the approval prompt, and colour.

const oneWord = `apiVersion: otpprov/v1
kind: FuseManifest
metadata: {name: m}
soc: imx8mm
fuses:
  - {bank: 14, word: 0, value: 0x5}
`

type session struct {
	t                   *testing.T
	dir, sim, manifest  string
	stdout, stderr      bytes.Buffer
	stdinTTY, stdoutTTY bool
	environ             map[string]string
	// brokenStdout, if set, is a failing standard output in front of
	// stdout, buffered as the process's is.
	brokenStdout *brokenStdout
}

func newSession(t *testing.T) *session {
	dir := t.TempDir()
	s := &session{t: t, dir: dir, sim: filepath.Join(dir, "board"), manifest: filepath.Join(dir, "m.yaml"), environ: map[string]string{}}
	soc, _ := fusemap.Load("imx8mm")
	if err := nvmem.InitSim(s.sim, soc.SoC, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.manifest, []byte(oneWord), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *session) run(ctx context.Context, stdin io.Reader, args ...string) int {
	s.stdout.Reset()
	s.stderr.Reset()
	e := env{stdin: stdin, stdout: &s.stdout, stderr: &s.stderr, stdinTTY: s.stdinTTY, stdoutTTY: s.stdoutTTY,
		getenv: func(k string) string { return s.environ[k] },
		environ: func() []string {
			var kv []string
			for k, v := range s.environ {
				kv = append(kv, k+"="+v)
			}
			return kv
		}}
	if s.brokenStdout != nil {
		s.brokenStdout.w = &s.stdout
		out := output.New(s.brokenStdout)
		e.stdout, e.stderr, e.flush = out, out.FlushFirstWriter(&s.stderr), out.Flush
	}
	return run(ctx, append([]string{"otpprov"}, args...), e)
}

func (s *session) writes() int {
	c, err := nvmem.ReadSimCounters(s.sim)
	if err != nil {
		s.t.Fatal(err)
	}
	return c.Writes
}

func TestApprovalAtTerminal(t *testing.T) {
	cases := []struct {
		answer     string
		code       int
		writes     int
		wantStderr string
	}{
		{"yes\n", exitOK, 1, "Only 'yes' will be accepted"},
		{"y\n", exitError, 0, `apply cancelled (answer was "y"); nothing was written`},
		{"YES\n", exitError, 0, "apply cancelled"},
		{"", exitError, 0, "apply cancelled"}, // EOF: no answer is no
	}
	for _, c := range cases {
		t.Run(strings.TrimSpace(c.answer), func(t *testing.T) {
			s := newSession(t)
			s.stdinTTY = true
			code := s.run(context.Background(), strings.NewReader(c.answer), "apply", "--device", "sim:"+s.sim, s.manifest)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.code, &s.stderr)
			}
			if got := s.writes(); got != c.writes {
				t.Errorf("%d writes, want %d", got, c.writes)
			}
			if !strings.Contains(s.stderr.String(), c.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", c.wantStderr, &s.stderr)
			}
		})
	}
}

func TestApprovalInterrupted(t *testing.T) {
	s := newSession(t)
	s.stdinTTY = true
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // SIGINT while the prompt waits
	r, w := io.Pipe()
	defer w.Close()
	code := s.run(ctx, r, "apply", "--device", "sim:"+s.sim, s.manifest)
	if code != exitError || s.writes() != 0 {
		t.Fatalf("exit %d with %d writes, want exit 1 and no write", code, s.writes())
	}
	if !strings.Contains(s.stderr.String(), "interrupted; nothing was written") {
		t.Errorf("stderr:\n%s", &s.stderr)
	}
}

// A signal that arrives before the first word is burned stops apply with
// nothing written; the result says it was interrupted.
func TestInterruptBeforeBurn(t *testing.T) {
	s := newSession(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code := s.run(ctx, nil, "apply", "--auto-approve", "--device", "sim:"+s.sim, s.manifest)
	if code != exitError || s.writes() != 0 {
		t.Fatalf("exit %d with %d writes, want exit 1 and no write", code, s.writes())
	}
	if !strings.Contains(s.stdout.String(), "Apply stopped by a signal: 0 of 1 words verified, 1 not attempted. Nothing was written") {
		t.Errorf("stdout:\n%s", &s.stdout)
	}
}

// Colour goes only to a terminal that shows it, and reaches it through
// the output's escaping intact.
func TestColourOnlyOnTerminal(t *testing.T) {
	cases := []struct {
		tty     bool
		noColor string
		term    string
		flag    bool
		want    bool
	}{
		{tty: true, want: true},
		{tty: true, term: "xterm-256color", want: true},
		{tty: false, want: false},
		{tty: true, noColor: "1", want: false},
		{tty: true, flag: true, want: false},
		{tty: true, term: "dumb", want: false},
	}
	for _, c := range cases {
		s := newSession(t)
		s.stdoutTTY = c.tty
		s.environ["NO_COLOR"] = c.noColor
		s.environ["TERM"] = c.term
		args := []string{"plan", "--device", "sim:" + s.sim, s.manifest}
		if c.flag {
			args = append(args, "--no-color")
		}
		if code := s.run(context.Background(), nil, args...); code != exitOK {
			t.Fatalf("exit %d: %s", code, &s.stderr)
		}
		if got := strings.Contains(s.stdout.String(), "\x1b[32m+\x1b[0m"); got != c.want {
			t.Errorf("tty=%v NO_COLOR=%q TERM=%q --no-color=%v: colour %v, want %v:\n%q", c.tty, c.noColor, c.term, c.flag, got, c.want, &s.stdout)
		}
		if strings.Contains(s.stdout.String(), `\u001b`) {
			t.Errorf("otpprov's own colour was escaped: %q", &s.stdout)
		}
	}
}

func TestInterspersed(t *testing.T) {
	app := newApp(context.Background(), env{}, nil)
	cases := []struct{ in, want string }{
		{"plan m.yaml --json", "plan --json -- m.yaml"},
		{"plan m.yaml --device sim:x --json", "plan --device sim:x --json -- m.yaml"},
		{"plan --device=sim:x m.yaml --out p.json", "plan --device=sim:x --out p.json -- m.yaml"},
		{"write 14 0 0x1 --mask 0xf --auto-approve", "write --mask 0xf --auto-approve -- 14 0 0x1"},
		{"sim init dir --soc imx8mm", "sim init --soc imx8mm -- dir"},
		{"plan -- --weird-name.yaml", "plan -- --weird-name.yaml"},
		{"plan m.yaml --bogus", "plan --bogus -- m.yaml"},
		{"--help", "--help"},
		{"nosuch a --b", "nosuch a --b"},
	}
	for _, c := range cases {
		got := interspersed(app, append([]string{"otpprov"}, strings.Fields(c.in)...))[1:]
		if want := strings.Fields(c.want); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %q, want %q", c.in, got, want)
		}
	}
}

// TestApplyIOCounters: a whole apply of 8 words, as the command runs it,
// costs the device exactly one full read (data, then EOF), 8 writes and
// 8 read-backs, and one final full read: the emulator's own counters.
func TestApplyIOCounters(t *testing.T) {
	s := newSession(t)
	var m strings.Builder
	m.WriteString("apiVersion: otpprov/v1\nkind: FuseManifest\nmetadata: {name: eight}\nsoc: imx8mm\nfuses:\n")
	for k := 0; k < 8; k++ {
		fmt.Fprintf(&m, "  - {bank: %d, word: %d, value: 0x%x}\n", 14+k/4, k%4, 0x100+k)
	}
	if err := os.WriteFile(s.manifest, []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := s.run(context.Background(), nil, "apply", "--device", "sim:"+s.sim, "--auto-approve", s.manifest); code != 0 {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
	c, err := nvmem.ReadSimCounters(s.sim)
	if err != nil {
		t.Fatal(err)
	}
	if c != (nvmem.Counters{Reads: 2 + 8 + 2, Writes: 8}) {
		t.Errorf("counters %+v, want 12 reads and 8 writes", c)
	}
}
