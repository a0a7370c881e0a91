package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpprov/otpprov/internal/smallfs"
)

// TestMain doubles as a station that dies mid-attempt: with
// JOURNAL_TEST_DIE=PATH it begins an attempt on PATH, writes its intent
// and kills itself with SIGKILL before the outcome, as kill -9 would.
func TestMain(m *testing.M) {
	if path := os.Getenv("JOURNAL_TEST_DIE"); path != "" {
		r := record(3)
		r.Host = os.Getenv("JOURNAL_TEST_HOST")
		a, _, err := Begin(context.Background(), path, r, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		a.Words = record(3).Words
		if err := a.Intend(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	os.Exit(m.Run())
}

// die runs a station on host that is killed between its intent and its
// outcome.
func die(t *testing.T, path, host string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JOURNAL_TEST_DIE="+path, "JOURNAL_TEST_HOST="+host)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the dying station: %v\n%s", err, out)
	}
}

// An attempt killed after its intent leaves the intent without an
// outcome. journal verify lists it; the next attempt of the same station
// finds it from the last record alone, says so, and records it as
// interrupted, so that the one after does not say it again. Another
// station's open intent is not judged: this one cannot see its processes.
func TestInterruptedAttempt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	attempt(t, path, 0, true)
	die(t, path, "station-1")
	die(t, path, "station-2")

	rep := verifyFile(t, path)
	if rep.Records != 4 || len(rep.Interrupted) != 2 {
		t.Fatalf("verify: %+v", rep)
	}
	u := rep.Interrupted[0]
	if u.Seq != 3 || u.Line != 3 || u.Host != "station-1" || u.UniqueID != "0x0123456789abcdef" || u.Words != 1 || u.MarkedBy != 0 || u.Start.IsZero() {
		t.Errorf("interrupted: %+v", u)
	}

	a, found, err := Begin(context.Background(), path, record(5), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if len(found) != 1 || found[0].Seq != 3 || found[0].Host != "station-1" || found[0].MarkedBy != 5 {
		t.Fatalf("found %+v, want station-1's intent at seq 3, marked by seq 5", found)
	}
	ls := lines(t, path)
	if !strings.Contains(ls[4], `"kind":"outcome","intentSeq":3,"open":[{"seq":4,`) || !strings.Contains(ls[4], `"outcome":"interrupted","error":"no outcome was written: the process (pid `) {
		t.Errorf("the interrupted record:\n%s", ls[4])
	}
	rep = verifyFile(t, path)
	if len(rep.Interrupted) != 2 || rep.Interrupted[0].MarkedBy != 5 || rep.Interrupted[1].MarkedBy != 0 {
		t.Errorf("verify after: %+v", rep.Interrupted)
	}

	a, found, err = Begin(context.Background(), path, record(6), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if len(found) != 0 {
		t.Errorf("said again: %+v", found)
	}
	if n := len(lines(t, path)); n != 5 {
		t.Errorf("%d lines, want 5: nothing is written when nothing is found", n)
	}
}

// An intent whose process still runs is not interrupted, and one from an
// earlier boot of this station is (the station lost power): the process
// is told by its pid, its start time and the boot.
func TestProcessRunning(t *testing.T) {
	me := self()
	if me == nil {
		t.Fatal("/proc does not tell this process")
	}
	for _, c := range []struct {
		name    string
		p       Process
		running bool
	}{
		{"this process", *me, true},
		{"another boot", Process{PID: me.PID, Start: me.Start, Boot: "00000000-0000-0000-0000-000000000000"}, false},
		{"the pid reused", Process{PID: me.PID, Start: me.Start + 1, Boot: me.Boot}, false},
		{"no such pid", Process{PID: 1 << 30, Start: me.Start, Boot: me.Boot}, false},
	} {
		if running, known := c.p.running(); running != c.running || !known {
			t.Errorf("%s: running %v (known %v), want %v", c.name, running, known, c.running)
		}
	}
}

// The room for an attempt's records is reserved before its first burn:
// on a full disk, and on one with room for the intent but not for the
// outcome after it, Intend is refused (ErrNoSpace) and leaves the journal
// as it was, while there is room it is not.
func TestIntendReservesRoom(t *testing.T) {
	dir := smallfs.Mount(t, 256<<10)
	path := filepath.Join(dir, "j.jsonl")
	attempt(t, path, 0, false)
	before, _ := os.ReadFile(path)
	for _, leave := range []int64{0, 8 << 10} {
		smallfs.Fill(t, dir, leave)
		a, _, err := Begin(context.Background(), path, record(1), nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Words = record(1).Words
		err = a.Intend(context.Background())
		a.Close()
		if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "journal "+path+": no room for this attempt's records") {
			t.Errorf("%d bytes free: Intend: %v, want ErrNoSpace", leave, err)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
			t.Errorf("%d bytes free: the journal changed", leave)
		}
		removeFillers(t, dir)
	}
	attempt(t, path, 2, true)
	verifyFile(t, path)
}

// A record that does not fit (a refusal on a full disk: nothing reserved
// it) fails, and the bytes of it that did fit are taken back: a torn line
// would stop every later apply on the journal.
func TestFailedWriteLeavesNoTornLine(t *testing.T) {
	dir := smallfs.Mount(t, 256<<10)
	path := filepath.Join(dir, "j.jsonl")
	attempt(t, path, 0, false)
	before, _ := os.ReadFile(path)
	smallfs.Fill(t, dir, 0) // the journal's page has room for part of a record
	a, _, err := Begin(context.Background(), path, record(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Error = strings.Repeat("x", 8<<10)
	if err := a.Finish(context.Background(), "refused", 1, strings.Repeat("x", 8<<10)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Finish: %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
		t.Errorf("the journal holds %d bytes, want %d: a torn line was left", len(b), len(before))
	}
}

func removeFillers(t *testing.T, dir string) {
	fillers, _ := filepath.Glob(filepath.Join(dir, "filler*"))
	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}

// After a signal ended the burn, the outcome still waits a little for
// the lock (another station's append), then gives up: the intent stands.
func TestFinishAfterSignalWaitsBriefly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	a, _, err := Begin(context.Background(), path, record(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Intend(context.Background()); err != nil {
		t.Fatal(err)
	}
	other, _ := os.Open(path)
	defer other.Close()
	syscall.Flock(int(other.Fd()), syscall.LOCK_EX)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	go func() {
		time.Sleep(300 * time.Millisecond)
		syscall.Flock(int(other.Fd()), syscall.LOCK_UN)
	}()
	if err := a.Finish(ctx, "partial", 3, "stopped by a signal"); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if rep := verifyFile(t, path); rep.Records != 2 || len(rep.Interrupted) != 0 {
		t.Errorf("verify: %+v", rep)
	}
}
