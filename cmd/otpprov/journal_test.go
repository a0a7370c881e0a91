package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/smallfs"
	"github.com/otpprov/otpprov/nvmem"
)

// A journal whose last record was cut at any byte (the station lost
// power mid-append) is refused before the device is opened: no write,
// the line and the repair command said. journal repair then mends it,
// and the next apply burns and journals as usual.
func TestTornJournalEveryByte(t *testing.T) {
	s := newSession(t)
	journal := filepath.Join(s.dir, "j.jsonl")
	for i := 0; i < 2; i++ { // an intent and an outcome, then nothing to do
		if code := s.run(context.Background(), nil, "apply", "--auto-approve", "--device", "sim:"+s.sim, "--journal", journal, s.manifest); code != exitOK {
			t.Fatalf("exit %d: %s", code, &s.stderr)
		}
	}
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("the journal has %d lines:\n%s", len(lines), b)
	}
	n := len(lines)
	keep, last := strings.Join(lines[:n-1], "\n")+"\n", lines[n-1]
	soc, _ := fusemap.Load("imx8mm")
	for i := 1; i <= len(last); i++ {
		if err := os.WriteFile(journal, []byte(keep+last[:i]), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(journal + ".torn")
		s.sim = filepath.Join(s.dir, fmt.Sprintf("board%d", i))
		if err := nvmem.InitSim(s.sim, soc.SoC, nil); err != nil {
			t.Fatal(err)
		}
		code := s.run(context.Background(), nil, "apply", "--auto-approve", "--device", "sim:"+s.sim, "--journal", journal, s.manifest)
		if code != exitError || s.writes() != 0 {
			t.Fatalf("cut at byte %d: exit %d with %d writes, want exit 1 and none:\n%s", i, code, s.writes(), &s.stderr)
		}
		for _, want := range []string{fmt.Sprintf("otpprov: error: journal %s:%d: ", journal, n), "otpprov: hint: otpprov journal repair " + journal + " "} {
			if !strings.Contains(s.stderr.String(), want) {
				t.Fatalf("cut at byte %d: no %q in:\n%s", i, want, &s.stderr)
			}
		}
		if code := s.run(context.Background(), nil, "journal", "repair", journal); code != exitOK {
			t.Fatalf("cut at byte %d: repair: exit %d: %s", i, code, &s.stderr)
		}
		if code := s.run(context.Background(), nil, "apply", "--auto-approve", "--device", "sim:"+s.sim, "--journal", journal, s.manifest); code != exitOK || s.writes() != 1 {
			t.Fatalf("cut at byte %d: apply after repair: exit %d, %d writes: %s", i, code, s.writes(), &s.stderr)
		}
		if code := s.run(context.Background(), nil, "journal", "verify", journal); code != exitOK {
			t.Fatalf("cut at byte %d: verify after repair: %s", i, &s.stderr)
		}
	}
}

// A journal on a full disk, or on one with room for the intent but not
// for the outcome after the burn, refuses the apply before any fuse
// burns (exit 1): it used to burn, then fail to record (exit 3).
func TestJournalFullDisk(t *testing.T) {
	dir := smallfs.Mount(t, 256<<10)
	for _, leave := range []int64{0, 8 << 10} {
		s := newSession(t)
		journal := filepath.Join(dir, fmt.Sprintf("j%d.jsonl", leave))
		smallfs.Fill(t, dir, leave)
		code := s.run(context.Background(), nil, "apply", "--auto-approve", "--device", "sim:"+s.sim, "--journal", journal, s.manifest)
		if code != exitError || s.writes() != 0 {
			t.Errorf("%d bytes free: exit %d with %d writes, want exit 1 and none:\n%s", leave, code, s.writes(), &s.stderr)
		}
		for _, want := range []string{
			"otpprov: error: journal " + journal + ": no room for this attempt's records (",
			"bytes): the filesystem is full; nothing was written",
			"otpprov: hint: free space on the journal's filesystem",
		} {
			if !strings.Contains(s.stderr.String(), want) {
				t.Errorf("%d bytes free: no %q in:\n%s", leave, want, &s.stderr)
			}
		}
		fillers, _ := filepath.Glob(filepath.Join(dir, "filler*"))
		for _, f := range fillers {
			os.Remove(f)
		}
	}
}

// The journal is not locked while the operator is asked: another station
// appends to it meanwhile, and the answer then burns and journals.
func TestApprovalDoesNotHoldJournal(t *testing.T) {
	s := newSession(t)
	journal := filepath.Join(s.dir, "j.jsonl")
	stdin, answer := io.Pipe()
	prompts, stderr := io.Pipe()
	e := env{stdin: stdin, stdout: io.Discard, stderr: stderr, stdinTTY: true,
		getenv: func(string) string { return "" }, environ: func() []string { return nil }}
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"otpprov", "apply", "--device", "sim:" + s.sim, "--journal", journal, s.manifest}, e)
		stderr.Close()
	}()
	rd := bufio.NewReader(prompts)
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("no prompt: %v", err)
		}
		if strings.Contains(line, "Only 'yes' will be accepted") {
			break
		}
	}
	go io.Copy(io.Discard, rd)
	f, err := os.Open(journal)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Errorf("the journal is locked while the operator is asked: %v", err)
	}
	f.Close()
	fmt.Fprintln(answer, "yes")
	select {
	case code := <-done:
		if code != exitOK || s.writes() != 1 {
			t.Fatalf("exit %d with %d writes", code, s.writes())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("apply did not finish after the answer")
	}
	if code := s.run(context.Background(), nil, "journal", "verify", journal); code != exitOK || !strings.Contains(s.stdout.String(), "2 records, chain intact") {
		t.Errorf("verify: %s%s", &s.stdout, &s.stderr)
	}
}
