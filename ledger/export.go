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
	Pool       string     `json:"pool"`
	Values     []string   `json:"values"`
	UniqueID   string     `json:"uniqueId"`
	State      string     `json:"state"`
	Station    string     `json:"station"`
	ReservedAt string     `json:"reservedAt"`
	UpdatedAt  string     `json:"updatedAt"`
	Scrapped   *JSONScrap `json:"scrapped,omitempty"`
}

// JSONScrap is a scrapped block's board's record: when, who, where, why.
type JSONScrap struct {
	At      string `json:"at"`
	By      string `json:"by"`
	Station string `json:"station"`
	Reason  string `json:"reason"`
}

// JSONEntries is the document: entries in pool and value order.
func JSONEntries(es []Entry) []JSONEntry {
	out := []JSONEntry{}
	for _, e := range es {
		j := JSONEntry{Pool: e.Pool, Values: e.Values, UniqueID: e.UniqueID, State: e.State, Station: e.Station, ReservedAt: e.ReservedAt, UpdatedAt: e.UpdatedAt}
		if s := e.Scrap; s != nil {
			j.Scrapped = &JSONScrap{At: s.At, By: s.By, Station: s.Station, Reason: s.Reason}
		}
		out = append(out, j)
	}
	return out
}

// WriteCSV writes entries for an ERP: a header, then one line per block,
// its values separated by spaces in one column. The scrap columns, last
// so that a reader of the first seven is unchanged, are empty but for a
// scrapped board's blocks.
func WriteCSV(w io.Writer, es []Entry) error {
	c := csv.NewWriter(w)
	c.Write([]string{"pool", "values", "unique_id", "state", "station", "reserved_at", "updated_at", "scrapped_at", "scrapped_by", "scrap_station", "scrap_reason"})
	for _, e := range es {
		var s Scrap
		if e.Scrap != nil {
			s = *e.Scrap
		}
		c.Write([]string{e.Pool, strings.Join(e.Values, " "), e.UniqueID, e.State, e.Station, e.ReservedAt, e.UpdatedAt, s.At, s.By, s.Station, s.Reason})
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
