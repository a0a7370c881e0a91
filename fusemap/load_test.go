package fusemap

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/internal/yamldoc"
	"github.com/otpprov/otpprov/internal/yamldoc/wantfile"
)

// The .want format and its checks are shared with the manifest tests.
type want = wantfile.Want

func readWant(t *testing.T, path string) []want { return wantfile.Read(t, path) }

func diagsOf(t *testing.T, err error) yamldoc.Diagnostics { return wantfile.Diags(t, err) }

func checkDiags(t *testing.T, file string, ds yamldoc.Diagnostics, ws []want) {
	t.Helper()
	wantfile.Check(t, file, ds, ws)
}

func dump(ds yamldoc.Diagnostics) string { return wantfile.Dump(ds) }

// TestParseInvalid: each testdata/invalid/NAME.yaml is refused with exactly
// the diagnostics of NAME.want, in order; with CRLF line endings too.
func TestParseInvalid(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	wants, _ := filepath.Glob("testdata/invalid/*.want")
	if len(files) == 0 || len(wants) != len(files) {
		t.Fatalf("%d .yaml files but %d .want files in testdata/invalid", len(files), len(wants))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ws := readWant(t, strings.TrimSuffix(file, ".yaml")+".want")
			m, err := Parse(file, b)
			if m != nil {
				t.Error("Parse returned a map along with its error")
			}
			ds := diagsOf(t, err)
			checkDiags(t, file, ds, ws)
			// Every line of the error names file:line:col, as an editor
			// jumps to it.
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("error line %q does not start with %s:", line, file)
				}
			}

			_, err = Parse(file, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
			if crlf := diagsOf(t, err); !reflect.DeepEqual(crlf, ds) {
				t.Errorf("CRLF: diagnostics differ:\n%s\nwant\n%s", dump(crlf), dump(ds))
			}
		})
	}
}

// TestParseValid: a small map using every way of writing a field decodes
// to what the README says each form means.
func TestParseValid(t *testing.T) {
	file := "testdata/valid/small6.yaml"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(file, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "small6" || m.Description != "test map" || m.File != file || !slices.Equal(m.Sources, []string{"test"}) {
		t.Errorf("header: name %q description %q file %q sources %q", m.Name, m.Description, m.File, m.Sources)
	}
	if m.Words != 48 || m.WordsPerBank != 8 || m.WritableWords != 24 || m.WriteHazard != "test reason" {
		t.Errorf("geometry %+v", m.SoC)
	}
	if !reflect.DeepEqual(m.ReadShifts, []Shift{{2, 8}, {4, 16}}) {
		t.Errorf("ReadShifts = %v", m.ReadShifts)
	}
	// Read indexes: banks 0-1 as written, 2-3 +8, 4-5 +16.
	for _, c := range []struct{ bank, word, read int }{{1, 7, 15}, {2, 0, 24}, {3, 7, 39}, {4, 0, 48}} {
		if got := m.ReadIndex(c.bank, c.word); got != c.read {
			t.Errorf("ReadIndex(%d, %d) = %d, want %d", c.bank, c.word, got, c.read)
		}
	}
	if _, _, ok := m.BankWord(16); ok {
		t.Error("read index 16 is in the gap, BankWord says it holds a fuse")
	}
	// "words: 4" from 1/6 runs on into the next bank.
	if got := field(t, m, "SPAN").Parts; !reflect.DeepEqual(got, []Part{whole(1, 6), whole(1, 7), whole(2, 0), whole(2, 1)}) {
		t.Errorf("SPAN parts %v", got)
	}
	// An integer bits (5) reads like the string "5".
	if got := field(t, m, "KEY_LOCK").Parts; !reflect.DeepEqual(got, []Part{{0, 0, 5, 1}}) {
		t.Errorf("KEY_LOCK parts %v", got)
	}
	if got := field(t, m, "ID").Parts; !reflect.DeepEqual(got, []Part{whole(0, 1), {0, 2, 0, 8}}) {
		t.Errorf("ID parts %v", got)
	}
	kl := field(t, m, "KEY_LOCK").Lock
	if kl == nil || kl.Write != 0 || kl.Read != 0 || kl.Override != NoBit {
		t.Errorf("KEY_LOCK lock %+v, want write 0 read 0 and no override", kl)
	}
	if !field(t, m, "KEY").Secret || field(t, m, "KEY").Encoding != Uint {
		t.Error("KEY: secret uint expected (uint is the default encoding)")
	}
	if m.Identity() != field(t, m, "ID") {
		t.Error("Identity() is not ID")
	}
	// FieldsAt: whole words first, then by bit position from the top.
	var names []string
	for _, f := range m.FieldsAt(0, 0) {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"LOCK", "KEY_LOCK"}) {
		t.Errorf("FieldsAt(0, 0) = %v", names)
	}
	// A field with two parts in one word is listed there once.
	if fs := m.FieldsAt(1, 0); len(fs) != 1 || fs[0].Name != "SPLIT" || fs[0].Width() != 8 {
		t.Errorf("FieldsAt(1, 0) = %v, want SPLIT (8 bits) once", fs)
	}
	state := make([]uint32, m.Words)
	state[0] = 1 << 5
	if lf := m.ReadLockedBy(state, 2, 0); lf == nil || lf.Name != "KEY_LOCK" {
		t.Errorf("ReadLockedBy(2, 0) = %v, want KEY_LOCK", lf)
	}
}

func TestParseRefusesHugeAndBinary(t *testing.T) {
	big := bytes.Repeat([]byte("#\n"), MaxSize/2+1)
	if _, err := Parse("big.yaml", big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a %d-byte map: %v", len(big), err)
	}
	if _, err := Parse("nul.yaml", []byte("kind: FuseMap\x00\n")); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("a map with a NUL byte: %v", err)
	}
}

func TestLoadUnknown(t *testing.T) {
	for _, name := range []string{"", "imx5", "IMX8MM", "../maps/imx8mm", "maps/imx8mm", "imx8mm.yaml", "README.md", "README"} {
		m, err := Load(name)
		if err == nil {
			t.Errorf("Load(%q) = %s, want an error", name, m.Name)
			continue
		}
		if !strings.Contains(err.Error(), "unknown soc") || !strings.Contains(err.Error(), "imx8mm") {
			t.Errorf("Load(%q): %q should say unknown soc and list the supported ones", name, err)
		}
		if Known(name) {
			t.Errorf("Known(%q) = true", name)
		}
	}
	names := Names()
	if !sort.StringsAreSorted(names) || !Known("imx6q") || !Known("imx8mp") {
		t.Errorf("Names() = %v", names)
	}
	// Maps are parsed once and shared.
	a, _ := Load("imx8mm")
	b, _ := Load("imx8mm")
	if a != b {
		t.Error("Load returned two copies of one map")
	}
}

// TestEmbeddedMapsInvariants: facts every embedded map must hold, whatever
// the SoC: these are the rules the README gives map authors.
func TestEmbeddedMapsInvariants(t *testing.T) {
	for _, n := range Names() {
		m, err := Load(n)
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Identity(); id == nil {
			t.Errorf("%s: no identity field", n)
		}
		sc := m.Field("SEC_CONFIG_CLOSE")
		if sc == nil || sc.Security == nil || !sc.Security.Closes || sc.Width() != 1 ||
			!slices.Contains(sc.Security.Requires, "SRK_HASH") {
			t.Errorf("%s: SEC_CONFIG_CLOSE = %+v", n, sc)
		}
		if srk := m.Field("SRK_HASH"); srk == nil || srk.Encoding != Hash || srk.Width() != 256 || !srk.allWhole() {
			t.Errorf("%s: SRK_HASH is not 8 whole words", n)
		}
		for _, f := range m.Fields {
			if f.Description == "" {
				t.Errorf("%s: %s has no description", n, f.Name)
			}
			for _, p := range f.Parts {
				if !m.Readable(p.Bank, p.Word) {
					t.Errorf("%s: %s at %v cannot be read", n, f.Name, p)
				}
			}
			if f.Lock != nil {
				for _, name := range f.Lock.Protects {
					if m.Field(name) == nil {
						t.Errorf("%s: %s protects unknown %s", n, f.Name, name)
					}
				}
			}
			if f.GeneralPurpose && (f.Lock != nil || f.Security != nil) {
				t.Errorf("%s: %s is general purpose and a lock or security field", n, f.Name)
			}
		}
	}
}
