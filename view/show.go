package view

import (
	"fmt"
	"io"

	"github.com/otpprov/otpprov/fusemap"
)

// Show renders a device decoded by field: one line per field with its
// value and whether it is locked or hidden.
func (s Style) Show(w io.Writer, m *fusemap.Map, device, uniqueID string, fields []fusemap.FieldState) {
	fmt.Fprintf(w, "Device    %s, soc %s\n", device, m.Name)
	if uniqueID != "" {
		fmt.Fprintf(w, "UNIQUE_ID %s\n", uniqueID)
	}
	fmt.Fprintln(w)
	t := NewTable(w, "FIELD", "BITS", "VALUE", "STATE")
	for _, fs := range fields {
		value, state := fs.Value, ""
		switch {
		case fs.ReadProtected:
			value, state = "?", "read-protected (0xbadabada)"
		case fs.WriteLockedBy != "":
			state = "write-locked by " + fs.WriteLockedBy
		case fs.OverrideLockedBy != "":
			state = "override-locked by " + fs.OverrideLockedBy
		}
		if fs.Blank && state == "" {
			state = "blank"
		}
		t.Row(fs.Field.Name, fs.Field.Where(), value, state)
	}
	t.Flush()
}
