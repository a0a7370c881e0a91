package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A write cut at any byte of the last record: Repair moves exactly the
// torn bytes to the side file, keeps every complete record, and the
// journal takes the next attempt. A record that lost only its newline
// gets it back.
func TestRepairTornTail(t *testing.T) {
	path, good := write(t, 2)
	keep := strings.Join(good[:2], "")
	last := good[2]
	for i := 1; i < len(last); i++ {
		content := keep + last[:i]
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(path + ".torn")
		r, err := Repair(context.Background(), path, nil)
		if err != nil {
			t.Fatalf("cut at %d: %v", i, err)
		}
		b, _ := os.ReadFile(path)
		side, _ := os.ReadFile(path + ".torn")
		if i == len(last)-1 {
			// Only the newline was lost: the record is whole.
			if !r.Completed || r.Records != 3 || string(b) != keep+last || side != nil {
				t.Fatalf("cut before the newline: %+v, journal %q, side %q", r, b, side)
			}
			continue
		}
		if r.Completed || r.Records != 2 || r.Torn != int64(i) || r.Side != path+".torn" || r.NUL {
			t.Fatalf("cut at %d: %+v", i, r)
		}
		if string(b) != keep || string(side) != last[:i] {
			t.Fatalf("cut at %d: journal %q, side file %q", i, b, side)
		}
	}
	attempt(t, path, 7, true)
	verifyFile(t, path)
}

// NULs after the last record (power loss): moved aside and said.
// A second repair keeps the first side file and uses the next name.
func TestRepairNULTail(t *testing.T) {
	path, good := write(t, 1)
	whole := strings.Join(good, "")
	for n, side := range []string{path + ".torn", path + ".torn.1"} {
		if err := os.WriteFile(path, []byte(whole+strings.Repeat("\x00", 100+n)), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Repair(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !r.NUL || r.Side != side || r.Torn != int64(100+n) {
			t.Errorf("%+v", r)
		}
		if b, _ := os.ReadFile(side); len(b) != 100+n {
			t.Errorf("%s holds %d bytes", side, len(b))
		}
	}
	if b, _ := os.ReadFile(path); string(b) != whole {
		t.Errorf("journal %q", b)
	}
}

// Repair mends a torn tail and nothing else: damage in complete records,
// bytes that are no record's beginning, a whole record that does not
// chain, a file that is no journal are refused, saying why, and left as
// they are. A journal with nothing torn is left alone.
func TestRepairRefusesOtherDamage(t *testing.T) {
	path, good := write(t, 3) // 4 lines
	whole := strings.Join(good, "")
	edited := good[0] + strings.Replace(good[1], "sku-a", "sku-b", 1) + strings.Join(good[2:], "")
	cases := []struct{ name, content, want string }{
		{"edited record, then torn", edited + good[3][:50], ".jsonl:2: the record was edited after it was written; that is not a torn tail"},
		{"garbage after the last record", whole + "garbage", ":5: the bytes after the last record are not a journal record"},
		{"a complete line of garbage", whole + "garbage\n", ".jsonl:5: not a journal record"},
		{"a whole record that does not chain", whole + strings.TrimSuffix(good[2], "\n"), ":5: the bytes after the last record are not a journal record"},
		{"a README", "# README\n\ntext", ".jsonl:1: not a journal record"},
	}
	for _, c := range cases {
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Repair(context.Background(), path, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if b, _ := os.ReadFile(path); string(b) != c.content {
			t.Errorf("%s: the file changed", c.name)
		}
		if sides, _ := filepath.Glob(path + ".torn*"); len(sides) > 0 {
			t.Errorf("%s: side files %v", c.name, sides)
		}
	}
	if err := os.WriteFile(path, []byte(whole), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := Repair(context.Background(), path, nil); !errors.Is(err, ErrNothingToRepair) || r.Records != 4 {
		t.Errorf("an intact journal: %+v, %v", r, err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte(whole)) {
		t.Error("an intact journal changed")
	}
	if _, err := Repair(context.Background(), filepath.Join(t.TempDir(), "none.jsonl"), nil); err == nil {
		t.Error("a journal that does not exist was repaired (created?)")
	}
}

// A file of NUL bytes alone (preallocated, or zeroed by a crash) is no
// journal: an apply refuses it as "not an otpprov journal", journal
// verify says the same, and journal repair leaves it as it is. A file
// holding only the start of a first record has nothing to repair to
// either. Repair used to cut both to nothing.
func TestNoRecordIsNotRepaired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.jsonl")
	_, good := write(t, 1)
	for name, content := range map[string]string{
		"only NULs":           strings.Repeat("\x00", 4096),
		"a torn first record": good[0][:200],
		"torn and NULs":       good[0][:200] + strings.Repeat("\x00", 300),
	} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(path + ".torn")
		nul := name == "only NULs"
		a, _, err := Begin(context.Background(), path, record(1), nil)
		var te *Error
		switch {
		case err == nil:
			a.Close()
			t.Errorf("%s: Begin accepted it", name)
		case !errors.As(err, &te) || te.NotJournal != nul || te.NoRecord == nul || te.Torn == nul:
			t.Errorf("%s: Begin: %v (%+v)", name, err, te)
		case nul && !strings.Contains(err.Error(), "not an otpprov journal: the file holds only 4096 NUL bytes and no record"):
			t.Errorf("%s: Begin: %v", name, err)
		case !nul && strings.Contains(te.Hint(), "journal repair"):
			t.Errorf("%s: the hint sends to a repair that will refuse: %s", name, te.Hint())
		}
		if _, err := Verify(strings.NewReader(content)); !errors.As(err, &te) || te.NotJournal != nul || te.NoRecord == nul {
			t.Errorf("%s: Verify: %v", name, err)
		}
		if r, err := Repair(context.Background(), path, nil); err == nil || !strings.Contains(err.Error(), "the file holds no complete record, and journal repair keeps records: it was left as it is") {
			t.Errorf("%s: Repair: %+v, %v", name, r, err)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("%s: the file changed", name)
		}
		if _, err := os.Stat(path + ".torn"); err == nil {
			t.Errorf("%s: a side file was written", name)
		}
	}
}

// A whole record that lost its newline and has NULs after it (the
// filesystem extended the file over blocks it never wrote) stays in the
// journal: only the NULs go aside, and the newline is added.
func TestRepairKeepsRecordBeforeNULs(t *testing.T) {
	path, good := write(t, 2)
	whole := strings.Join(good, "")
	content := strings.TrimSuffix(whole, "\n") + strings.Repeat("\x00", 700)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Repair(context.Background(), path, nil)
	if err != nil || !r.Completed || r.Records != 3 || r.Torn != 700 || r.Side != path+".torn" {
		t.Fatalf("Repair: %+v, %v", r, err)
	}
	if b, _ := os.ReadFile(path); string(b) != whole {
		t.Errorf("journal %q, want the three records whole", b)
	}
	if b, _ := os.ReadFile(path + ".torn"); string(b) != strings.Repeat("\x00", 700) {
		t.Errorf("side file %q", b)
	}
	attempt(t, path, 7, true)
	verifyFile(t, path)
}
