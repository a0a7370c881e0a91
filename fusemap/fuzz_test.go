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
		if len(m.Fields) < fields || len(base.Fields) != fields {
			t.Errorf("applying changed the base map or lost fields: %d -> %d (base %d)", fields, len(m.Fields), len(base.Fields))
		}
	})
}
