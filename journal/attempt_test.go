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
// it) is refused before a byte of it is written; and one whose write
// fails all the same (an I/O error, a full disk where room could only be
// checked) is taken back: a torn line would stop every later apply on
// the journal.
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
	if err := a.Finish(context.Background(), "refused", 1, strings.Repeat("x", 8<<10)); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Finish: %v, want ErrNoSpace", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
		t.Errorf("the journal holds %d bytes, want %d: a torn line was left", len(b), len(before))
	}
	removeFillers(t, dir)
	failWrites(t, 100)
	if err := a.Finish(context.Background(), "refused", 1, "x"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Finish: %v, want EIO", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
		t.Errorf("the journal holds %d bytes, want %d: a torn line was left", len(b), len(before))
	}
}

// failWrites makes the journal's next line writes write n bytes and fail
// with EIO, until the test ends.
func failWrites(t *testing.T, n int) {
	orig := writeLine
	writeLine = func(f *os.File, b []byte) (int, error) {
		k, _ := f.Write(b[:min(n, len(b))])
		return k, syscall.EIO
	}
	t.Cleanup(func() { writeLine = orig })
}

// spare is how many bytes the filesystem holds for path beyond its end:
// the room reserved there.
func spare(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Blocks*512 - st.Size()
}

// openNeeds is the room the last record of path says its open intents'
// outcomes need.
func openNeeds(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tl, err := readTail(f, path)
	if err != nil {
		t.Fatal(err)
	}
	return needs(tl.last.carried())
}

// The room reserved for the outcomes of attempts in progress stays
// reserved through whatever else is appended (a refusal, an interrupted
// mark), a write taken back after it failed, and a repair: each cut or
// append keeps the blocks beyond the end for every open intent. A
// refusal used to write into them, and a cut to free them.
func TestReservationKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	ctx := context.Background()
	check := func(after string) {
		t.Helper()
		need := openNeeds(t, path)
		if need == 0 {
			t.Fatalf("after %s: no open intent", after)
		}
		if got := spare(t, path); got < need {
			t.Errorf("after %s: %d bytes reserved beyond the end, the open intents need %d", after, got, need)
		}
	}
	a := intended(t, path)
	defer a.Close()
	if got := spare(t, path); got == 0 {
		t.Skip("this filesystem does not reserve (no fallocate): nothing to check")
	}
	check("the intent")
	refuse := func() error {
		b, _, err := Begin(ctx, path, record(1), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		return b.Finish(ctx, "refused", 1, strings.Repeat("x", 12<<10))
	}
	if err := refuse(); err != nil {
		t.Fatal(err)
	}
	check("a refusal of 12 KiB")
	func() {
		failWrites(t, 5000)
		defer func() { writeLine = func(f *os.File, b []byte) (int, error) { return f.Write(b) } }()
		if err := refuse(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("refusal: %v, want EIO", err)
		}
	}()
	check("a failed write taken back")
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte(strings.Repeat("\x00", 9000)))
	f.Close()
	r, err := Repair(ctx, path, nil)
	if err != nil || r.Unreserved != nil {
		t.Fatalf("repair: %+v, %v", r, err)
	}
	check("a repair")
	if err := a.Finish(ctx, "applied", 0, ""); err != nil {
		t.Fatal(err)
	}
	verifyFile(t, path)
}

func removeFillers(t *testing.T, dir string) {
	fillers, _ := filepath.Glob(filepath.Join(dir, "filler*"))
	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}

// After the intent, no signal ends the outcome's wait for the lock: a
// Ctrl-C pressed while it waits (the context cancelled) leaves it
// waiting, and it writes once the lock is free; the waiting line does
// not offer Ctrl-C. The wait is bounded all the same: a lock held for
// outcomeWait ends it with ErrLockTimeout, naming the holder, and the
// intent stands. A signal used to end the wait at once.
func TestOutcomeWaitOutlastsSignals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	said := make(chan string, 4)
	a, _, err := Begin(context.Background(), path, record(0), func(s string) { said <- s })
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
	done := make(chan error, 1)
	go func() { done <- a.Finish(ctx, "applied", 0, "") }()
	select {
	case s := <-said:
		if strings.Contains(s, "Ctrl-C") || !strings.Contains(s, "to record the outcome of the burn (at most 30s; a signal does not stop this wait)") {
			t.Errorf("said %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing said while waiting")
	}
	cancel() // Ctrl-C while the outcome waits
	select {
	case err := <-done:
		t.Fatalf("the wait ended with the signal: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	syscall.Flock(int(other.Fd()), syscall.LOCK_UN)
	if err := <-done; err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if rep := verifyFile(t, path); rep.Records != 2 || len(rep.Interrupted) != 0 {
		t.Errorf("verify: %+v", rep)
	}

	b, _, err := Begin(context.Background(), path, record(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Intend(context.Background()); err != nil {
		t.Fatal(err)
	}
	syscall.Flock(int(other.Fd()), syscall.LOCK_EX)
	defer syscall.Flock(int(other.Fd()), syscall.LOCK_UN)
	orig := outcomeWait
	outcomeWait = 200 * time.Millisecond
	defer func() { outcomeWait = orig }()
	err = b.Finish(ctx, "applied", 0, "")
	if want := fmt.Sprintf("journal %s: gave up waiting for the journal's lock: it was held by pid %d (journal.test) for 200ms", path, os.Getpid()); !errors.Is(err, ErrLockTimeout) || err.Error() != want {
		t.Errorf("Finish: %v, want %q", err, want)
	}
}

// The journal moved, cut or replaced during an attempt is noticed under
// the lock before each append: before the burn the intent is refused;
// after it the outcome is not written (ErrMoved, saying what happened),
// and nothing is appended to the file that has the name now, nor to the
// one the attempt opened. Records used to go to an unlinked or renamed
// file in silence, or onto a cut file with a chain verify refuses.
func TestJournalMovedDuringAttempt(t *testing.T) {
	ctx := context.Background()
	for name, c := range map[string]struct {
		change func(path string) error
		says   string
	}{
		"removed": {func(p string) error { return os.Remove(p) }, "it was removed or renamed during the attempt"},
		"renamed": {func(p string) error { return os.Rename(p, p+".old") }, "it was removed or renamed during the attempt"},
		"replaced": {func(p string) error {
			b, _ := os.ReadFile(p)
			os.WriteFile(p+".new", b, 0o644)
			return os.Rename(p+".new", p)
		}, "the name now leads to another file"},
		"emptied":   {func(p string) error { return os.Truncate(p, 0) }, "it was cut to 0 bytes during the attempt, and the intent (seq 2) at bytes"},
		"cut":       {func(p string) error { return os.Truncate(p, 600) }, "it was cut to 600 bytes during the attempt"},
		"rewritten": {func(p string) error { return os.WriteFile(p, []byte(strings.Repeat("\n", 4000)), 0o644) }, "the intent (seq 2) is no longer at byte"},
	} {
		for _, afterIntent := range []bool{true, false} {
			path := filepath.Join(t.TempDir(), "j.jsonl")
			attempt(t, path, 0, false)
			a, _, err := Begin(ctx, path, record(1), nil)
			if err != nil {
				t.Fatal(err)
			}
			a.Words = record(1).Words
			if afterIntent {
				if err := a.Intend(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.change(path); err != nil {
				t.Fatal(err)
			}
			snap := map[string][]byte{}
			for _, p := range []string{path, path + ".old"} {
				snap[p], _ = os.ReadFile(p)
			}
			if afterIntent {
				err = a.Finish(ctx, "applied", 0, "")
			} else {
				err = a.Intend(ctx)
			}
			a.Close()
			switch {
			case !afterIntent && name == "rewritten":
				// Longer than it was, and no journal: refused as such.
				if err == nil {
					t.Errorf("%s: the intent was written to a journal changed under the attempt", name)
				}
			case !afterIntent:
				if !errors.Is(err, ErrMoved) {
					t.Errorf("%s, before the intent: %v, want ErrMoved", name, err)
				}
			case !errors.Is(err, ErrMoved) || !strings.Contains(err.Error(), c.says):
				t.Errorf("%s, after the intent: %v, want ErrMoved saying %q", name, err, c.says)
			}
			for p, b := range snap {
				if now, _ := os.ReadFile(p); !bytes.Equal(now, b) {
					t.Errorf("%s, after the intent %v: %s was appended to", name, afterIntent, p)
				}
			}
		}
	}
}

// A station whose host name is not UTF-8 finds its own interrupted
// intents: the name is compared as the record holds it (each invalid
// byte as U+FFFD). It used to never match.
func TestInterruptedInvalidUTF8Host(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	die(t, path, "st\xe9tion")
	r := record(5)
	r.Host = "st\xe9tion"
	a, found, err := Begin(context.Background(), path, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if len(found) != 1 || found[0].Seq != 1 {
		t.Fatalf("found %+v, want the intent at seq 1", found)
	}
}
