package planner

import (
	"fmt"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/internal/benchdata"
	"github.com/otpprov/otpprov/manifest"
)

// BenchmarkPlan: a plan of a manifest touching every programmable word of
// a blank i.MX8MM (256 words) and i.MX8MP (384 words), from the loaded
// manifest to the ordered, checked plan.
func BenchmarkPlan(b *testing.B) {
	for _, soc := range []string{"imx8mm", "imx8mp"} {
		m, err := fusemap.Load(soc)
		if err != nil {
			b.Fatal(err)
		}
		text, n := benchdata.EveryWord(m)
		mf, err := manifest.Parse("every-word.yaml", text)
		if err != nil {
			b.Fatal(err)
		}
		state := make([]uint32, m.Words)
		b.Run(fmt.Sprintf("%s-%dwords", soc, m.Words), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				p, err := Make(Source{Name: "every-word"}, m, state, mf.Targets)
				if err != nil {
					b.Fatal(err)
				}
				if s := p.Summary(); s.Program != n || p.Rejected() {
					b.Fatalf("%+v, want %d words to program", s, n)
				}
			}
		})
	}
}

// linearSizes are the emulator geometries of the linearity benchmark:
// the i.MX7ULP's 64 words... the 4096 words no SoC has.
var linearSizes = []int{64, 256, 384, 4096}

// BenchmarkPlanWords: manifest load and plan of every word of a synthetic
// device, for each size: the cost per word must stay flat (make bench
// prints the ratios).
func BenchmarkPlanWords(b *testing.B) {
	for _, words := range linearSizes {
		m, text := synthetic(b, words)
		state := make([]uint32, words)
		maps := manifest.Options{Maps: func(string) (*fusemap.Map, error) { return m, nil }}
		b.Run(fmt.Sprintf("words=%d", words), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				mf, err := manifest.ParseOpts("raw.yaml", text, maps)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Make(Source{Name: "raw"}, m, state, mf.Targets); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func synthetic(tb testing.TB, words int) (*fusemap.Map, []byte) {
	m, err := benchdata.Map(words)
	if err != nil {
		tb.Fatal(err)
	}
	return m, benchdata.Raw(m)
}

// TestPlanGrowsLinearly: loading and planning a manifest of every word
// allocates the same per word at 4096 words as at 64. Allocations are
// counted, not timed, so the check is exact on any machine; make bench
// shows the times.
func TestPlanGrowsLinearly(t *testing.T) {
	perWord := map[int]float64{}
	for _, words := range []int{64, 4096} {
		m, text := synthetic(t, words)
		state := make([]uint32, words)
		maps := manifest.Options{Maps: func(string) (*fusemap.Map, error) { return m, nil }}
		allocs := testing.AllocsPerRun(1, func() {
			mf, err := manifest.ParseOpts("raw.yaml", text, maps)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Make(Source{Name: "raw"}, m, state, mf.Targets)
			if err != nil || p.Summary().Program != words {
				t.Fatalf("%v, %+v", err, p.Summary())
			}
		})
		perWord[words] = allocs / float64(words)
	}
	if perWord[4096] > 1.25*perWord[64] {
		t.Errorf("allocations per word: %.1f at 4096 words, %.1f at 64: the plan grows faster than the device", perWord[4096], perWord[64])
	}
}
