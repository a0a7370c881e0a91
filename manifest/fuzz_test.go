package manifest

import (
	"os"
	"testing"
)

// FuzzParse: Parse never panics; what it accepts is a manifest whose every
// target selects some bits, has no value bits outside its mask and names a
// word the SoC has and the driver can write; what it refuses comes back as
// well-formed, sorted Diagnostics.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		for _, file := range testdataFiles(f, dir) {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			f.Add(crlf(b))
			f.Add(append(append([]byte{}, bom...), b...))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse("fuzz.yaml", b)
		if err != nil {
			if m != nil {
				t.Error("Parse returned a manifest along with its error")
			}
			checkDiagsWellFormed(t, "fuzz.yaml", err)
			return
		}
		checkManifest(t, "fuzz.yaml", b, m)
	})
}
