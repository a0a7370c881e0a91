package fusemap

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/otpprov/otpprov/internal/yamldoc/wantfile"
)

// FuzzParseOverlay: a vendor's overlay never panics the loader or its
// application to a map; what it refuses comes back as positioned
// diagnostics, and an accepted one leaves the shared base map as it was.
func FuzzParseOverlay(f *testing.F) {
	files, _ := filepath.Glob("testdata/overlay/*.yaml")
	more, _ := filepath.Glob("testdata/overlay/invalid/*.yaml")
	for _, file := range append(files, more...) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	base, err := Load("imx8mm")
	if err != nil {
		f.Fatal(err)
	}
	fields := len(base.Fields)
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOverlay("fuzz.yaml", b)
		if err != nil {
			if o != nil {
				t.Error("ParseOverlay returned an overlay along with its error")
			}
			return
		}
		m, err := o.Apply(base)
		if err != nil {
			wantfile.Diags(t, err)
			return
		}
		// Only the fields it redefines leave the map; the overlay's own
		// are added.
		gone := map[string]bool{}
		for _, n := range o.Redefine {
			gone[n] = true
		}
		if want := fields - len(gone) + len(o.Fields); len(m.Fields) != want || len(base.Fields) != fields {
			t.Errorf("applying changed the base map or lost fields: %d -> %d, want %d (base %d)", fields, len(m.Fields), want, len(base.Fields))
		}
	})
}

// FuzzParse: a full fuse map (a board vendor's --fusemap for a SoC we do
// not embed, or an edited copy of ours) never panics the loader; what it
// refuses comes back as sorted diagnostics of that file; what it accepts
// keeps the loader's promises: a geometry of whole banks, every field's
// bits inside the geometry and readable, two fields either nested or
// apart in every word, unique names, lock and security references that
// resolve, encodings that fit the width. Decoding a blank and a
// read-protected device by such a map does not panic either.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("maps/*.yaml")
	for _, dir := range []string{"valid", "invalid"} {
		more, _ := filepath.Glob("testdata/" + dir + "/*.yaml")
		files = append(files, more...)
	}
	if len(files) < 12 {
		f.Fatalf("only %d seed maps", len(files))
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse("fuzz.yaml", b)
		if err != nil {
			if m != nil {
				t.Error("Parse returned a map along with its error")
			}
			ds := wantfile.Diags(t, err)
			if !wantfile.Sorted(ds) {
				t.Errorf("diagnostics not sorted:\n%s", wantfile.Dump(ds))
			}
			for _, d := range ds {
				if d.Pos.File != "fuzz.yaml" {
					t.Errorf("diagnostic in %q: %s", d.Pos.File, d.Message)
				}
			}
			return
		}
		checkMap(t, m)
	})
}

func checkMap(t *testing.T, m *Map) {
	t.Helper()
	if m.Words < 1 || m.WordsPerBank < 1 || m.Words%m.WordsPerBank != 0 {
		t.Fatalf("geometry %d words of %d per bank", m.Words, m.WordsPerBank)
	}
	ids := 0
	for _, f := range m.Fields {
		if m.Field(f.Name) != f {
			t.Fatalf("field %s: Field(%q) is another field", f.Name, f.Name)
		}
		if f.Identity {
			ids++
		}
		if len(f.Parts) == 0 {
			t.Fatalf("field %s has no bits", f.Name)
		}
		own := map[[2]int]uint32{}
		for _, p := range f.Parts {
			if p.Bank < 0 || p.Bank >= m.Banks() || p.Word < 0 || p.Word >= m.WordsPerBank ||
				p.Lsb < 0 || p.Width < 1 || p.Lsb+p.Width > 32 || !m.Readable(p.Bank, p.Word) {
				t.Fatalf("field %s: part %s (lsb %d width %d) outside %d banks of %d words, or unreadable", f.Name, p, p.Lsb, p.Width, m.Banks(), m.WordsPerBank)
			}
			if b, w, ok := m.BankWord(m.ReadIndex(p.Bank, p.Word)); !ok || b != p.Bank || w != p.Word {
				t.Fatalf("field %s: part %s reads at word %d, which BankWord says is %d/%d (%v)", f.Name, p, m.ReadIndex(p.Bank, p.Word), b, w, ok)
			}
			key := [2]int{p.Bank, p.Word}
			if own[key]&p.Mask() != 0 {
				t.Fatalf("field %s: part %s overlaps another part of the field", f.Name, p)
			}
			own[key] |= p.Mask()
			n := 0
			for _, g := range m.FieldsAt(p.Bank, p.Word) {
				if g == f {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("field %s is listed %d times at %d/%d", f.Name, n, p.Bank, p.Word)
			}
		}
		switch w := f.Width(); {
		case f.Encoding == Bool && w != 1, f.Encoding == MAC && w != 48, f.Encoding == Hash && !f.allWhole(), f.Encoding == Uint && w > 64:
			t.Fatalf("field %s: encoding %s with %d bits", f.Name, f.Encoding, w)
		}
		if f.Lock != nil {
			for _, bit := range []int{f.Lock.Write, f.Lock.Override, f.Lock.Read} {
				if bit != NoBit && (bit < 0 || bit >= f.Width()) {
					t.Fatalf("field %s: lock bit %d of %d", f.Name, bit, f.Width())
				}
			}
			for _, n := range f.Lock.Protects {
				if m.Field(n) == nil {
					t.Fatalf("field %s protects unknown %s", f.Name, n)
				}
			}
		}
		if f.Security != nil {
			for _, n := range f.Security.Requires {
				if m.Field(n) == nil {
					t.Fatalf("field %s requires unknown %s", f.Name, n)
				}
			}
		}
		for _, g := range m.Fields {
			if g == f {
				continue
			}
			for _, p := range f.Parts {
				a, b := f.MaskIn(p.Bank, p.Word), g.MaskIn(p.Bank, p.Word)
				if c := a & b; c != 0 && c != a && c != b {
					t.Fatalf("fields %s and %s partly overlap in %d/%d: 0x%08x and 0x%08x", f.Name, g.Name, p.Bank, p.Word, a, b)
				}
			}
		}
	}
	if ids > 1 {
		t.Fatalf("%d identity fields", ids)
	}
	for _, fill := range []uint32{0, ReadProtected, 0xffffffff} {
		state := make([]uint32, m.Words)
		for i := range state {
			state[i] = fill
		}
		m.Decode(state)
	}
}
