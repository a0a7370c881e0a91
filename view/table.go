package view

import (
	"io"
	"strings"
	"text/tabwriter"
)

// Table aligns columns of plain text. Cells must not hold colour codes:
// they would count as width.
type Table struct{ tw *tabwriter.Writer }

// NewTable starts a table with a header row.
func NewTable(w io.Writer, header ...string) *Table {
	t := &Table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.Row(header...)
	return t
}

// Row adds one row.
func (t *Table) Row(cells ...string) {
	io.WriteString(t.tw, strings.Join(cells, "\t")+"\n")
}

// Flush writes the table out.
func (t *Table) Flush() error { return t.tw.Flush() }
