package manifest

import "github.com/otpprov/otpprov/internal/yamldoc"

// Pos, Diagnostic and Diagnostics are the manifest's names for the
// positions and problems of its input files.
type (
	Pos         = yamldoc.Pos
	Diagnostic  = yamldoc.Diagnostic
	Diagnostics = yamldoc.Diagnostics
)

// ParseNumber reads a number as a manifest writes it: decimal without
// leading zeros, 0x hex or 0b binary.
func ParseNumber(s string) (uint64, bool) { return yamldoc.ParseNumber(s) }
