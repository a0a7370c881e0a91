package main

import (
	"bufio"
	"bytes"
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

// outcomeFirst is standard output that, at its first write after the
// plan, looks at the journal: after a burn the outcome must be there
// already, before the report goes out (a reader that blocks must not
// keep the outcome from the disk).
type outcomeFirst struct {
	journal    string
	calls      int
	hadOutcome bool
}

func (o *outcomeFirst) Write(p []byte) (int, error) {
	o.calls++
	if o.calls == 2 {
		b, _ := os.ReadFile(o.journal)
		o.hadOutcome = strings.Contains(string(b), `"kind":"outcome"`)
	}
	return len(p), nil
}

// After a burn the outcome record is written before standard output is
// flushed: it used to wait for settle's flush, so that a reader that
// blocked (a full pipe) held the record back, with the signals that
// would end the wait absorbed, and a kill -9 then left only the intent.
func TestOutcomeBeforeReport(t *testing.T) {
	s := newSession(t)
	for _, json := range []bool{false, true} {
		w := &outcomeFirst{journal: filepath.Join(s.dir, fmt.Sprintf("j%v.jsonl", json))}
		if json {
			w.calls = 1 // nothing goes out before the burn
			s.sim = filepath.Join(s.dir, "board2")
			soc, _ := fusemap.Load("imx8mm")
			if err := nvmem.InitSim(s.sim, soc.SoC, nil); err != nil {
				t.Fatal(err)
			}
		}
		args := []string{"otpprov", "apply", "--auto-approve", "--device", "sim:" + s.sim, "--journal", w.journal, s.manifest}
		if json {
			args = append(args, "--json")
		}
		var errb bytes.Buffer
		if code := run(context.Background(), args, processEnv(w, &errb)); code != exitOK || s.writes() != 1 {
			t.Fatalf("--json %v: exit %d, %d writes: %s", json, code, s.writes(), &errb)
		}
		if w.calls < 2 || !w.hadOutcome {
			t.Errorf("--json %v: the report went out before the outcome was recorded (%d writes)", json, w.calls)
		}
	}
}

// An apply with nothing to do whose report is lost is recorded as
// nothing-to-do, with exit 1 and the output's failure as its error; it
// was recorded as "refused". An apply that burns records no error: its
// outcome used to say "error":"exit 0".
func TestOutcomeRecordedAsIs(t *testing.T) {
	s := newSession(t)
	path := filepath.Join(s.dir, "j.jsonl")
	if code := s.run(context.Background(), nil, "apply", "--auto-approve", "--device", "sim:"+s.sim, "--journal", path, s.manifest); code != exitOK {
		t.Fatalf("exit %d: %s", code, &s.stderr)
	}
	var errb bytes.Buffer
	code := run(context.Background(), []string{"otpprov", "apply", "--auto-approve", "--device", "sim:" + s.sim, "--journal", path, s.manifest},
		processEnv(&full{}, &errb))
	if code != exitError || !strings.Contains(errb.String(), outputLost) {
		t.Fatalf("exit %d: %s", code, &errb)
	}
	records := journalRecords(t, path)
	if len(records) != 3 {
		t.Fatalf("%d records, want 3", len(records))
	}
	if applied := records[1]; applied.Outcome != "applied" || applied.Error != "" {
		t.Errorf("the apply's outcome: %q, error %q", applied.Outcome, applied.Error)
	}
	last := records[2]
	if last.Outcome != "nothing-to-do" || last.ExitCode == nil || *last.ExitCode != exitError || !strings.Contains(last.Error, "writing standard output: no space left on device") {
		t.Errorf("the last outcome: %q, exit %v, error %q", last.Outcome, last.ExitCode, last.Error)
	}
}
