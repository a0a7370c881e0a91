package ledger

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strings"
)

// JSONEntry is an entry in ledger show, find and export --json
// (format otpprov-ledger-entries, version 1).
type JSONEntry struct {
	Pool       string   `json:"pool"`
	Values     []string `json:"values"`
	UniqueID   string   `json:"uniqueId"`
	State      string   `json:"state"`
	Station    string   `json:"station"`
	ReservedAt string   `json:"reservedAt"`
	UpdatedAt  string   `json:"updatedAt"`
}

// JSONEntries is the document: entries in pool and value order.
func JSONEntries(es []Entry) []JSONEntry {
	out := []JSONEntry{}
	for _, e := range es {
		out = append(out, JSONEntry{e.Pool, e.Values, e.UniqueID, e.State, e.Station, e.ReservedAt, e.UpdatedAt})
	}
	return out
}

// WriteCSV writes entries for an ERP: a header, then one line per block,
// its values separated by spaces in one column.
func WriteCSV(w io.Writer, es []Entry) error {
	c := csv.NewWriter(w)
	c.Write([]string{"pool", "values", "unique_id", "state", "station", "reserved_at", "updated_at"})
	for _, e := range es {
		c.Write([]string{e.Pool, strings.Join(e.Values, " "), e.UniqueID, e.State, e.Station, e.ReservedAt, e.UpdatedAt})
	}
	c.Flush()
	return c.Error()
}

// WriteJSON writes the entries document.
func WriteJSON(w io.Writer, ledger string, es []Entry) error {
	b, err := json.MarshalIndent(map[string]any{"format": "otpprov-ledger-entries", "formatVersion": 1, "ledger": ledger, "entries": JSONEntries(es)}, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
