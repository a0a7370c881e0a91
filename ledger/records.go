package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/otpprov/otpprov/journal"
)

// The ledger keeps a copy of the stations' journal records: every apply
// attempt's intent and outcome, as the journal file has them. The file
// stays the station's local truth; the copy lets a line ask one database
// what every station did.
//
// A journal file is one chain, named by its first line's digest (not by
// the host: stations may share a file, and a station may start a new one
// whose seq starts at 1 again). The ledger holds each record once, at
// (chain, seq). A record it holds already is a no-op; another record at
// the same place, or one that does not follow the ledger's record before
// it or precede the one after it, is a conflict: the journal was
// rewritten (or restored from an older copy) after the ledger took it.
// A gap is allowed (a station that applied without the ledger, offline,
// or before it used one): live records after it are taken, Chains
// reports it, and `ledger import` of the journal fills it.

// How a record reached the ledger.
const (
	ViaApply  = "apply"  // copied by the apply that appended it
	ViaImport = "import" // loaded from the journal file (ledger import)
)

// ErrRecordConflict is a record the ledger cannot take: the ledger holds
// another record at its place in its journal's chain.
var ErrRecordConflict = errors.New("the journal and the ledger disagree")

// importBatch is how many records an import commits at once: one commit
// (an fsync) per record would make a year's journal take minutes.
const importBatch = 256

// Record copies one journal record into the ledger, in its own
// transaction. added is false when the ledger held it already.
func (l *Ledger) Record(ctx context.Context, a journal.Appended, via string) (added bool, err error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return false, l.wrap(err)
	}
	defer tx.Rollback()
	if added, err = l.record(ctx, tx, a, via); err != nil {
		return false, err
	}
	return added, l.wrap(tx.Commit())
}

// kindOf is the record's kind as the ledger keeps it: version 1 records
// have none (one record per attempt).
func kindOf(r *journal.Record) string {
	if r.FormatVersion == 1 {
		return "v1"
	}
	return r.Kind
}

// record inserts a in tx, checking it against its neighbours in the
// chain: the ledger's records seq-1, seq and seq+1.
func (l *Ledger) record(ctx context.Context, tx *sql.Tx, a journal.Appended, via string) (bool, error) {
	r := &a.Record
	self := a.LineDigest()
	if held, err := l.neighbours(ctx, tx, a, self); held || err != nil {
		return false, err
	}
	at := r.Start
	if r.End != nil {
		at = *r.End
	}
	res, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_records
		(chain, seq, station, kind, digest, prev, line_digest, unique_id, outcome, at, record, via, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`),
		a.Chain, r.Seq, r.Host, kindOf(r), r.Digest, r.Prev, self, r.UniqueID, r.Outcome,
		at.UTC().Format(Stamp), string(a.Line), via, time.Now().UTC().Format(Stamp))
	if err != nil {
		return false, l.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return n == 1, l.wrap(err)
	}
	// Another writer (a second import of the same journal) took the
	// place between the check and the insert: the same record, or a
	// conflict.
	_, err = l.neighbours(ctx, tx, a, self)
	return false, err
}

// neighbours checks a against the records the ledger holds at seq-1,
// seq and seq+1 of its chain; held: the ledger holds a itself.
func (l *Ledger) neighbours(ctx context.Context, tx *sql.Tx, a journal.Appended, self string) (held bool, err error) {
	r := &a.Record
	rows, err := tx.QueryContext(ctx, l.q(`SELECT seq, digest, prev, line_digest FROM otpprov_records
		WHERE chain = $1 AND seq BETWEEN $2 AND $3`), a.Chain, r.Seq-1, r.Seq+1)
	if err != nil {
		return false, l.wrap(err)
	}
	defer rows.Close()
	where := fmt.Sprintf("journal %s (station %s)", short(a.Chain), r.Host)
	for rows.Next() {
		var seq int
		var dig, prev, line string
		if err := rows.Scan(&seq, &dig, &prev, &line); err != nil {
			return false, l.wrap(err)
		}
		switch {
		case seq == r.Seq && line == self:
			held = true
		case seq == r.Seq && line != self:
			return false, fmt.Errorf("%w: record seq %d of %s is %s in the journal and %s in the ledger %s: the journal was rewritten, or restored from an older copy, after the ledger took its records; keep both for the audit",
				ErrRecordConflict, r.Seq, where, r.Digest, dig, l.shown)
		case seq == r.Seq-1 && line != r.Prev:
			return false, fmt.Errorf("%w: record seq %d of %s (%s) follows a record other than the ledger's seq %d (%s): the journal was rewritten after the ledger took its records",
				ErrRecordConflict, r.Seq, where, r.Digest, seq, dig)
		case seq == r.Seq+1 && prev != self:
			return false, fmt.Errorf("%w: the ledger's record seq %d of %s (%s) follows a record other than the journal's seq %d (%s): the journal was rewritten after the ledger took its records",
				ErrRecordConflict, seq, where, dig, r.Seq, r.Digest)
		}
	}
	return held, l.wrap(rows.Err())
}

// short is a chain's digest cut to what a person compares.
func short(chain string) string {
	if len(chain) > len("sha256:")+16 {
		return chain[:len("sha256:")+16]
	}
	return chain
}

// ImportReport is what an import did.
type ImportReport struct {
	Records int // in the journal
	Added   int // new to the ledger
	Chain   string
	// Burned are the blocks the records marked burned: reserved values
	// of a board whose words an attempt wrote to, or that read back
	// holding a bit of them (BurnedFrom).
	Burned []Entry
}

// Import loads a station's journal: the whole file is verified first
// (journal.Verify: a broken chain is refused, with its line, and nothing
// is loaded), then every record goes in, those the ledger holds already
// changing nothing, so that an import may be run again. Then the
// reserved values the records show may be on fuses are marked burned
// (BurnedFrom): a board that applied a saved plan offline, a station
// that died mid-burn.
func (l *Ledger) Import(ctx context.Context, f io.ReadSeeker) (ImportReport, error) {
	var rep ImportReport
	if _, err := journal.Verify(f); err != nil {
		return rep, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return rep, err
	}
	var batch []journal.Appended
	var ev Evidence
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		tx, err := l.db.BeginTx(ctx, nil)
		if err != nil {
			return l.wrap(err)
		}
		defer tx.Rollback()
		n := 0
		for _, a := range batch {
			added, err := l.record(ctx, tx, a, ViaImport)
			if err != nil {
				return err
			}
			if added {
				n++
			}
		}
		if err := tx.Commit(); err != nil {
			return l.wrap(err)
		}
		rep.Added += n
		batch = batch[:0]
		return nil
	}
	// The file is walked again: a station appending meanwhile adds lines
	// that are verified as they are read.
	_, err := journal.Walk(f, func(a journal.Appended) error {
		rep.Records++
		rep.Chain = a.Chain
		ev.Add(a.Record)
		batch = append(batch, a)
		if len(batch) == importBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		// Every record, those held already too: a record copied live (a
		// write, an apply whose station died) is judged here as well.
		rep.Burned, err = l.BurnedFrom(ctx, &ev)
	}
	return rep, err
}

// Chain is one journal's records as the ledger holds them.
type Chain struct {
	Chain   string
	Station string // the host of its latest record
	Records int
	Last    int // the highest seq held
}

// Missing is how many records of the journal, up to the last held, the
// ledger lacks: a station that applied without the ledger, or lost it.
func (c Chain) Missing() int { return c.Last - c.Records }

// Short is the chain's name as a person compares it.
func (c Chain) Short() string { return short(c.Chain) }

// Chains lists the journals the ledger holds records of.
func (l *Ledger) Chains(ctx context.Context) ([]Chain, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT r.chain, count(*), max(r.seq),
		(SELECT s.station FROM otpprov_records s WHERE s.chain = r.chain ORDER BY s.seq DESC LIMIT 1)
		FROM otpprov_records r GROUP BY r.chain ORDER BY r.chain`)
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	var out []Chain
	for rows.Next() {
		var c Chain
		if err := rows.Scan(&c.Chain, &c.Records, &c.Last, &c.Station); err != nil {
			return nil, l.wrap(err)
		}
		out = append(out, c)
	}
	return out, l.wrap(rows.Err())
}
