package ledger

import (
	"context"

	"github.com/otpprov/otpprov/journal"
)

// AfterBurn is what an apply tells the ledger once the device may have
// changed: the blocks now on the board (OnBoard) are marked burned, and
// the journal records appended since the last copy (the outcome) are
// copied, in one transaction: one commit (an fsync on SQLite) where a
// mark and a copy took two.
//
// The marks matter more than the copy: a record the ledger does not take
// (a conflict, or a database error for it) leaves it and the records
// after it out of the ledger (a gap, which `ledger import` fills) and the
// marks in. taken is how many of recs went in, recErr why the next did
// not; err is the marks' failure, which leaves the blocks reserved (never
// handed out again either) and copies no record.
func (l *Ledger) AfterBurn(ctx context.Context, marks []Block, recs []journal.Appended, via string) (taken int, recErr, err error) {
	if len(marks) == 0 && len(recs) == 0 {
		return 0, nil, nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, l.wrap(err)
	}
	defer tx.Rollback()
	if err := l.markBurned(ctx, tx, marks); err != nil {
		return 0, nil, err
	}
	for _, a := range recs {
		if _, recErr = l.record(ctx, tx, a, via); recErr != nil {
			break
		}
		taken++
	}
	if err := tx.Commit(); err == nil || recErr == nil {
		if err != nil {
			taken = 0
		}
		return taken, recErr, l.wrap(err)
	}
	// A statement that failed aborts a PostgreSQL transaction, the marks
	// with it: they go again alone; none of the records went in.
	tx.Rollback()
	return 0, recErr, l.markBurnedAlone(ctx, marks)
}
