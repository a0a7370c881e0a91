package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func record(i int) *Record {
	t := time.Date(2026, 11, 23, 10, 0, i, 0, time.UTC)
	return &Record{Start: t, End: t.Add(time.Second), Host: "station-1", ToolVersion: "test", Command: "apply",
		Device: "sim:b", SoC: "imx8mm", UniqueID: "0x0123456789abcdef",
		Manifest:  Manifest{Name: "sku-a", Files: []string{"base.yaml", "sku-a.yaml"}, Digest: "sha256:00"},
		Variables: []Variable{{Name: "mac0", Type: "mac", Value: "00:04:9f:01:02:03", From: "--var"}},
		Words:     []Word{{Bank: 9, Word: 0, Offset: 0x90, WriteOffset: 0x90, Before: "0x00000000", Delta: "0x9f010203", After: "0x9f010203", Status: "verified"}},
		Outcome:   "applied", ExitCode: 0}
}

func write(t *testing.T, n int) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	for i := 0; i < n; i++ {
		j, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Append(record(i)); err != nil {
			t.Fatal(err)
		}
		j.Close()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

func verify(lines []string) (int, error) {
	return Verify(strings.NewReader(strings.Join(lines, "")))
}

func TestAppendChains(t *testing.T) {
	_, lines := write(t, 3)
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	if n, err := verify(lines); err != nil || n != 3 {
		t.Fatalf("verify: %d, %v", n, err)
	}
	for i, l := range lines {
		if !strings.Contains(l, `"seq":`+string(rune('1'+i))) {
			t.Errorf("line %d: %s", i+1, l)
		}
	}
	if !strings.Contains(lines[0], `"prev":""`) || strings.Contains(lines[1], `"prev":""`) {
		t.Errorf("prev digests: %s / %s", lines[0], lines[1])
	}
}

// Every kind of tampering is found, at the line where the chain breaks;
// deleting the last record is the one thing a chain cannot show.
func TestVerifyFindsTampering(t *testing.T) {
	_, lines := write(t, 4)
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
		{"edited middle record", edit(1, "9f010203", "9f010204"), "line 2: the record was edited"},
		{"edited last record", edit(3, `"outcome":"applied"`, `"outcome":"partial"`), "line 4: the record was edited"},
		{"deleted middle record", append(append([]string(nil), lines[:1]...), lines[2:]...), "line 2: the chain is broken"},
		{"swapped records", []string{lines[1], lines[0], lines[2], lines[3]}, "line 1: the chain is broken"},
		{"not json", edit(2, "{", "["), "line 3: not a journal record"},
		{"unknown key", edit(2, `"host"`, `"hostname":"x","host"`), "line 3: not a journal record"},
		{"blank line", append(append([]string(nil), lines[:2]...), append([]string{"\n"}, lines[2:]...)...), "line 3: empty line"},
		// What no digest covers, on the last line, which no prev covers.
		{"a record added to the last line", append(append([]string(nil), lines[:3]...), lines[3]+`{"format":"otpprov-journal","outcome":"forged"}`), "line 4: the record is not as otpprov writes it"},
		{"a key given twice", edit(3, `"outcome":"applied"`, `"outcome":"forged","outcome":"applied"`), "line 4: the record is not as otpprov writes it"},
		{"a key in other case", edit(3, `"host"`, `"HOST"`), "line 4: the record is not as otpprov writes it"},
		{"a space", edit(3, `,"host"`, `, "host"`), "line 4: the record is not as otpprov writes it"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify(c.lines)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if n, err := verify(lines[:3]); err != nil || n != 3 {
		t.Errorf("a journal cut after a record verifies (%d, %v): the chain cannot show a lost tail", n, err)
	}
}

// A journal whose last line is not a record is not appended to: the chain
// would hang off garbage.
func TestAppendRefusesGarbage(t *testing.T) {
	path, _ := write(t, 1)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("garbage\n")
	f.Close()
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Append(record(9)); err == nil || !strings.Contains(err.Error(), "not a journal record") {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile(path)
	if bytes.Count(b, []byte("\n")) != 2 {
		t.Errorf("something was appended: %s", b)
	}
}

// Two stations sharing a journal append one after the other: a second
// Open waits while the first holds the file.
func TestOpenWaitsForTheOtherStation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	first, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan *File)
	go func() {
		second, err := Open(path)
		if err != nil {
			t.Error(err)
		}
		opened <- second
	}()
	select {
	case <-opened:
		t.Fatal("a second Open went through while the first held the journal")
	case <-time.After(200 * time.Millisecond):
	}
	if err := first.Append(record(0)); err != nil {
		t.Fatal(err)
	}
	first.Close()
	second := <-opened
	if second == nil {
		t.FailNow()
	}
	defer second.Close()
	if err := second.Append(record(1)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if n, err := Verify(bytes.NewReader(b)); err != nil || n != 2 {
		t.Fatalf("verify: %d, %v", n, err)
	}
}

// A manifest file name that is not UTF-8 (Latin-1 "café.yaml") is written
// as U+FFFD, and the record still verifies: its digest is of what is read
// back, not of the bytes JSON could not carry. It used to read as edited.
func TestAppendInvalidUTF8(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	for i := 0; i < 2; i++ {
		j, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r := record(i)
		r.Manifest.Files = []string{"caf\xe9.yaml"}
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
		j.Close()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Verify(bytes.NewReader(b)); err != nil || n != 2 {
		t.Fatalf("verify: %d, %v\n%s", n, err, b)
	}
	if !bytes.Contains(b, []byte("\"files\":[\"caf\uFFFD.yaml\"]")) {
		t.Errorf("the file name is not written as U+FFFD:\n%s", b)
	}
}

// TestOpenRefusesNonRegular: a journal that would not keep its records is
// refused when it is opened, before the apply burns anything: a FIFO
// (opening it read-write does not block), /dev/null, a directory.
func TestOpenRefusesNonRegular(t *testing.T) {
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
		f, err := Open(path)
		if err == nil {
			f.Close()
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
		f, err := Open(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		f.Close()
	}
}
