package fusemap

import "testing"

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
