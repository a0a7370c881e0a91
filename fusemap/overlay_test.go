package fusemap

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// snapshot is what a map says, deep enough to see a change made through
// a shared *Field or *Lock.
type snapshot struct {
	names    []string
	protects map[string][]string
	requires map[string][]string
	parts    map[string][]Part
	byName   map[string]string
}

func snap(m *Map) snapshot {
	s := snapshot{protects: map[string][]string{}, requires: map[string][]string{}, parts: map[string][]Part{}, byName: map[string]string{}}
	for _, f := range m.Fields {
		s.names = append(s.names, f.Name)
		s.parts[f.Name] = slices.Clone(f.Parts)
		if f.Lock != nil {
			s.protects[f.Name] = slices.Clone(f.Lock.Protects)
		}
		if f.Security != nil {
			s.requires[f.Name] = slices.Clone(f.Security.Requires)
		}
	}
	for n, f := range m.byName {
		s.byName[n] = f.Name
	}
	return s
}

func TestOverlayApply(t *testing.T) {
	base := imx8mm(t)
	before := snap(base)
	fieldsBefore := len(base.Fields)

	o, err := LoadOverlay("testdata/overlay/acme.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if o.SoC != "imx8mm" || o.Rename["GP2"] != "ACME_CAL" || len(o.Fields) != 4 {
		t.Fatalf("overlay = %+v", o)
	}
	m, err := o.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Overlays, []string{"testdata/overlay/acme.yaml"}) || m.File != base.File || !reflect.DeepEqual(m.SoC, base.SoC) {
		t.Errorf("applied map: overlays %v file %q soc %+v", m.Overlays, m.File, m.SoC)
	}
	// How the map is told from a board's: an overlay changes fields, not
	// which chip the map is for.
	if len(base.Compatible) == 0 || !slices.Equal(m.Compatible, base.Compatible) || !slices.Equal(m.SoCIDs, base.SoCIDs) {
		t.Errorf("applied map: compatible %q soc ids %q, want the base's %q %q", m.Compatible, m.SoCIDs, base.Compatible, base.SoCIDs)
	}
	// What differs on every unit: a MAC by its encoding, a field the
	// overlay marks perUnit; not the rest.
	for name, want := range map[string]bool{"ACME_SERIAL": true, "MAC_ADDR0": true, "ACME_BOARD_REV": false, "ACME_CAL": false} {
		if f := m.Field(name); f == nil || f.Varies() != want {
			t.Errorf("%s varies per unit: %v, want %v", name, f != nil && f.Varies(), want)
		}
	}
	if len(m.Fields) != fieldsBefore+4 {
		t.Errorf("%d fields, want %d", len(m.Fields), fieldsBefore+4)
	}

	// New fields, where the overlay put them.
	for _, c := range []struct {
		name  string
		parts []Part
	}{
		{"ACME_BOARD_REV", []Part{{14, 0, 0, 8}}},
		{"ACME_VARIANT", []Part{{14, 0, 8, 4}}},
		{"ACME_SERIAL", []Part{whole(14, 1)}},
		{"ACME_SPARE", []Part{whole(20, 0), whole(20, 1)}}, // words: 2 expanded
	} {
		f := m.Field(c.name)
		if f == nil {
			t.Errorf("%s missing", c.name)
			continue
		}
		if !reflect.DeepEqual(f.Parts, c.parts) {
			t.Errorf("%s parts %v, want %v", c.name, f.Parts, c.parts)
		}
		if f.Lock != nil || f.Security != nil || f.Identity || f.GeneralPurpose {
			t.Errorf("%s gained silicon facts: %+v", c.name, f)
		}
	}
	// The overlay's fields sit inside GP1 and are found at its words.
	var at []string
	for _, f := range m.FieldsAt(14, 0) {
		at = append(at, f.Name)
	}
	if !slices.Equal(at, []string{"GP1", "ACME_VARIANT", "ACME_BOARD_REV"}) {
		t.Errorf("FieldsAt(14, 0) = %v", at)
	}

	// The rename: by name, in lookups and in the lock that protects it.
	if m.Field("GP2") != nil {
		t.Error("GP2 still a field after the rename")
	}
	cal := m.Field("ACME_CAL")
	if cal == nil || !reflect.DeepEqual(cal.Parts, []Part{whole(14, 2), whole(14, 3)}) || !cal.GeneralPurpose {
		t.Fatalf("ACME_CAL = %+v", cal)
	}
	gl := m.Field("GP2_LOCK")
	if gl == nil || !slices.Equal(gl.Lock.Protects, []string{"ACME_CAL"}) {
		t.Errorf("GP2_LOCK protects %v, want [ACME_CAL]", gl.Lock.Protects)
	}
	if ls := m.LockersOf(14, 2); len(ls) != 1 || ls[0] != gl {
		t.Errorf("LockersOf(14, 2) = %v, want GP2_LOCK of the applied map", ls)
	}
	// Locks still work on the new fields: GP1_LOCK's write bit (20).
	state := make([]uint32, m.Words)
	state[0] = 1 << 20
	if lf := m.WriteLockedBy(state, 14, 0); lf == nil || lf.Name != "GP1_LOCK" {
		t.Errorf("ACME_BOARD_REV's word write-locked by %v, want GP1_LOCK", lf)
	}

	// The shared base map is untouched: another manifest on the same
	// process must still see GP2, protected by GP2_LOCK.
	if after := snap(base); !reflect.DeepEqual(after, before) {
		t.Errorf("the base map changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if again, _ := Load("imx8mm"); again != base || again.Field("GP2") == nil || again.Field("ACME_CAL") != nil ||
		again.Field("ACME_BOARD_REV") != nil || !slices.Equal(again.Field("GP2_LOCK").Lock.Protects, []string{"GP2"}) {
		t.Error("Load(imx8mm) after Apply shows the overlay")
	}
	if len(base.Overlays) != 0 {
		t.Errorf("base.Overlays = %v", base.Overlays)
	}

	// Applying twice gives the same map (the overlay is not consumed).
	m2, err := o.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(snap(m2), snap(m)) {
		t.Error("a second Apply gave a different map")
	}
	// An overlay stacked on an applied map records both.
	m3, err := o2(t).Apply(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(m3.Overlays) != 2 || m3.Field("ACME_CAL") == nil || m3.Field("ACME_LOT") == nil {
		t.Errorf("stacked overlay: overlays %v", m3.Overlays)
	}
	if len(m.Overlays) != 1 {
		t.Errorf("stacking changed the first applied map's overlays: %v", m.Overlays)
	}
}

func o2(t *testing.T) *Overlay {
	t.Helper()
	o, err := ParseOverlay("second.yaml", []byte(`apiVersion: otpprov/v1
kind: FuseMapOverlay
soc: imx8mm
fields:
  - {name: ACME_LOT, bank: 14, word: 3, bits: "15:0"}
`))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestOverlayInvalid: each testdata/overlay/invalid/NAME.yaml is refused,
// when read or when applied to the imx8mm map, with the diagnostics of
// NAME.want; the base map is never changed by a refused overlay.
func TestOverlayInvalid(t *testing.T) {
	base := imx8mm(t)
	before := snap(base)
	files, _ := filepath.Glob("testdata/overlay/invalid/*.yaml")
	wants, _ := filepath.Glob("testdata/overlay/invalid/*.want")
	if len(files) == 0 || len(wants) != len(files) {
		t.Fatalf("%d .yaml files but %d .want files in testdata/overlay/invalid", len(files), len(wants))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			ws := readWant(t, strings.TrimSuffix(file, ".yaml")+".want")
			o, err := LoadOverlay(file)
			if err == nil {
				var m *Map
				m, err = o.Apply(base)
				if m != nil {
					t.Error("Apply returned a map along with its error")
				}
			}
			checkDiags(t, file, diagsOf(t, err), ws)
		})
	}
	if after := snap(base); !reflect.DeepEqual(after, before) {
		t.Error("a refused overlay changed the base map")
	}
}

func TestLoadOverlayErrors(t *testing.T) {
	_, err := LoadOverlay("testdata/overlay/no-such-file.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want a not-exist error", err)
	}
	// A directory is not an overlay.
	if _, err := LoadOverlay("testdata/overlay"); err == nil {
		t.Error("a directory loaded as an overlay")
	}
	// A full map is not an overlay.
	_, err = ParseOverlay("map.yaml", mustRead(t, "maps/imx8mm.yaml"))
	if ds := diagsOf(t, err); !strings.Contains(ds[0].Message, "kind is FuseMap, expected FuseMapOverlay") {
		t.Errorf("a map given as an overlay: %v", err)
	}
	// Bigger than MaxSize: refused before parsing.
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#\n", MaxSize/2+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOverlay(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a huge overlay: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Digi's ConnectCore 8M overlay redefines the MAC fields: the words become
// the hardware ID's, the MAC lock protects the new fields, and the shared
// base map keeps its MACs.
func TestOverlayRedefine(t *testing.T) {
	base := imx8mm(t)
	before := snap(base)
	o, err := LoadOverlay("../examples/imx8mm/digi-cc8m-fusemap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := o.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if m.Field("MAC_ADDR0") != nil || m.Field("MAC_ADDR1") != nil {
		t.Error("the redefined MAC fields are still in the map")
	}
	lock := m.Field("MAC_ADDR_LOCK")
	if len(lock.Lock.Protects) != 16 || lock.Lock.Protects[0] != "DIGI_HWID_SN" {
		t.Errorf("MAC_ADDR_LOCK protects %v, want the 16 DIGI_HWID fields", lock.Lock.Protects)
	}
	// The lock still freezes every word the MACs held.
	state := make([]uint32, m.Words)
	state[m.ReadIndex(0, 0)] = 1 << 14 // MAC_ADDR_LOCK's write bit
	for _, w := range []int{0, 1, 2} {
		if lf := m.WriteLockedBy(state, 9, w); lf == nil || lf.Name != "MAC_ADDR_LOCK" {
			t.Errorf("9/%d write-locked by %v, want MAC_ADDR_LOCK", w, lf)
		}
	}
	// The serial and the MAC base differ per unit; the wireless ID does not.
	if !m.Field("DIGI_HWID_SN").Varies() || !m.Field("DIGI_HWID_MAC_BASE").Varies() || m.Field("DIGI_HWID_WID").Varies() {
		t.Error("perUnit not carried by the overlay's fields")
	}
	if base.Field("MAC_ADDR0") == nil || !reflect.DeepEqual(snap(base), before) {
		t.Error("the base map changed")
	}
}

// A redefining field of several words ("words: 3") takes each of them: the
// MAC's lock protects it, and no word is left without an heir.
func TestOverlayRedefineWords(t *testing.T) {
	o, err := LoadOverlay("testdata/overlay/redefine_words.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := o.Apply(imx8mm(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Field("MAC_ADDR_LOCK").Lock.Protects; len(got) != 1 || got[0] != "ACME_HWID" {
		t.Errorf("MAC_ADDR_LOCK protects %v", got)
	}
	// Renaming a field the overlay redefines is refused.
	o.Rename = map[string]string{"MAC_ADDR0": "ACME_MAC"}
	if _, err := o.Apply(imx8mm(t)); err == nil || !strings.Contains(err.Error(), "is redefined by this overlay") {
		t.Errorf("rename of a redefined field: %v", err)
	}
}
