// Package wantfile is for tests: it reads .want files, which list the
// diagnostics an invalid input must produce, and checks diagnostics
// against them. Manifests and fuse maps share the format.
//
// Each line is "LINE:COL: message-substring", "LINE: ..." when the parser
// gives no column, or "0: ..." when it gives no position; an optional
// " || hint-substring" follows. Blank lines and lines starting with # are
// comments.
package wantfile

import (
	"bufio"
	"errors"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/internal/yamldoc"
)

// Want is one expected diagnostic: its exact position and a substring of
// its message (and, if given, of its hint).
type Want struct {
	Line, Col int
	Msg, Hint string
}

func (w Want) String() string {
	s := strconv.Itoa(w.Line)
	if w.Col != 0 {
		s += ":" + strconv.Itoa(w.Col)
	}
	s += ": " + w.Msg
	if w.Hint != "" {
		s += " || " + w.Hint
	}
	return s
}

var line = regexp.MustCompile(`^(\d+)(?::(\d+))?: (.+?)(?: \|\| (.+))?$`)

// Read reads a .want file; it must expect at least one diagnostic.
func Read(t testing.TB, path string) []Want {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ws []Want
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		text := sc.Text()
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		m := line.FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("%s:%d: malformed want line %q", path, n, text)
		}
		w := Want{Msg: m[3], Hint: m[4]}
		w.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			w.Col, _ = strconv.Atoi(m[2])
		}
		ws = append(ws, w)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(ws) == 0 {
		t.Fatalf("%s: no expected diagnostics", path)
	}
	return ws
}

// Diags returns err as Diagnostics, failing the test if it is anything
// else or empty.
func Diags(t testing.TB, err error) yamldoc.Diagnostics {
	t.Helper()
	if err == nil {
		t.Fatal("succeeded, want diagnostics")
	}
	var ds yamldoc.Diagnostics
	if !errors.As(err, &ds) {
		t.Fatalf("error is %T (%v), want Diagnostics", err, err)
	}
	if len(ds) == 0 {
		t.Fatal("error is an empty Diagnostics")
	}
	return ds
}

// Check compares diagnostics with the expected ones, in order: each in
// file, at its line and column, and sorted by position.
func Check(t testing.TB, file string, ds yamldoc.Diagnostics, ws []Want) {
	t.Helper()
	if len(ds) != len(ws) {
		t.Errorf("got %d diagnostics, want %d:\n%s\nwant:\n%s", len(ds), len(ws), Dump(ds), dumpWants(ws))
		return
	}
	for i, d := range ds {
		w := ws[i]
		if d.Pos.File != file {
			t.Errorf("diagnostic %d: file %q, want %q", i, d.Pos.File, file)
		}
		if d.Pos.Line != w.Line || d.Pos.Col != w.Col {
			t.Errorf("diagnostic %d at %d:%d, want %d:%d (%s)", i, d.Pos.Line, d.Pos.Col, w.Line, w.Col, d.Message)
		}
		if !strings.Contains(d.Message, w.Msg) {
			t.Errorf("diagnostic %d: message %q does not contain %q", i, d.Message, w.Msg)
		}
		if w.Hint != "" && !strings.Contains(d.Hint, w.Hint) {
			t.Errorf("diagnostic %d: hint %q does not contain %q", i, d.Hint, w.Hint)
		}
	}
	if !Sorted(ds) {
		t.Errorf("diagnostics not sorted by position:\n%s", Dump(ds))
	}
}

// Sorted reports whether diagnostics are in line and column order.
func Sorted(ds yamldoc.Diagnostics) bool {
	return sort.SliceIsSorted(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
}

// Dump lists diagnostics one per line, for failure messages.
func Dump(ds yamldoc.Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("\t" + d.Pos.String() + ": " + d.Message)
		if d.Hint != "" {
			b.WriteString(" || " + d.Hint)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func dumpWants(ws []Want) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString("\t" + w.String() + "\n")
	}
	return b.String()
}
