package manifest_test

import (
	"os"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/benchdata"
	"github.com/otpprov/otpprov/manifest"
)

// BenchmarkLoad: the example manifest read and validated, as every plan
// does: YAML, schema, fields resolved against the fuse map.
func BenchmarkLoad(b *testing.B) {
	const file = "../examples/imx8mm/board.yaml"
	text, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		if _, err := manifest.Parse(file, text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadEveryWord: a manifest with an entry for every word a
// manifest may program, on the 256-word i.MX8MM and the 384-word i.MX8MP.
func BenchmarkLoadEveryWord(b *testing.B) {
	for _, soc := range []string{"imx8mm", "imx8mp"} {
		m, err := fusemap.Load(soc)
		if err != nil {
			b.Fatal(err)
		}
		text, n := benchdata.EveryWord(m)
		b.Run(soc, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for i := 0; i < b.N; i++ {
				mf, err := manifest.Parse("every-word.yaml", text)
				if err != nil {
					b.Fatal(err)
				}
				if len(mf.Targets) != n {
					b.Fatalf("%d targets, want %d", len(mf.Targets), n)
				}
			}
		})
	}
}
