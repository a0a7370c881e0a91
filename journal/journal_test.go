package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func record(i int) Record {
	t := time.Date(2026, 11, 23, 10, 0, i, 0, time.UTC)
	return Record{Start: t, Host: "station-1", ToolVersion: "test", Command: "apply",
		Device: "sim:b", SoC: "imx8mm", UniqueID: "0x0123456789abcdef",
		Manifest:  Manifest{Name: "sku-a", Files: []string{"base.yaml", "sku-a.yaml"}, Digest: "sha256:00"},
		Variables: []Variable{{Name: "mac0", Type: "mac", Value: "00:04:9f:01:02:03", From: "--var"}},
		Words:     []Word{{Bank: 9, Word: 0, Offset: 0x90, WriteOffset: 0x90, Before: "0x00000000", Delta: "0x9f010203", Status: "skipped"}}}
}

// attempt runs one attempt on path as apply does: Begin, Intend when it
// burns, Finish.
func attempt(t *testing.T, path string, i int, burns bool) {
	t.Helper()
	a, _, err := Begin(context.Background(), path, record(i), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tmpl := record(i)
	a.Manifest, a.Variables, a.Words = tmpl.Manifest, tmpl.Variables, tmpl.Words
	outcome, code := "refused", 1
	if burns {
		if err := a.Intend(context.Background()); err != nil {
			t.Fatal(err)
		}
		a.Words[0].Status, a.Words[0].After = "verified", "0x9f010203"
		outcome, code = "applied", 0
	}
	if err := a.Finish(context.Background(), outcome, code, ""); err != nil {
		t.Fatal(err)
	}
}

// intended begins an attempt of record(0) on path and writes its intent.
func intended(t *testing.T, path string) *Attempt {
	t.Helper()
	a, _, err := Begin(context.Background(), path, record(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Words = record(0).Words
	if err := a.Intend(context.Background()); err != nil {
		a.Close()
		t.Fatal(err)
	}
	return a
}

func write(t *testing.T, n int) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	for i := 0; i < n; i++ {
		attempt(t, path, i, i%2 == 1)
	}
	return path, lines(t, path)
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Each line keeps its newline: a last line without one is torn.
	out := strings.SplitAfter(string(b), "\n")
	return out[:len(out)-1]
}

func verify(lines []string) (Report, error) {
	return Verify(strings.NewReader(strings.Join(lines, "")))
}

func verifyFile(t *testing.T, path string) Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, b)
	}
	return rep
}

// An attempt that burns writes an intent, then an outcome that names it;
// one that does not writes one outcome. The chain is one line after the
// other.
func TestAppendChains(t *testing.T) {
	_, lines := write(t, 2)
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), strings.Join(lines, ""))
	}
	if rep, err := verify(lines); err != nil || rep.Records != 3 || len(rep.Interrupted) != 0 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	for _, w := range []struct {
		line int
		text string
	}{
		{1, `"formatVersion":2,"seq":1,"prev":"","kind":"outcome","start"`},
		{2, `"seq":2,"prev":"sha256:`},
		{2, `"kind":"intent","open":[{"seq":2,"at":`},
		{2, `"process":{"pid":`},
		{2, `"status":"planned"`},
		{3, `"seq":3,"prev":"sha256:`},
		{3, `"kind":"outcome","intentSeq":2,"start"`},
		{3, `"after":"0x9f010203","status":"verified"`},
		{3, `"outcome":"applied","exitCode":0`},
	} {
		if !strings.Contains(lines[w.line-1], w.text) {
			t.Errorf("no %s in line %d:\n%s", w.text, w.line, lines[w.line-1])
		}
	}
	if strings.Contains(lines[2], `"open"`) || strings.Contains(lines[2], `"process"`) {
		t.Errorf("the outcome still lists its intent as open, or a process:\n%s", lines[2])
	}
	if strings.Contains(lines[1], `"exitCode"`) || strings.Contains(lines[1], `"end"`) || strings.Contains(lines[1], `"outcome"`) {
		t.Errorf("the intent has an outcome's fields:\n%s", lines[1])
	}
}

// Every kind of tampering is found, at the line where the chain breaks;
// deleting the last record is the one thing a chain cannot show.
func TestVerifyFindsTampering(t *testing.T) {
	_, lines := write(t, 4) // refused, intent+applied, refused, intent+applied
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	edit := func(i int, old, nw string) []string {
		out := append([]string(nil), lines...)
		if !strings.Contains(out[i], old) {
			t.Fatalf("line %d has no %q", i+1, old)
		}
		out[i] = strings.Replace(out[i], old, nw, 1)
		return out
	}
	cases := []struct {
		name  string
		lines []string
		want  string
	}{
		{"edited middle record", edit(2, "9f010203", "9f010204"), "line 3: the record was edited"},
		{"edited last record", edit(5, `"outcome":"applied"`, `"outcome":"partial"`), "line 6: the record was edited"},
		{"deleted middle record", append(append([]string(nil), lines[:1]...), lines[2:]...), "line 2: the chain is broken"},
		{"swapped records", []string{lines[1], lines[0], lines[2], lines[3]}, "line 1: the chain is broken"},
		{"not json", edit(2, "{", "["), "line 3: not a journal record"},
		{"unknown key", edit(2, `"host"`, `"hostname":"x","host"`), "line 3: not a journal record"},
		{"blank line", append(append([]string(nil), lines[:2]...), append([]string{"\n"}, lines[2:]...)...), "line 3: empty line"},
		// What no digest covers, on the last line, which no prev covers.
		{"a record added to the last line", edit(5, "}\n", `}{"format":"otpprov-journal","outcome":"forged"}`+"\n"), "line 6: the record is not as otpprov writes it"},
		{"a key given twice", edit(5, `"outcome":"applied"`, `"outcome":"forged","outcome":"applied"`), "line 6: the record is not as otpprov writes it"},
		{"a key in other case", edit(5, `"host"`, `"HOST"`), "line 6: the record is not as otpprov writes it"},
		{"a space", edit(5, `,"host"`, `, "host"`), "line 6: the record is not as otpprov writes it"},
		{"a newer version", edit(5, `"formatVersion":2`, `"formatVersion":4`), "line 6: format version 4, written by a newer otpprov"},
		{"torn last line", append(append([]string(nil), lines[:5]...), lines[5][:40]), "line 6: the last line is torn"},
		{"NUL bytes at the end", append(append([]string(nil), lines...), "\x00\x00\x00"), "line 7: the file ends in 3 NUL bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify(c.lines)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if rep, err := verify(lines[:3]); err != nil || rep.Records != 3 {
		t.Errorf("a journal cut after a record verifies (%+v, %v): the chain cannot show a lost tail", rep, err)
	}
}

// TestBeginChecksTheTail: before the device is opened, the end of the
// journal must be a record otpprov wrote, chained to the one before it,
// with nothing after it. Every other end is refused, says its line, and
// leaves the file as it was: a torn last line (cut at every byte, or
// NULs after power loss), a record that lost its newline, an edited or
// unchained last record, garbage, a newer format, a file that is no
// journal.
func TestBeginChecksTheTail(t *testing.T) {
	path, good := write(t, 2) // 3 lines
	whole := strings.Join(good, "")
	last := good[2]
	type want struct {
		line                    int
		torn, notJournal, newer bool
		text                    string
	}
	cases := map[string]struct {
		content string
		want    want
	}{
		"garbage line":        {whole + "garbage\n", want{line: 4, text: "not a journal record"}},
		"a blank line":        {whole + "\n", want{line: 4, text: "not a journal record"}},
		"NULs":                {whole + strings.Repeat("\x00", 4096), want{line: 4, torn: true, text: "ends in 4096 NUL bytes"}},
		"torn and NULs":       {whole + last[:100] + strings.Repeat("\x00", 50), want{line: 4, torn: true, text: "torn: 150 bytes"}},
		"no newline":          {strings.TrimSuffix(whole, "\n"), want{line: 3, torn: true, text: "the last record has no newline"}},
		"edited last":         {strings.Join(good[:2], "") + strings.Replace(last, "applied", "partial", 1), want{line: 3, text: "the record was edited"}},
		"middle deleted":      {good[0] + good[2], want{line: 2, text: "the chain is broken"}},
		"garbage after":       {whole + `{"not":"a record"}`, want{line: 4, text: "not a journal record (data appended by something else?)"}},
		"newer":               {whole + strings.Replace(last, `"formatVersion":2`, `"formatVersion":4`, 1), want{line: 4, newer: true, text: "format version 4, written by a newer otpprov"}},
		"a README":            {"# otpprov\n\nA README.\n", want{line: 3, notJournal: true, text: "not an otpprov journal: invalid character 'A'"}},
		"a README, no end":    {"# otpprov\n\nA README.", want{line: 2, notJournal: true, text: "not an otpprov journal: an empty line"}},
		"one line of JSON":    {`{"format":"otpprov-plan","formatVersion":2}` + "\n", want{line: 1, notJournal: true, text: `not an otpprov journal: format "otpprov-plan", want "otpprov-journal"`}},
		"a plan file":         {"{\n  \"format\": \"otpprov-plan\",\n  \"formatVersion\": 2\n}\n", want{line: 4, notJournal: true, text: "not an otpprov journal: invalid character '}'"}},
		"binary":              {"\x7fELF\x02\x01\x01\x00\x00\x00", want{line: 1, notJournal: true, text: "not an otpprov journal"}},
		"an unchained record": {whole + good[1], want{line: 4, text: "the chain is broken"}},
	}
	// A write cut at every byte of the last record is a torn tail.
	for i := 1; i < len(last)-1; i++ {
		cases[fmt.Sprintf("cut at %d", i)] = struct {
			content string
			want    want
		}{strings.Join(good[:2], "") + last[:i], want{line: 3, torn: true, text: "torn"}}
	}
	for name, c := range cases {
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		a, _, err := Begin(context.Background(), path, record(9), nil)
		if err == nil {
			a.Close()
			t.Errorf("%s: Begin accepted it", name)
			continue
		}
		var te *Error
		if !errors.As(err, &te) {
			t.Errorf("%s: %v is no Error", name, err)
			continue
		}
		got := want{te.Line, te.Torn, te.NotJournal, te.Newer, ""}
		if c.want.text = ""; got != c.want || !strings.Contains(err.Error(), cases[name].want.text) || !strings.HasPrefix(err.Error(), "journal "+path+":") {
			t.Errorf("%s: %v %+v, want %+v and %q", name, err, got, c.want, cases[name].want.text)
		}
		if c.want.torn && !strings.Contains(te.Hint(), "otpprov journal repair "+path) {
			t.Errorf("%s: hint %q", name, te.Hint())
		}
		if b, _ := os.ReadFile(path); string(b) != c.content {
			t.Errorf("%s: the journal changed", name)
		}
	}
}

// TestTailOnly: an apply reads the end of the journal, not all of it.
// An edit of the first record, which only journal verify can see, does
// not stop it: the per-apply check costs the same on a journal of any
// length.
func TestTailOnly(t *testing.T) {
	path, lines := write(t, 5)
	edited := strings.Replace(lines[0], "sku-a", "sku-b", 1)
	if err := os.WriteFile(path, []byte(edited+strings.Join(lines[1:], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	attempt(t, path, 9, true)
	b, _ := os.ReadFile(path)
	if _, err := Verify(bytes.NewReader(b)); err == nil || !strings.Contains(err.Error(), "line 1: the record was edited") {
		t.Fatalf("verify: %v", err)
	}
}

// A second process appending to the same journal waits while the first
// holds the lock, and says what it waits for: the file and the holder.
// Ctrl-C (the context) ends the wait, with nothing written.
func TestLockWaitSaysAndStops(t *testing.T) {
	path, _ := write(t, 1)
	before, _ := os.ReadFile(path)
	other, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := syscall.Flock(int(other.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	said := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		a, _, err := Begin(ctx, path, record(1), func(s string) { said <- s })
		if a != nil {
			a.Close()
		}
		done <- err
	}()
	select {
	case s := <-said:
		want := fmt.Sprintf("waiting for the lock of journal %s, held by pid %d (journal.test) (Ctrl-C stops waiting)", path, os.Getpid())
		if s != want {
			t.Errorf("said %q, want %q", s, want)
		}
	case err := <-done:
		t.Fatalf("Begin went through a held lock: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("nothing said while waiting")
	}
	select {
	case err := <-done:
		t.Fatalf("Begin ended without the lock: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrInterrupted) {
			t.Errorf("err = %v, want ErrInterrupted", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not end with the context")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the journal changed")
	}
}

// The lock is taken per record, not per attempt: two stations' attempts
// interleave (intent A, intent B, outcome B, outcome A), each outcome
// names its own intent, and the open lists say which are still running.
func TestInterleavedStations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	ctx := context.Background()
	begin := func(host string) *Attempt {
		r := record(0)
		r.Host = host
		a, _, err := Begin(ctx, path, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Words = record(0).Words
		return a
	}
	a, b := begin("station-a"), begin("station-b")
	defer a.Close()
	defer b.Close()
	for _, step := range []func() error{
		func() error { return a.Intend(ctx) },
		func() error { return b.Intend(ctx) },
		func() error { return b.Finish(ctx, "applied", 0, "") },
		func() error { return a.Finish(ctx, "partial", 3, "stopped") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	ls := lines(t, path)
	for i, want := range []string{
		`"seq":1,.*"kind":"intent","open":\[\{"seq":1,"at":0,"need":[0-9]+\}\],.*"host":"station-a"`,
		`"seq":2,.*"kind":"intent","open":\[\{"seq":1,"at":0,"need":[0-9]+\},\{"seq":2,"at":[1-9][0-9]*,"need":[0-9]+\}\],.*"host":"station-b"`,
		`"seq":3,.*"kind":"outcome","intentSeq":2,"open":\[\{"seq":1,.*"host":"station-b".*"outcome":"applied"`,
		`"seq":4,.*"kind":"outcome","intentSeq":1,"start".*"host":"station-a".*"outcome":"partial","exitCode":3,"error":"stopped"`,
	} {
		if !regexp.MustCompile(want).MatchString(ls[i]) {
			t.Errorf("line %d does not match %s:\n%s", i+1, want, ls[i])
		}
	}
	if rep := verifyFile(t, path); rep.Records != 4 || len(rep.Interrupted) != 0 {
		t.Errorf("verify: %+v", rep)
	}
}

// A manifest file name that is not UTF-8 (Latin-1 "café.yaml") is written
// as U+FFFD, and the record still verifies: its digest is of what is read
// back, not of the bytes JSON could not carry. It used to read as edited.
func TestAppendInvalidUTF8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	for i := 0; i < 2; i++ {
		a, _, err := Begin(context.Background(), path, record(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		a.Manifest.Files = []string{"caf\xe9.yaml"}
		a.Words = record(i).Words
		if err := a.Intend(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := a.Finish(context.Background(), "applied", 0, "caf\xe9"); err != nil {
			t.Fatal(err)
		}
		a.Close()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(bytes.NewReader(b)); err != nil || rep.Records != 4 {
		t.Fatalf("verify: %+v, %v\n%s", rep, err, b)
	}
	if !bytes.Contains(b, []byte("\"files\":[\"caf\uFFFD.yaml\"]")) {
		t.Errorf("the file name is not written as U+FFFD:\n%s", b)
	}
}

// TestBeginRefusesNonRegular: a journal that would not keep its records is
// refused when it is opened, before the apply burns anything: a FIFO
// (opening it read-write does not block), /dev/null, a directory.
func TestBeginRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	null := filepath.Join(dir, "null.jsonl")
	if err := os.Symlink("/dev/null", null); err != nil {
		t.Fatal(err)
	}
	for path, what := range map[string]string{fifo: "a FIFO", null: "a character device", dir: "a directory"} {
		a, _, err := Begin(context.Background(), path, record(0), nil)
		if err == nil {
			a.Close()
			t.Errorf("%s: opened", what)
			continue
		}
		if want := "not a regular file (" + what + ")"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", what, err, want)
		}
	}
	// A new journal is created, and a symlink to a regular file is fine.
	real := filepath.Join(dir, "real.jsonl")
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink("real.jsonl", link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{real, link} {
		a, _, err := Begin(context.Background(), path, record(0), nil)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		a.Close()
	}
}

// A station that upgrades keeps its journal: a real version 1 journal,
// written by otpprov before intents (testdata/v1.jsonl: a refusal, two
// applies, a partial apply, a write and a rejected plan), still verifies,
// and new attempts append after it, their chain hanging off its last
// record; its lines are not touched.
func TestVersion1JournalAppendable(t *testing.T) {
	v1, err := os.ReadFile("testdata/v1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(bytes.NewReader(v1)); err != nil || rep.Records != 6 {
		t.Fatalf("the version 1 journal: %+v, %v", rep, err)
	}
	path := filepath.Join(t.TempDir(), "j.jsonl")
	if err := os.WriteFile(path, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	attempt(t, path, 1, true)
	attempt(t, path, 2, false)
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, v1) {
		t.Fatal("the version 1 lines changed")
	}
	if rep := verifyFile(t, path); rep.Records != 9 {
		t.Fatalf("%d records, want 9", rep.Records)
	}
	if ls := lines(t, path); !strings.Contains(ls[6], `"formatVersion":2,"seq":7,`) || !strings.Contains(ls[7], `"intentSeq":7`) {
		t.Errorf("the new records:\n%s%s", ls[6], ls[7])
	}
}

// An older otpprov on another station may still append version 1
// records to a shared journal, between an intent and its outcome: it
// does not carry the open list, so the next record starts it afresh, and
// the journal verifies.
func TestVersion1BetweenIntentAndOutcome(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	ctx := context.Background()
	a := intended(t, path)
	defer a.Close()
	// The older otpprov's Append, as it was: chain, seal as version 1.
	old := record(5)
	end, zero := old.Start.Add(time.Second), 0
	old.End, old.ExitCode, old.Outcome = &end, &zero, "applied"
	ls := lines(t, path)
	line, err := seal(&old, trimEOL([]byte(ls[len(ls)-1])), 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(append(line, '\n'))
	f.Close()
	if err := a.Finish(ctx, "applied", 0, ""); err != nil {
		t.Fatal(err)
	}
	if rep := verifyFile(t, path); rep.Records != 3 || len(rep.Interrupted) != 0 {
		t.Fatalf("verify: %+v", rep)
	}
}
