package importer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
	"github.com/otpprov/otpprov/planner"
)

const digiDump = "../examples/imx8mm/digi-cc8mm.dump"

func load(t testing.TB, soc string) *fusemap.Map {
	t.Helper()
	m, err := fusemap.Load(soc)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// digiState is the Digi document's dump as the device reads it: its
// read-protected words are 0xBADABADA.
func digiState(t testing.TB) []uint32 {
	t.Helper()
	f, err := os.Open(digiDump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := nvmem.ParseDump(f, digiDump, 1024)
	if err != nil {
		t.Fatal(err)
	}
	state := make([]uint32, len(img.Bytes)/4)
	for k := range state {
		state[k] = binary.LittleEndian.Uint32(img.Bytes[4*k:])
	}
	if len(img.Protected) == 0 || state[img.Protected[0]] != fusemap.ReadProtected {
		t.Fatalf("the dump should have read-protected words: %v", img.Protected)
	}
	return state
}

// imported runs Manifest and parses what it wrote with the maps it was
// made from. It fails the test on any error.
func imported(t testing.TB, m *fusemap.Map, state []uint32, opts Options) (string, *manifest.Manifest) {
	t.Helper()
	var b bytes.Buffer
	res, err := Manifest(&b, m, state, opts)
	if err != nil {
		t.Fatalf("Manifest: %v", err)
	}
	// Per-unit fields are variables: given the board's own values, the
	// manifest is that board's.
	vars := map[string]manifest.VarValue{}
	for _, v := range res.Variables {
		vars[v.Name] = manifest.VarValue{Text: v.Value, From: "--var"}
	}
	man, err := manifest.ParseOpts("imported.yaml", b.Bytes(), manifest.Options{Vars: vars, Maps: func(soc string) (*fusemap.Map, error) {
		if soc != m.Name {
			return nil, fmt.Errorf("manifest soc %s, imported from %s", soc, m.Name)
		}
		return m, nil
	}})
	if err != nil {
		t.Fatalf("the imported manifest does not parse: %v\n%s", err, numbered(b.String()))
	}
	return b.String(), man
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, l)
	}
	return b.String()
}

// checkNoOp plans the manifest against the state it came from: every word
// must be a no-op, and the plan not rejected.
func checkNoOp(t testing.TB, m *fusemap.Map, state []uint32, man *manifest.Manifest, text string) {
	t.Helper()
	p, err := planner.Make(planner.Source{Name: man.Name}, m, state, man.Targets)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rejected() {
		t.Errorf("plan rejected:\n%s", numbered(text))
	}
	for _, c := range p.Changes {
		if c.Action != planner.NoOp {
			t.Errorf("bank %d word %d: %s (before 0x%08x value 0x%08x mask 0x%08x delta 0x%08x) %s",
				c.Bank, c.Word, c.Action, c.Before, c.Value, c.Mask, c.Delta, c.Reason)
		}
	}
	if len(p.Writes()) != 0 {
		t.Errorf("%d writes in a no-op plan", len(p.Writes()))
	}
}

// exportable is, independently of the importer, what an import must carry
// of the word at read index k: every bit, except those of identity,
// factory and secret fields, in a word that reads and can be programmed.
func exportable(m *fusemap.Map, state []uint32, k int) uint32 {
	bank, word, ok := m.BankWord(k)
	if !ok || state[k] == fusemap.ReadProtected || !m.Writable(m.WriteIndex(bank, word)) {
		return 0
	}
	keep := ^uint32(0)
	for _, f := range m.Fields {
		if f.Identity || f.Factory || f.Secret || (f.Varies() && !unitValue(m, f, state)) {
			keep &^= f.MaskIn(bank, word)
		}
		// The bits NXP sets in a pattern field (i.MX8MP FIELD_RETURN bit 2)
		// are the part's, never a manifest's.
		for i, p := range f.Parts {
			if p.Bank == bank && p.Word == word {
				keep &^= p.Mask() &^ f.ValueMask(i)
			}
		}
	}
	return keep
}

// checkReproduces burns the manifest's targets into a blank device: it
// must hold exactly want[k] at every read index, and no two entries of the
// manifest may select the same bit of a word.
func checkReproduces(t testing.TB, m *fusemap.Map, man *manifest.Manifest, want []uint32, text string) {
	t.Helper()
	blank := make([]uint32, m.Words)
	for _, tg := range man.Targets {
		blank[tg.Index] |= tg.Value & tg.Mask
	}
	bad := 0
	for k := range blank {
		if blank[k] != want[k] {
			bad++
			if bad <= 5 {
				t.Errorf("read index %d: a blank board gets 0x%08x, want 0x%08x (lost 0x%08x, extra 0x%08x)",
					k, blank[k], want[k], want[k]&^blank[k], blank[k]&^want[k])
			}
		}
	}
	seen := map[int]uint32{}
	for _, f := range man.Fuses {
		for _, b := range f.Bits {
			k := m.ReadIndex(b.Bank, b.Word)
			if both := seen[k] & b.Mask; both != 0 {
				t.Errorf("%s: bank %d word %d bits 0x%08x are in two entries", f.Name, b.Bank, b.Word, both)
			}
			seen[k] |= b.Mask
		}
	}
	if bad > 0 || t.Failed() {
		t.Logf("manifest:\n%s", numbered(text))
	}
}

// wantAll is what an import of the whole device must burn on a blank one.
func wantAll(m *fusemap.Map, state []uint32) []uint32 {
	want := make([]uint32, len(state))
	for k := range state {
		want[k] = state[k] & exportable(m, state, k)
	}
	return want
}

var confirm = regexp.MustCompile(`--confirm-security (\S+)`)

// checkSecurityNote plans the manifest on a blank board: the fields that
// plan needs --confirm-security for are the ones the header names.
func checkSecurityNote(t testing.TB, m *fusemap.Map, man *manifest.Manifest, text string) {
	t.Helper()
	p, err := planner.Make(planner.Source{}, m, make([]uint32, m.Words), man.Targets)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range p.Security() {
		want = append(want, f.Name)
	}
	got := ""
	if mm := confirm.FindStringSubmatch(unwrap(text)); mm != nil {
		got = mm[1]
	}
	if got != strings.Join(want, ",") {
		t.Errorf("the header names --confirm-security %q; a blank board's plan needs %q", got, strings.Join(want, ","))
	}
}

// unitValue reports whether a per-unit field's value, as read, is one a
// variable holds: a MAC must be an interface address.
func unitValue(m *fusemap.Map, f *fusemap.Field, state []uint32) bool {
	parts, ok := m.Parts(f, state)
	if !ok {
		return false
	}
	if f.Encoding == fusemap.MAC {
		n, _ := f.Number(parts)
		_, err := fusemap.ParseMAC(fusemap.FormatMAC(n))
		return err == nil
	}
	return true
}
