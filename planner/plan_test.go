package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
	"github.com/otpprov/otpprov/nvmem"
)

var imx8mm, _ = fusemap.Load("imx8mm")

func target(bank, word int, value, mask uint32) manifest.Target {
	return manifest.NewTarget(imx8mm.SoC, bank, word, value, mask)
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name            string
		before          uint32
		value, mask     uint32
		action          Action
		delta, conflict uint32
	}{
		{"blank word", 0, 0x0f, 0xffffffff, Program, 0x0f, 0},
		{"already burned", 0x0f, 0x0f, 0xffffffff, NoOp, 0, 0},
		{"some bits left", 0x05, 0x0f, 0xffffffff, Program, 0x0a, 0},
		{"1 where 0 is wanted", 0x10, 0x0f, 0xffffffff, Conflict, 0, 0x10},
		{"1 outside the mask is fine", 0xf0, 0x0f, 0x0f, Program, 0x0f, 0},
		{"masked zero wanted, burned", 0x01, 0x00, 0x01, Conflict, 0, 0x01},
		{"masked zero wanted, blank", 0x00, 0x00, 0x01, NoOp, 0, 0},
		{"read-protected", nvmem.ReadProtected, 0x1, 0xffffffff, Unreadable, 0, 0},
		{"read-protected, even if it would match", nvmem.ReadProtected, nvmem.ReadProtected, 0xffffffff, Unreadable, 0, 0},
		{"full word", 0, 0xffffffff, 0xffffffff, Program, 0xffffffff, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := decide(target(14, 0, c.value, c.mask), c.before)
			if got.Action != c.action || got.Delta != c.delta || got.Conflict != c.conflict {
				t.Fatalf("got %s delta %#x conflict %#x, want %s delta %#x conflict %#x",
					got.Action, got.Delta, got.Conflict, c.action, c.delta, c.conflict)
			}
			// The delta never holds a bit the manifest did not ask for.
			if got.Delta&^(c.value&c.mask) != 0 {
				t.Fatalf("delta %#x has bits outside value&mask", got.Delta)
			}
		})
	}
}

func blank() []uint32 { return make([]uint32, imx8mm.Words) }

func TestMakeGeometry(t *testing.T) {
	_, err := Make(Source{}, imx8mm, make([]uint32, 128), nil)
	if !errors.Is(err, ErrGeometry) || !strings.Contains(err.Error(), "128 words (512 bytes) but imx8mm has 256") {
		t.Fatalf("err = %v", err)
	}
}

func TestSummaryAndRejected(t *testing.T) {
	state := blank()
	state[imx8mm.ReadIndex(14, 1)] = 0x3
	state[imx8mm.ReadIndex(14, 2)] = nvmem.ReadProtected
	p, err := Make(Source{}, imx8mm, state, []manifest.Target{
		target(14, 0, 0xff, 0xffffffff), // program 8 bits
		target(14, 1, 0x3, 0xffffffff),  // no-op
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Summary(); got != (Summary{Program: 1, NoOp: 1, Bits: 8}) || p.Rejected() {
		t.Fatalf("summary %+v rejected %v", got, p.Rejected())
	}
	if w := p.Writes(); len(w) != 1 || w[0].Index != imx8mm.ReadIndex(14, 0) {
		t.Fatalf("writes %+v", w)
	}
	p, _ = Make(Source{}, imx8mm, state, []manifest.Target{target(14, 2, 1, 1)})
	if !p.Rejected() || p.Summary().Unreadable != 1 {
		t.Fatalf("unreadable word must reject: %+v", p.Summary())
	}
	p, _ = Make(Source{}, imx8mm, state, []manifest.Target{target(14, 0, 1, 1), target(14, 1, 0, 1)})
	if !p.Rejected() || p.Summary().Conflict != 1 {
		t.Fatalf("conflict must reject the whole plan: %+v", p.Summary())
	}
}

func samplePlan(t testing.TB) *Plan {
	t.Helper()
	state := blank()
	state[imx8mm.ReadIndex(14, 1)] = 0x100
	tg := target(14, 0, 0x0f, 0x0f)
	tg.Names = []string{"board-rev"}
	p, err := Make(Source{Name: "m", File: "m.yaml", Digest: "sha256:00"}, imx8mm, state,
		[]manifest.Target{tg, target(14, 1, 0x101, 0xffffffff), target(14, 2, 0, 0xf)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	p := samplePlan(t)
	b, err := Encode(p, "test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b, fusemap.Load)
	if err != nil {
		t.Fatal(err)
	}
	// Only the state's digest is saved; the fields decoded from it are
	// saved as shown.
	p.savedFields = p.Fields()
	p.State = nil
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, p)
	}
	again, _ := Encode(got, "test")
	if !bytes.Equal(again, b) {
		t.Fatal("encoding is not stable")
	}
}

// edit decodes a saved plan, changes it, and re-encodes it; with reseal the
// checksum is recomputed, as a careful forger would.
func edit(t *testing.T, b []byte, reseal bool, change func(*jsonPlan)) []byte {
	t.Helper()
	var doc jsonPlan
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	change(&doc)
	if reseal {
		doc.Checksum, _ = checksum(doc)
	}
	out, _ := json.Marshal(doc)
	return out
}

func TestDecodeRefuses(t *testing.T) {
	good, err := Encode(samplePlan(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	lineOf := func(b, s []byte) int { return 1 + bytes.Count(b[:bytes.Index(b, s)], []byte("\n")) }
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"edited delta", edit(t, good, false, func(d *jsonPlan) { d.Changes[0].Delta = "0x0000001f" }), "checksum mismatch"},
		{"edited and resealed delta", edit(t, good, true, func(d *jsonPlan) { d.Changes[0].Delta = "0x0000001f" }), "not what the planner computes"},
		{"resealed wrong offset", edit(t, good, true, func(d *jsonPlan) { d.Changes[0].Offset = 0 }), "do not agree with imx8mm"},
		{"resealed bank outside", edit(t, good, true, func(d *jsonPlan) { d.Changes[0].Bank = 64 }), "do not agree"},
		{"resealed bad hex", edit(t, good, true, func(d *jsonPlan) { d.Changes[0].Value = "15" }), "is not a word"},
		{"future version", edit(t, good, true, func(d *jsonPlan) { d.FormatVersion = 4 }), "format version 4"},
		// The release a plan records is read as strictly as the rest.
		{"version 2 with a release", edit(t, good, true, func(d *jsonPlan) { d.FormatVersion = 2 }), "a version 2 plan has no release"},
		{"no release", edit(t, good, true, func(d *jsonPlan) { d.Release = nil }), "it has no release"},
		{"unknown release status", edit(t, good, true, func(d *jsonPlan) { d.Release.Status = "trusted" }), `release status "trusted"`},
		{"unsigned naming a release", edit(t, good, true, func(d *jsonPlan) { d.Release.Name = "gw" }), "an unsigned plan names a release"},
		{"signed without a name", edit(t, good, true, func(d *jsonPlan) { d.Release = &Release{Status: ReleaseSigned, Digest: "sha256:00"} }), "no name or digest"},
		{"escape in the signer", edit(t, good, true, func(d *jsonPlan) {
			d.Release = &Release{Status: ReleaseSigned, Name: "gw", Digest: "sha256:00", Signer: "a\x1b[2Kb"}
		}), "holds control character U+001B"},
		{"old version", edit(t, good, true, func(d *jsonPlan) { d.FormatVersion = 1 }), "format version 1"},
		{"resealed unknown field", edit(t, good, true, func(d *jsonPlan) { d.Fields[0].Name = "NOPE" }), "no field NOPE"},
		// What a reviewer reads must be what the changes burn.
		{"resealed write", edit(t, good, true, func(d *jsonPlan) { d.Writes[0].Delta = "0xffffffff" }), "its writes do not follow from its changes"},
		{"resealed write dropped", edit(t, good, true, func(d *jsonPlan) { d.Writes = d.Writes[1:] }), "its writes do not follow"},
		{"resealed summary", edit(t, good, true, func(d *jsonPlan) { d.Summary.Bits = 1 }), "its summary counts do not follow"},
		{"resealed security", edit(t, good, true, func(d *jsonPlan) { d.Security = append(d.Security, "SEC_CONFIG_CLOSE") }), "its security fields do not follow"},
		// Text a terminal would obey: an escape sequence could rewrite the review.
		{"resealed escape in a name", edit(t, good, true, func(d *jsonPlan) { d.Changes[0].Names = []string{"ok\x1b[2K"} }), `"ok\x1b[2K" holds control character U+001B`},
		{"resealed escape in the manifest name", edit(t, good, true, func(d *jsonPlan) { d.Manifest.Name = "m\r" }), `"m\r" holds control character U+000D`},
		{"resealed bidi override in a name", edit(t, good, true, func(d *jsonPlan) { d.Changes[0].Names = []string{"gp\u202e1"} }), `holds control character U+202E`},
		{"not a plan", []byte(`{"format":"something"}`), "format is"},
		{"unknown field", bytes.Replace(good, []byte(`"soc"`), []byte(`"extra": 1, "soc"`), 1), "unknown field"},
		{"trailing data", append(append([]byte{}, good...), []byte("{}")...), "trailing data"},
		{"truncated", good[:len(good)/2], fmt.Sprintf("it ends early, at line %d: cut short?", lineOf(good, good[len(good)/2:]))},
		{"syntax error", bytes.Replace(good, []byte(`"soc":`), []byte(`"soc";`), 1), fmt.Sprintf("line %d: invalid character ';'", lineOf(good, []byte(`"soc":`)))},
		{"empty", nil, "EOF"},
		{"huge", make([]byte, MaxPlanFile+1), "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.b, fusemap.Load)
			if !errors.Is(err, ErrPlanFile) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrPlanFile containing %q", err, c.want)
			}
		})
	}
}

// forge writes a plan file for one word of soc as a forger with this
// package would: well formed, checksummed, every derived section right.
func forge(t *testing.T, soc string, targets ...manifest.Target) []byte {
	t.Helper()
	m, err := fusemap.Load(soc)
	if err != nil {
		t.Fatal(err)
	}
	p := &Plan{Source: Source{Name: "forged"}, SoC: m.SoC, Map: m, StateDigest: "sha256:00"}
	for _, tg := range targets {
		p.Changes = append(p.Changes, decide(tg, 0))
	}
	p.order()
	b, err := Encode(p, "test")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A saved plan may only name what a manifest could: the checksum is no
// signature, and apply burns what Decode accepts. FuzzDecode found the
// first (a mask of 0 on the UNIQUE_ID word); a hazard word used to burn
// and an unreadable one to panic in Recheck.
func TestDecodeRefusesWhatNoManifestCould(t *testing.T) {
	imx8mp, _ := fusemap.Load("imx8mp")
	imx6q, _ := fusemap.Load("imx6q")
	imx7ulp, _ := fusemap.Load("imx7ulp")
	good := target(14, 0, 1, 1)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"no bits", forge(t, "imx8mm", target(0, 1, 0, 0)), "bank 0 word 1: mask 0x00000000 selects no bits"},
		{"value outside mask", forge(t, "imx8mm", target(14, 0, 0x3, 0x1)), "value 0x00000003 has bits outside mask 0x00000001"},
		{"identity", forge(t, "imx8mm", target(0, 2, 0x1, 0x1)), "bank 0 word 2 is UNIQUE_ID, which NXP programs"},
		{"i.MX8MP word 256", forge(t, "imx8mp", manifest.NewTarget(imx8mp.SoC, 64, 0, 1, 1)), "bank 64 word 0 cannot be programmed through nvmem"},
		{"i.MX7ULP", forge(t, "imx7ulp", manifest.NewTarget(imx7ulp.SoC, 2, 0, 1, 1)), "bank 2 word 0 cannot be programmed through nvmem"},
		{"i.MX6Q bank 15", forge(t, "imx6q", manifest.NewTarget(imx6q.SoC, 15, 0, 1, 1)), "bank 15 word 0 cannot be programmed through nvmem"},
		{"twice", forge(t, "imx8mm", good, good), "change 2: bank 14 word 0 is planned twice"},
		{"secret", forge(t, "imx8mm", target(8, 0, 0x12345678, 0xffffffff)), "bank 8 word 0 holds bits of a secret field, which otpprov never saves"},
		{"writes", edit(t, forge(t, "imx8mm", good), true, func(d *jsonPlan) { d.Writes[0].Delta = "0x00000003" }), "its writes do not follow from its changes with the imx8mm fuse map"},
		{"no writes", edit(t, forge(t, "imx8mm", good), true, func(d *jsonPlan) { d.Writes = nil }), "its writes do not follow from its changes with the imx8mm fuse map"},
		{"summary", edit(t, forge(t, "imx8mm", good), true, func(d *jsonPlan) { d.Summary.Bits = 0 }), "its summary counts do not follow"},
		{"security", edit(t, forge(t, "imx8mm", good), true, func(d *jsonPlan) { d.Security = []string{"SEC_CONFIG_CLOSE"} }), "its security fields do not follow"},
		{"warnings", edit(t, forge(t, "imx8mm", good), true, func(d *jsonPlan) { d.Warnings = []Warning{{"GP1", "harmless"}} }), "its warnings do not follow"},
		{"device size", edit(t, forge(t, "imx8mm", good), true, func(d *jsonPlan) { d.State.Words = 128 }), "device of 128 words; imx8mm has 256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.b, fusemap.Load)
			if !errors.Is(err, ErrPlanFile) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrPlanFile containing %q", err, c.want)
			}
		})
	}
	if _, err := Decode(forge(t, "imx8mm", good), fusemap.Load); err != nil {
		t.Fatalf("a plan for one GP1 bit: %v", err)
	}
}

func TestRecheck(t *testing.T) {
	p := samplePlan(t)
	b, _ := Encode(p, "test")
	saved, err := Decode(b, fusemap.Load)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Recheck(saved, p.State)
	if err != nil || !reflect.DeepEqual(fresh.Changes, p.Changes) {
		t.Fatalf("unchanged device: err %v", err)
	}

	touched := append([]uint32{}, p.State...)
	touched[imx8mm.ReadIndex(14, 0)] = 0x1
	_, err = Recheck(saved, touched)
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "bank 14 word 0 was 0x00000000, now 0x00000001") {
		t.Fatalf("touched word: err = %v", err)
	}

	other := append([]uint32{}, p.State...)
	other[0] = 0x1
	_, err = Recheck(saved, other)
	if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), "words the plan does not program changed") {
		t.Fatalf("other word: err = %v", err)
	}
}

// A saved plan re-checked on the board it was applied to is already
// applied, not stale: nothing to do. Only exactly the plan's result
// counts: a board where anything else changed too, or where the plan was
// applied only in part, is stale.
func TestRecheckAlreadyApplied(t *testing.T) {
	p := mustMake(t, blank(), join(field(t, "GP1", 0x0000001100000005), field(t, "GP2", 0x3)))
	b, _ := Encode(p, "test")
	saved, err := Decode(b, fusemap.Load)
	if err != nil {
		t.Fatal(err)
	}
	done := append([]uint32{}, p.State...)
	for _, w := range p.Writes() {
		done[w.Index] |= w.Delta
	}
	fresh, err := Recheck(saved, done)
	if err != nil || !fresh.AlreadyApplied || fresh.Summary().Program != 0 || len(fresh.Writes()) != 0 {
		t.Fatalf("applied board: %v, already applied %v", err, fresh != nil && fresh.AlreadyApplied)
	}
	if fresh, _ := Recheck(saved, p.State); fresh.AlreadyApplied {
		t.Error("the unchanged board is marked already applied")
	}

	more := append([]uint32{}, done...)
	more[imx8mm.ReadIndex(9, 3)] = 1 // another word burned since
	if _, err := Recheck(saved, more); !errors.Is(err, ErrStale) {
		t.Errorf("applied, and another word changed: %v, want ErrStale", err)
	}
	extra := append([]uint32{}, done...)
	extra[imx8mm.ReadIndex(14, 0)] |= 0x100 // a planned word holds more than the plan's after-value
	if _, err := Recheck(saved, extra); !errors.Is(err, ErrStale) {
		t.Errorf("a planned word beyond its after-value: %v, want ErrStale", err)
	}
	half := append([]uint32{}, p.State...)
	half[imx8mm.ReadIndex(14, 0)] = done[imx8mm.ReadIndex(14, 0)]
	if _, err := Recheck(saved, half); !errors.Is(err, ErrStale) {
		t.Errorf("applied in part: %v, want ErrStale", err)
	}
}

// A plan records its release and reads it back; an unsigned plan says
// so; a saved plan of version 2, from before releases, reads as unsigned.
func TestReleaseRoundTrip(t *testing.T) {
	p := samplePlan(t)
	rel := &Release{Status: ReleaseSigned, Name: "gw-1.4", Digest: "sha256:ab", Signer: "rel@acme.example",
		KeyType: "ssh-ed25519", Fingerprint: "SHA256:xyz"}
	p.Source.Release = rel
	b, err := Encode(p, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"formatVersion": 3`)) || !bytes.Contains(b, []byte(`"fingerprint": "SHA256:xyz"`)) {
		t.Fatalf("the document lacks its version or release:\n%s", b)
	}
	back, err := Decode(b, fusemap.Load)
	if err != nil {
		t.Fatal(err)
	}
	if back.Source.Release == nil || *back.Source.Release != *rel {
		t.Errorf("release read back %+v, want %+v", back.Source.Release, rel)
	}
	p.Source.Release = nil
	b, err = Encode(p, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"release": {`+"\n"+`    "status": "unsigned"`+"\n"+`  },`)) {
		t.Errorf("an unsigned plan does not say so:\n%s", b)
	}
	v2 := edit(t, b, true, func(d *jsonPlan) { d.FormatVersion, d.Release = 2, nil })
	back, err = Decode(v2, fusemap.Load)
	if err != nil {
		t.Fatalf("a version 2 plan: %v", err)
	}
	if back.Source.Release != nil {
		t.Errorf("a version 2 plan read with release %+v", back.Source.Release)
	}
}
