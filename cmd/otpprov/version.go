package main

import (
	"runtime/debug"
	"strings"
)

// toolVersion is the module version and VCS revision from the build info.
func toolVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return formatVersion(bi.Main.Version, bi.Settings)
}

// formatVersion names a build: Go 1.24 and later put the revision (and
// +dirty) into the module's pseudo-version already; older toolchains
// leave "(devel)", and the revision is added once.
func formatVersion(v string, settings []debug.BuildSetting) string {
	if v == "" {
		v = "(devel)"
	}
	rev, dirty := "", false
	for _, s := range settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			rev = s.Value[:12]
		case s.Key == "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && !strings.Contains(v, rev) {
		v += " " + rev
		if dirty {
			v += "+dirty"
		}
	}
	return v
}
