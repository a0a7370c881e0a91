package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/otpprov/otpprov/internal/yamldoc"
)

// Entry is a block as the questions a line asks see it.
type Entry struct {
	Block
	Type       Type
	Values     []string // the block's values, formatted
	ReservedAt string   // RFC 3339, UTC
	UpdatedAt  string
	Scrap      *Scrap // the board's scrap record, for a scrapped block
}

// Filter selects entries; zero fields select all.
type Filter struct {
	UniqueID string
	Since    time.Time // updated at or after
}

// Entries lists blocks, by pool and value.
func (l *Ledger) Entries(ctx context.Context, f Filter) ([]Entry, error) {
	q := `SELECT b.pool, b.base, b.unique_id, b.state, b.station, b.reserved_at, b.updated_at, p.type, p.per_unit,
		s.at, s.by_user, s.station, s.reason
		FROM otpprov_blocks b JOIN otpprov_pools p ON p.name = b.pool
		LEFT JOIN otpprov_scrapped s ON s.unique_id = b.unique_id AND b.state = 'scrapped' WHERE 1 = 1`
	var args []any
	if f.UniqueID != "" {
		args = append(args, f.UniqueID)
		q += fmt.Sprintf(" AND b.unique_id = $%d", len(args))
	}
	if !f.Since.IsZero() {
		// RFC 3339 in UTC with a fixed width sorts as time does.
		args = append(args, f.Since.UTC().Format(Stamp))
		q += fmt.Sprintf(" AND b.updated_at >= $%d", len(args))
	}
	rows, err := l.db.QueryContext(ctx, l.q(q+" ORDER BY b.pool, b.base"), args...)
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var base int64
		var typ string
		var at, by, station, reason sql.NullString
		if err := rows.Scan(&e.Pool, &base, &e.UniqueID, &e.State, &e.Station, &e.ReservedAt, &e.UpdatedAt, &typ, &e.PerUnit,
			&at, &by, &station, &reason); err != nil {
			return nil, l.wrap(err)
		}
		if at.Valid {
			e.Scrap = &Scrap{UniqueID: e.UniqueID, At: at.String, By: by.String, Station: station.String, Reason: reason.String}
		}
		e.Base, e.Type = uint64(base), Type(typ)
		p := &Pool{Type: e.Type}
		for i := 0; i < e.PerUnit; i++ {
			e.Values = append(e.Values, p.Format(e.Base+uint64(i)))
		}
		out = append(out, e)
	}
	return out, l.wrap(rows.Err())
}

// Find returns the blocks holding a value: a MAC (aa:bb:cc:dd:ee:ff) is
// looked up in the mac pools, a number in the u32 pools.
func (l *Ledger) Find(ctx context.Context, text string) ([]Entry, error) {
	typ, v, err := foundValue(text)
	if err != nil {
		return nil, err
	}
	rows, err := l.db.QueryContext(ctx, l.q(`SELECT b.pool, b.base, b.unique_id, b.state, b.station, b.reserved_at, b.updated_at, p.per_unit
		FROM otpprov_blocks b JOIN otpprov_pools p ON p.name = b.pool
		WHERE p.type = $1 AND b.base <= $2 AND $2 < b.base + p.per_unit ORDER BY b.pool, b.updated_at`), string(typ), int64(v))
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e := Entry{Type: typ}
		var base int64
		if err := rows.Scan(&e.Pool, &base, &e.UniqueID, &e.State, &e.Station, &e.ReservedAt, &e.UpdatedAt, &e.PerUnit); err != nil {
			return nil, l.wrap(err)
		}
		e.Base = uint64(base)
		p := &Pool{Type: typ}
		for i := 0; i < e.PerUnit; i++ {
			e.Values = append(e.Values, p.Format(e.Base+uint64(i)))
		}
		out = append(out, e)
	}
	return out, l.wrap(rows.Err())
}

// foundValue reads a value find looks up: a MAC (aa:bb:cc:dd:ee:ff) of
// the mac pools, a number of the u32 pools.
func foundValue(text string) (Type, uint64, error) {
	typ := U32
	if strings.Contains(text, ":") {
		typ = MAC
	}
	v, err := parseValue(typ, strings.TrimSpace(text))
	if err != nil && typ == U32 {
		// Without a ':' it was read as a number, and "is not a 32-bit
		// number" misleads an operator who typed a MAC from a label
		// (00-04-9F-30-00-01, 00049f300001): name both forms.
		return typ, 0, fmt.Errorf("ledger find: %s is neither a MAC address (six hex octets separated by ':', 00:04:9f:01:02:03) nor a 32-bit number (1000042, or 0xf426a)", yamldoc.Quote(strings.TrimSpace(text)))
	}
	if err != nil {
		return typ, 0, fmt.Errorf("ledger find: %w", err)
	}
	return typ, v, nil
}

// Stamp is how the ledger writes times: RFC 3339 in UTC with a fixed
// number of digits, so that comparing the text compares the times.
const Stamp = "2006-01-02T15:04:05.000000000Z"
