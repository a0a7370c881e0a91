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
// one problem per line, sorted by position, at most MaxShown of them.
type Diagnostics []Diagnostic

// MaxShown caps the problems shown of one run. A hostile or broken file
// (an alias on every line, thousands of clashing entries) can hold
// hundreds of thousands; past a screenful they are the same mistake again,
// and a flood would bury the first, which is the one to fix.
const MaxShown = 20

// Shown returns the problems to show and how many more there are.
func (ds Diagnostics) Shown() (Diagnostics, int) {
	if len(ds) <= MaxShown {
		return ds, 0
	}
	return ds[:MaxShown], len(ds) - MaxShown
}

// More says how many problems were not shown.
func More(n int) string { return fmt.Sprintf("%d more problems not shown", n) }

func (ds Diagnostics) Error() string {
	shown, more := ds.Shown()
	var b strings.Builder
	for i, d := range shown {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s: %s", d.Pos, d.Message)
	}
	if more > 0 {
		b.WriteString("\n" + More(more))
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
