package fusemap

import (
	"os"
	"reflect"
	"testing"
)

// Every embedded map loads: schema, geometry and the loader's own checks.
func TestEmbeddedMapsLoad(t *testing.T) {
	names := Names()
	if len(names) < 12 {
		t.Errorf("only %d embedded maps: %v", len(names), names)
	}
	for _, n := range names {
		m, err := Load(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if m.Name != n || len(m.Fields) == 0 {
			t.Errorf("%s: name %q, %d fields", n, m.Name, len(m.Fields))
		}
	}
}

// Load skips the schema for the embedded maps, for speed; this test is
// what makes that safe: every embedded map passes the schema, and decodes
// to the same map either way.
func TestEmbeddedMapsMatchSchema(t *testing.T) {
	for _, n := range Names() {
		b, err := os.ReadFile("maps/" + n + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		checked, err := Parse(n+".yaml", b)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		loaded, err := Load(n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(checked, loaded) {
			t.Errorf("%s: the map decoded without the schema differs from the checked one", n)
		}
	}
}
