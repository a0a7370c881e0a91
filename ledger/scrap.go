package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrScrapped is a board taken off the line for good: the ledger hands it
// nothing more, and its values stay with it.
var ErrScrapped = errors.New("scrapped board")

// Scrap is the record of a board scrapped: who, when, why.
type Scrap struct {
	UniqueID string
	At       string // Stamp, UTC
	By       string // the operator's login
	Station  string
	Reason   string
}

// BoardID is a UNIQUE_ID as the ledger keys it, as plan prints it: 0x
// and at least 16 lower-case hex digits (0x1a is 0x000000000000001a).
func BoardID(text string) (string, error) {
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(text)), "0x")
	if !ok || h == "" || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("UNIQUE_ID %q: write it as plan prints it, 0x and hex digits (0x0123456789abcdef)", text)
	}
	if len(h) < 16 {
		h = strings.Repeat("0", 16-len(h)) + h
	}
	return "0x" + h, nil
}

// ScrapBoard marks a board scrapped: its reserved and burned blocks become
// scrapped (never released, never handed out again: its values may be on
// it), and plan or apply with the ledger refuses it from then on. A board
// may be scrapped before anything was handed to it. Scrapping a board
// again changes nothing: the first record stays, and again is set.
func (l *Ledger) ScrapBoard(ctx context.Context, uniqueID, by, station, reason string) (s Scrap, blocks []Entry, again bool, err error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return s, nil, false, l.wrap(err)
	}
	defer tx.Rollback()
	s, found, err := l.scrapped(ctx, tx, uniqueID)
	if err != nil {
		return s, nil, false, err
	}
	now := time.Now().UTC().Format(Stamp)
	if !found {
		s = Scrap{UniqueID: uniqueID, At: now, By: by, Station: station, Reason: reason}
		if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_scrapped (unique_id, at, by_user, station, reason) VALUES ($1, $2, $3, $4, $5)`),
			uniqueID, now, by, station, reason); err != nil {
			return s, nil, false, l.wrap(err)
		}
	}
	// Also when scrapped already: a block adopted from the board since
	// (another station's apply that raced the scrap) goes with it.
	if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_blocks SET state = 'scrapped', updated_at = $2 WHERE unique_id = $1 AND state IN ('reserved', 'burned')`),
		uniqueID, now); err != nil {
		return s, nil, false, l.wrap(err)
	}
	if err := tx.Commit(); err != nil {
		return s, nil, false, l.wrap(err)
	}
	es, err := l.Entries(ctx, Filter{UniqueID: uniqueID})
	return s, es, found, err
}

// Scrapped returns the board's scrap record, if it was scrapped.
func (l *Ledger) Scrapped(ctx context.Context, uniqueID string) (Scrap, bool, error) {
	return l.scrapped(ctx, l.db, uniqueID)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (l *Ledger) scrapped(ctx context.Context, q querier, uniqueID string) (Scrap, bool, error) {
	s := Scrap{UniqueID: uniqueID}
	err := q.QueryRowContext(ctx, l.q(`SELECT at, by_user, station, reason FROM otpprov_scrapped WHERE unique_id = $1`), uniqueID).
		Scan(&s.At, &s.By, &s.Station, &s.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, l.wrap(err)
	}
	return s, true, nil
}

// refuseScrapped stops a plan or apply of a scrapped board before the
// ledger hands it anything.
func (l *Ledger) refuseScrapped(ctx context.Context, uniqueID string) error {
	s, found, err := l.Scrapped(ctx, uniqueID)
	if err != nil || !found {
		return err
	}
	return s.refusal(l.shown)
}

func (s Scrap) refusal(ledger string) error {
	why := ""
	if s.Reason != "" {
		why = fmt.Sprintf(" (%s)", s.Reason)
	}
	return fmt.Errorf("%w: the ledger %s holds the board %s as scrapped on %s by %s at station %s%s: a scrapped board is never provisioned again, and its values stay with it; nothing was written",
		ErrScrapped, ledger, s.UniqueID, s.At, s.By, s.Station, why)
}
