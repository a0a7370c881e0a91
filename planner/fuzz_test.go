package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
)

// FuzzDecode: `otpprov apply PLANFILE` takes a plan from disk, and its
// checksum is no signature: whoever edits the file can recompute it. So
// every input is tried as read and resealed with a fresh checksum, as a
// careful forger would. Decode never panics; what it accepts is a plan the
// planner could have made: every change inside the SoC on a word the driver
// can read and write, never the part's identity, its delta exactly the
// missing bits of value & mask, its burns exactly its delta; it encodes
// and decodes to itself; and re-checking it against a device does not
// panic either.
func FuzzDecode(f *testing.F) {
	for _, b := range planSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
		for _, derive := range []bool{false, true} {
			if sealed := reseal(b, derive); sealed != nil {
				checkDecode(t, sealed)
			}
		}
	})
}

// planSeeds are small real plans: the example manifests against a blank
// board and the Digi dump, and single words of SoCs whose geometry differs
// from the i.MX8MM's (read shifts, write hazards, the last words).
func planSeeds(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	add := func(p *Plan) {
		b, err := Encode(p, "seed")
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	text, err := os.ReadFile("../examples/imx8mm/digi-cc8mm.dump")
	if err != nil {
		f.Fatal(err)
	}
	img, err := nvmem.ParseDump(bytes.NewReader(text), "digi", imx8mm.Bytes())
	if err != nil {
		f.Fatal(err)
	}
	blankBoard := make([]uint32, imx8mm.Words)
	blankBoard[imx8mm.ReadIndex(0, 1)], blankBoard[imx8mm.ReadIndex(0, 2)] = 0x12345678, 0x9abcdef0
	files, _ := filepath.Glob("../examples/imx8mm/*.yaml")
	for _, file := range files {
		m, err := manifest.LoadOpts(file, manifest.Options{Check: true})
		if err != nil {
			continue // the vendor overlay is no manifest
		}
		for _, state := range [][]uint32{blankBoard, nvmem.Words(img.Bytes)} {
			p, err := Make(Source{Name: m.Name, File: filepath.Base(file), Digest: "sha256:00"}, m.Map, state, m.Targets)
			if err != nil {
				f.Fatal(err)
			}
			add(p)
		}
	}
	for _, w := range []struct {
		soc        string
		bank, word int
	}{
		{"imx6q", 6, 0}, {"imx6q", 13, 7}, {"imx8mp", 63, 3}, {"imx8mp", 64, 0}, {"imx7ulp", 2, 0}, {"imx6ull", 7, 0},
	} {
		m, err := fusemap.Load(w.soc)
		if err != nil {
			f.Fatal(err)
		}
		state := make([]uint32, m.Words)
		tg := manifest.NewTarget(m.SoC, w.bank, w.word, 0x5, 0xf)
		tg.Names = []string{"seed"}
		if tg.Index >= m.Words {
			continue
		}
		p, err := Make(Source{Name: "seed"}, m, state, []manifest.Target{tg})
		if err != nil {
			f.Fatal(err)
		}
		add(p)
	}
	add(samplePlan(f))
	return out
}

// reseal re-encodes whatever plan document b holds with the checksum
// Decode expects; nil when b is not JSON of that shape. With derive, it
// first recomputes what a careful forger would: each change's index,
// offset, delta, after and conflict from its bank, word, value, mask and
// before, so that an edited bank or value reaches the checks behind them.
func reseal(b []byte, derive bool) []byte {
	var doc jsonPlan
	if json.Unmarshal(b, &doc) != nil {
		return nil
	}
	if m, err := fusemap.Load(doc.SoC); err == nil && derive {
		for i, jc := range doc.Changes {
			value, err1 := parseHex32(jc.Value)
			mask, err2 := parseHex32(jc.Mask)
			before, err3 := parseHex32(jc.Before)
			if err1 != nil || err2 != nil || err3 != nil {
				continue
			}
			c := decide(manifest.NewTarget(m.SoC, jc.Bank, jc.Word, value, mask), before)
			if c.Action == Program && jc.Action == Refused {
				c.Action = Refused
			}
			jc.Index, jc.Offset, jc.Action = c.Index, c.Offset(), c.Action
			jc.Delta, jc.After, jc.Conflict = hex32(c.Delta), hex32(c.After()), hex32(c.Conflict)
			doc.Changes[i] = jc
		}
	}
	sum, err := checksum(doc)
	if err != nil {
		return nil
	}
	doc.Checksum = sum
	out, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	return out
}

func checkDecode(t *testing.T, b []byte) {
	t.Helper()
	p, err := Decode(b, fusemap.Load)
	if err != nil {
		if p != nil || !errors.Is(err, ErrPlanFile) {
			t.Fatalf("Decode: plan %v with error %v (want no plan and ErrPlanFile)", p != nil, err)
		}
		return
	}
	checkPlan(t, "decoded", p)

	// It encodes and decodes to itself.
	again, err := Encode(p, "fuzz")
	if err != nil {
		t.Fatalf("Encode of a decoded plan: %v", err)
	}
	q, err := Decode(again, fusemap.Load)
	if err != nil {
		t.Fatalf("a decoded plan, encoded again, is refused: %v\n%s", err, again)
	}
	if third, _ := Encode(q, "fuzz"); string(third) != string(again) {
		t.Fatalf("encoding is not stable:\n%s\n%s", again, third)
	}

	// Re-checking against a device in the saved state (nothing else
	// burned) must not panic; the fresh plan, if any, is consistent too.
	state := make([]uint32, p.SoC.Words)
	for _, c := range p.Changes {
		state[c.Index] = c.Before
	}
	if fresh, err := Recheck(p, state); err == nil {
		checkPlan(t, "re-checked", fresh)
	}
}

// checkPlan checks what apply trusts of a plan.
func checkPlan(t *testing.T, what string, p *Plan) {
	t.Helper()
	s := p.SoC
	seen := map[int]Change{}
	for _, c := range p.Changes {
		switch {
		case c.Bank < 0 || c.Bank >= s.Banks() || c.Word < 0 || c.Word >= s.WordsPerBank:
			t.Fatalf("%s plan: bank %d word %d is outside %s", what, c.Bank, c.Word, s.Name)
		case c.Index != s.ReadIndex(c.Bank, c.Word) || c.WriteIndex != s.WriteIndex(c.Bank, c.Word):
			t.Fatalf("%s plan: bank %d word %d has indexes %d/%d", what, c.Bank, c.Word, c.Index, c.WriteIndex)
		case !s.Readable(c.Bank, c.Word):
			t.Fatalf("%s plan: bank %d word %d cannot be read on %s", what, c.Bank, c.Word, s.Name)
		case !s.Writable(c.WriteIndex):
			t.Fatalf("%s plan: bank %d word %d cannot be written on %s: %s", what, c.Bank, c.Word, s.Name, s.WriteHazard)
		case c.Mask == 0 || c.Value&^c.Mask != 0:
			t.Fatalf("%s plan: bank %d word %d value 0x%08x mask 0x%08x", what, c.Bank, c.Word, c.Value, c.Mask)
		}
		if _, dup := seen[c.Index]; dup {
			t.Fatalf("%s plan: bank %d word %d twice", what, c.Bank, c.Word)
		}
		seen[c.Index] = c
		for _, g := range p.Map.FieldsAt(c.Bank, c.Word) {
			if g.Identity && g.MaskIn(c.Bank, c.Word)&c.Mask != 0 {
				t.Fatalf("%s plan: bank %d word %d targets %s", what, c.Bank, c.Word, g.Name)
			}
		}
		want := c.Value & c.Mask
		switch {
		case c.Action == Program || c.Action == Refused:
			if c.Delta == 0 || c.Delta != want&^c.Before || c.Before&c.Mask&^want != 0 {
				t.Fatalf("%s plan: %s bank %d word %d before 0x%08x delta 0x%08x for value 0x%08x mask 0x%08x",
					what, c.Action, c.Bank, c.Word, c.Before, c.Delta, c.Value, c.Mask)
			}
		case c.Delta != 0:
			t.Fatalf("%s plan: %s bank %d word %d has delta 0x%08x", what, c.Action, c.Bank, c.Word, c.Delta)
		}
	}
	burned := map[int]uint32{}
	for _, w := range p.Writes() {
		c, ok := seen[w.Index]
		switch {
		case !ok || c.Action != Program:
			t.Fatalf("%s plan: a burn of bank %d word %d, which the plan does not program", what, w.Bank, w.Word)
		case w.Delta == 0 || w.Delta&^c.Delta != 0 || w.Delta&burned[w.Index] != 0:
			t.Fatalf("%s plan: burn 0x%08x of bank %d word %d, whose delta is 0x%08x", what, w.Delta, w.Bank, w.Word, c.Delta)
		case w.WriteIndex != c.WriteIndex:
			t.Fatalf("%s plan: burn of bank %d word %d at write index %d", what, w.Bank, w.Word, w.WriteIndex)
		}
		burned[w.Index] |= w.Delta
	}
	for k, c := range seen {
		if c.Action == Program && !p.Rejected() && burned[k] != c.Delta {
			t.Fatalf("%s plan: bank %d word %d burns 0x%08x of delta 0x%08x", what, c.Bank, c.Word, burned[k], c.Delta)
		}
	}
	if p.Rejected() && len(p.Writes()) > 0 {
		t.Fatalf("%s plan: rejected, with %d burns", what, len(p.Writes()))
	}
}
