package main

import (
	"runtime/debug"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	const rev = "bf4eb1143533c0ffee0123456789abcdef012345"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, c := range []struct {
		version  string
		settings []debug.BuildSetting
		want     string
	}{
		{"", nil, "(devel)"},
		{"(devel)", vcs("false"), "(devel) bf4eb1143533"},
		{"(devel)", vcs("true"), "(devel) bf4eb1143533+dirty"},
		// Go 1.24+: the pseudo-version carries the revision already.
		{"v0.0.0-20261124011742-bf4eb1143533+dirty", vcs("true"), "v0.0.0-20261124011742-bf4eb1143533+dirty"},
		{"v1.2.0", vcs("false"), "v1.2.0 bf4eb1143533"},
		{"v1.2.0", nil, "v1.2.0"},
	} {
		if got := formatVersion(c.version, c.settings); got != c.want {
			t.Errorf("formatVersion(%q) = %q, want %q", c.version, got, c.want)
		}
	}
}
