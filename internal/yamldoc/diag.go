// Package yamldoc reads the YAML files otpprov takes as input (manifests,
// fuse map overlays) into the JSON values a JSON Schema validator checks,
// remembering where every value came from, so that every problem is
// reported as file:line:col with what to do about it.
package yamldoc

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a place in an input file. Line and Col are 1-based; a Col of 0
// means the parser that found the problem did not say which column.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Diagnostic is one problem in an input file, with what to do about it.
type Diagnostic struct {
	Pos     Pos
	Message string
	Hint    string
}

// Diagnostics are all the problems found in one run. As an error it reads
// one problem per line, sorted by position.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s: %s", d.Pos, d.Message)
	}
	return b.String()
}

// Add appends one problem.
func (ds *Diagnostics) Add(pos Pos, hint, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Pos: pos, Message: fmt.Sprintf(format, args...), Hint: hint})
}

// Sorted orders the problems by file, line and column, stably.
func (ds Diagnostics) Sorted() Diagnostics {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return ds
}
