package planner

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/otpprov/otpprov/manifest"
)

// Every word holding bits of a secret field of the map shows as secret in
// the plan, whoever made the target: a raw entry whose mask leaves the
// secret bits out (the word's before-value holds them all the same), a
// bare target as `otpprov write` makes, or a field entry. The manifest
// does not mark them: the planner decides from the map.
func TestSecretWordsFromTheMap(t *testing.T) {
	state := blank()
	state[imx8mm.ReadIndex(8, 1)] = 0x00abcdef // SJC_RESP's high bits, burned
	state[imx8mm.ReadIndex(10, 1)] = 0x00000001
	targets := join(
		[]manifest.Target{target(8, 1, 0x01000000, 0xff000000)},  // the bits above SJC_RESP's
		[]manifest.Target{target(10, 0, 0x11223344, 0xffffffff)}, // MANUFACTURE_KEY's first word
		field(t, "GP1", 0x5566),
	)
	p := mustMake(t, state, targets)
	want := map[[2]int]uint32{{8, 1}: 0x00ffffff, {10, 0}: 0xffffffff, {14, 0}: 0, {14, 1}: 0}
	for _, c := range p.Changes {
		w, ok := want[[2]int{c.Bank, c.Word}]
		if !ok || c.Secret != w {
			t.Errorf("%d/%d: Secret %#08x, want %#08x", c.Bank, c.Word, c.Secret, w)
		}
		if w != 0 && (c.Hex(c.Before) != "secret" || c.BitList(c.Delta) != "some bits") {
			t.Errorf("%d/%d shows %s, %s", c.Bank, c.Word, c.Hex(c.Before), c.BitList(c.Delta))
		}
	}
	if !p.HasSecrets() {
		t.Error("HasSecrets is false")
	}
	// The field shows as secret, without a digest: one word of it
	// burned and the rest blank would be found from a digest by trying
	// 2^32 values.
	shown := false
	for _, f := range p.Fields() {
		if f.Field.Name == "MANUFACTURE_KEY" {
			shown = true
			if f.Before != "secret" || f.After != "secret" {
				t.Errorf("MANUFACTURE_KEY shown %q -> %q", f.Before, f.After)
			}
		}
	}
	if !shown {
		t.Error("MANUFACTURE_KEY is not among the plan's fields")
	}
	b, err := Encode(p, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"abcdef", "01000000", "11223344", "feffffff"} {
		if bytes.Contains(b, []byte(v)) {
			t.Errorf("the plan document holds %s:\n%s", v, b)
		}
	}
	var doc jsonPlan
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Changes {
		secret := want[[2]int{c.Bank, c.Word}] != 0
		for _, v := range []string{c.Value, c.Before, c.Delta, c.After, c.Conflict} {
			if (v == "secret") != secret {
				t.Errorf("%d/%d: %+v", c.Bank, c.Word, c)
			}
		}
	}
	for _, w := range doc.Writes {
		if (w.Delta == "secret") != (want[[2]int{w.Bank, w.Word}] != 0) {
			t.Errorf("write %d/%d: delta %s", w.Bank, w.Word, w.Delta)
		}
	}

	// A conflict on a secret word does not name its bits either.
	state[imx8mm.ReadIndex(10, 0)] = 0x1
	c := changeAt(mustMake(t, state, []manifest.Target{target(10, 0, 0x2, 0x3)}), 10, 0)
	if c.Action != Conflict || c.BitList(c.Conflict) != "some bits" {
		t.Errorf("conflict on a secret word: %s %s", c.Action, c.BitList(c.Conflict))
	}
}
