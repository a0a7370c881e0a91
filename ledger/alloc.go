package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Block states. A block is reserved when handed out, burned once any bit
// of it reached a fuse (even a failed or unverified burn: fuses only OR,
// so a half-burned value is never handed out again), released only when
// the device proved nothing of it was written, scrapped with its board
// (a scrapped board keeps its values: they may be on it).
const (
	Reserved = "reserved"
	Burned   = "burned"
	Released = "released"
	Scrapped = "scrapped"
)

// InitReport says what Init did.
type InitReport struct {
	FromVersion int      // the schema version found (0: a new ledger)
	Added       []string // pools added
	Grown       []string // pools given new or wider ranges
}

// Init creates or upgrades the ledger's tables and loads the pools. It is
// idempotent: loading the same file again changes nothing. A pool may
// grow (new ranges, a range made wider); it may not change its type or
// perUnit once it has handed out a block, nor lose a value it handed out,
// nor drop a range (a value of it may be on a board).
func Init(ctx context.Context, raw string, ps *Pools) (*Ledger, InitReport, error) {
	l, err := open(ctx, raw, true)
	if err != nil {
		return nil, InitReport{}, err
	}
	rep, err := l.init(ctx, ps)
	if err != nil {
		l.Close()
		return nil, rep, err
	}
	return l, rep, nil
}

func (l *Ledger) init(ctx context.Context, ps *Pools) (InitReport, error) {
	var rep InitReport
	from, err := l.migrate(ctx)
	rep.FromVersion = from
	if err != nil {
		return rep, err
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return rep, l.wrap(err)
	}
	defer tx.Rollback()
	for _, p := range ps.Pools {
		added, grown, err := l.loadPool(ctx, tx, p)
		if err != nil {
			return rep, err
		}
		if added {
			rep.Added = append(rep.Added, p.Name)
		} else if grown {
			rep.Grown = append(rep.Grown, p.Name)
		}
	}
	if err := tx.Commit(); err != nil {
		return rep, l.wrap(err)
	}
	return rep, nil
}

// loadPool adds a pool or checks that the file only grows it.
func (l *Ledger) loadPool(ctx context.Context, tx *sql.Tx, p *Pool) (added, grown bool, err error) {
	var typ string
	var perUnit int
	err = tx.QueryRowContext(ctx, l.q(`SELECT type, per_unit FROM otpprov_pools WHERE name = $1`), p.Name).Scan(&typ, &perUnit)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		added = true
		if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_pools (name, type, per_unit, reuse, low_water) VALUES ($1, $2, $3, $4, $5)`),
			p.Name, string(p.Type), p.PerUnit, boolInt(p.Reuse), int64(p.LowWater)); err != nil {
			return false, false, l.wrap(err)
		}
	case err != nil:
		return false, false, l.wrap(err)
	default:
		if err := l.refuseBlockPool(ctx, tx, p); err != nil {
			return false, false, err
		}
		if typ != string(p.Type) || perUnit != p.PerUnit {
			var n int
			if err := tx.QueryRowContext(ctx, l.q(`SELECT count(*) FROM otpprov_blocks WHERE pool = $1`), p.Name).Scan(&n); err != nil {
				return false, false, l.wrap(err)
			}
			if n > 0 {
				return false, false, fmt.Errorf("%s: pool %s is type %s with perUnit %d in the ledger %s, which has handed out %d blocks of it: it cannot become type %s with perUnit %d; give a new pool a new name",
					p.Pos, p.Name, typ, perUnit, l.shown, n, p.Type, p.PerUnit)
			}
		}
		if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_pools SET type = $2, per_unit = $3, reuse = $4, low_water = $5 WHERE name = $1`),
			p.Name, string(p.Type), p.PerUnit, boolInt(p.Reuse), int64(p.LowWater)); err != nil {
			return false, false, l.wrap(err)
		}
	}
	old, err := l.ranges(ctx, tx, p.Name)
	if err != nil {
		return false, false, err
	}
	// A pool the file no longer lists still holds its values: a range of
	// this file over one of them would hand its values out again.
	for _, r := range p.Ranges {
		var other string
		err := tx.QueryRowContext(ctx, l.q(`SELECT r.pool FROM otpprov_ranges r JOIN otpprov_pools q ON q.name = r.pool
			WHERE q.type = $1 AND r.pool <> $2 AND r.lo <= $4 AND r.hi >= $3 LIMIT 1`), string(p.Type), p.Name, int64(r.First), int64(r.Last)).Scan(&other)
		if err == nil {
			return false, false, fmt.Errorf("%s: pool %s: this range overlaps a range of pool %s in the ledger %s: a value of it could go to two boards", r.Pos, p.Name, other, l.shown)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, false, l.wrap(err)
		}
	}
	// Each range of the ledger must lie within one range of the file, so
	// that no value ever handed out falls outside the pool.
	for _, o := range old {
		var in *Range
		for i, r := range p.Ranges {
			if r.First <= o.First && o.Last <= r.Last {
				in = &p.Ranges[i]
			}
		}
		if in == nil {
			return false, false, fmt.Errorf("%s: pool %s in the ledger %s has the range %s-%s, which the file no longer holds whole: a pool may grow, never shrink (values of it may be on boards)",
				p.Pos, p.Name, l.shown, p.Format(o.First), p.Format(o.Last))
		}
		if in.First != o.First || in.Last != o.Last {
			// Widened: the cursor stays where it is, which hands out the
			// old range's remaining values first, then the new ones; a
			// range widened downwards starts again at its new first
			// value only below what was handed out.
			if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_ranges SET lo = $3, hi = $4, next_free = CASE WHEN next_free = lo THEN $3 ELSE next_free END WHERE pool = $1 AND lo = $2`),
				p.Name, int64(o.First), int64(in.First), int64(in.Last)); err != nil {
				return false, false, l.wrap(err)
			}
			grown = true
		}
	}
	for _, r := range p.Ranges {
		known := false
		for _, o := range old {
			if r.First <= o.First && o.Last <= r.Last {
				known = true
			}
		}
		if !known {
			if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_ranges (pool, lo, hi, next_free) VALUES ($1, $2, $3, $2)`),
				p.Name, int64(r.First), int64(r.Last)); err != nil {
				return false, false, l.wrap(err)
			}
			grown = grown || !added
		}
	}
	return added, grown, nil
}

type dbRange struct{ First, Last, Next uint64 }

func (l *Ledger) ranges(ctx context.Context, tx *sql.Tx, pool string) ([]dbRange, error) {
	rows, err := tx.QueryContext(ctx, l.q(`SELECT lo, hi, next_free FROM otpprov_ranges WHERE pool = $1 ORDER BY lo`), pool)
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	var out []dbRange
	for rows.Next() {
		var f, la, n int64
		if err := rows.Scan(&f, &la, &n); err != nil {
			return nil, l.wrap(err)
		}
		out = append(out, dbRange{uint64(f), uint64(la), uint64(n)})
	}
	return out, l.wrap(rows.Err())
}

// Block is a board's values from one pool: PerUnit consecutive values
// from Base.
type Block struct {
	Pool     string
	Base     uint64
	PerUnit  int
	UniqueID string
	State    string
	Station  string
	New      bool // handed out by this call
}

// ErrExhausted is a pool with no value left.
var ErrExhausted = errors.New("pool exhausted")

// ErrDuplicate is a value that belongs to another board.
var ErrDuplicate = errors.New("duplicate identity")

// ErrNoPool is a pool the ledger does not hold.
var ErrNoPool = errors.New("no such pool")

// Allocate returns the board's block of the pool, handing one out if it
// has none: get-or-create in one transaction, keyed by the board's
// UNIQUE_ID, so the same board always gets the same values, across
// re-runs, stations and crashes. The block is committed (durable) when
// Allocate returns: before the first burn.
func (l *Ledger) Allocate(ctx context.Context, pool, uniqueID, station string) (Block, error) {
	bs, err := l.AllocateAll(ctx, []string{pool}, uniqueID, station)
	if err != nil {
		return Block{}, err
	}
	return bs[0], nil
}

// AllocateAll is Allocate for several pools in one transaction: one
// commit (one fsync on SQLite) for a board's MACs and serial together,
// and all of them or none.
func (l *Ledger) AllocateAll(ctx context.Context, pools []string, uniqueID, station string) ([]Block, error) {
	if uniqueID == "" || uniqueID == "unreadable" {
		return nil, fmt.Errorf("pools %s: the board has no readable UNIQUE_ID, which identities are keyed by", strings.Join(pools, ", "))
	}
	for attempt := 0; ; attempt++ {
		if err := pause(ctx, attempt); err != nil {
			return nil, err
		}
		bs, retry, err := l.allocateAll(ctx, pools, uniqueID, station)
		if !retry {
			return bs, err
		}
		if attempt == attempts-1 {
			if err == nil {
				err = fmt.Errorf("allocation for the board %s kept conflicting with other stations", uniqueID)
			}
			return nil, err
		}
		// Another station handed this board a block at the same moment,
		// or the database asked for a new attempt: the next round finds
		// what it did.
	}
}

func (l *Ledger) allocateAll(ctx context.Context, pools []string, uniqueID, station string) ([]Block, bool, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, l.retryable(err), l.wrap(err)
	}
	defer tx.Rollback()
	var out []Block
	for _, pool := range pools {
		b, retry, err := l.allocate(ctx, tx, pool, uniqueID, station)
		if err != nil || retry {
			return nil, retry, err
		}
		out = append(out, b)
	}
	if err := tx.Commit(); err != nil {
		return nil, l.retryable(err), l.wrap(err)
	}
	return out, false, nil
}

// allocate finds or hands out the board's block of one pool inside tx.
// Each statement is a round trip to a PostgreSQL server: an allocation
// takes four with BEGIN and COMMIT, against three for a bare counter
// update, where it took six.
func (l *Ledger) allocate(ctx context.Context, tx *sql.Tx, pool, uniqueID, station string) (b Block, retry bool, err error) {
	// The pool and the board's live block, if it has one, at once (the
	// join takes the board index, as board does).
	var perUnit, reuse int
	var have sql.NullInt64
	var state, by sql.NullString
	if err := tx.QueryRowContext(ctx, l.q(`SELECT p.per_unit, p.reuse, b.base, b.state, b.station FROM otpprov_pools p
		LEFT JOIN otpprov_blocks b ON b.pool = p.name AND b.unique_id = $2 AND b.state <> 'released' WHERE p.name = $1`),
		pool, uniqueID).Scan(&perUnit, &reuse, &have, &state, &by); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Block{}, false, fmt.Errorf("%w %s in the ledger %s: load it with otpprov ledger init", ErrNoPool, pool, l.shown)
		}
		return Block{}, l.retryable(err), l.wrap(err)
	}
	b = Block{Pool: pool, PerUnit: perUnit, UniqueID: uniqueID}
	if have.Valid {
		b.Base, b.State, b.Station = uint64(have.Int64), state.String, by.String
		return b, false, nil
	}
	now := time.Now().UTC().Format(Stamp)
	b.State, b.Station, b.New = Reserved, station, true
	if reuse != 0 {
		var base int64
		err := tx.QueryRowContext(ctx, l.q(`SELECT base FROM otpprov_blocks WHERE pool = $1 AND state = 'released' ORDER BY base LIMIT 1`), pool).Scan(&base)
		if err == nil {
			res, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_blocks SET unique_id = $3, state = 'reserved', station = $4, reserved_at = $5, updated_at = $5 WHERE pool = $1 AND base = $2 AND state = 'released'`),
				pool, base, uniqueID, station, now)
			if err != nil {
				return Block{}, l.retryable(err), l.wrap(err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				b.Base = uint64(base)
				return b, false, nil
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return Block{}, false, l.wrap(err)
		}
	}
	for {
		// Take the next block of the first range that has one: the row
		// lock of the UPDATE orders stations on PostgreSQL, the IMMEDIATE
		// transaction on SQLite. inserted: the block is the board's now.
		base, inserted, err := l.take(ctx, tx, pool, perUnit, uniqueID, station, now)
		if errors.Is(err, sql.ErrNoRows) {
			// The bound is checked again on the locked row: on PostgreSQL
			// another station may have taken the range's last block
			// between the subquery and the lock. Only when no range has
			// a block left is the pool exhausted.
			var left int
			if err := tx.QueryRowContext(ctx, l.q(`SELECT count(*) FROM otpprov_ranges WHERE pool = $1 AND next_free + $2 - 1 <= hi`), pool, perUnit).Scan(&left); err != nil {
				return Block{}, false, l.wrap(err)
			}
			if left > 0 {
				continue
			}
			// The pool's own ranges are spent: tails stations gave back.
			var ok bool
			if base, ok, err = l.nextReturned(ctx, tx, pool, perUnit); err == nil && !ok {
				return Block{}, false, fmt.Errorf("%w: %s has no block of %d values left for the board %s", ErrExhausted, pool, perUnit, uniqueID)
			}
			if err == nil {
				inserted, err = l.insertBlock(ctx, tx, pool, base, uniqueID, station, now)
			}
		}
		if err != nil {
			return Block{}, l.retryable(err), l.wrap(err)
		}
		if inserted {
			b.Base = uint64(base)
			return b, false, nil
		}
		// A block adopted from a board (burned outside the ledger) may
		// lie ahead of the cursor: skip it, it is in use. A board that
		// got a block from another station meanwhile conflicts on the
		// board index: roll back, and find it.
		var taken string
		err = tx.QueryRowContext(ctx, l.q(`SELECT unique_id FROM otpprov_blocks WHERE pool = $1 AND base = $2`), pool, base).Scan(&taken)
		if errors.Is(err, sql.ErrNoRows) {
			return Block{}, true, nil // the board's own block appeared: start again
		}
		if err != nil {
			return Block{}, false, l.wrap(err)
		}
	}
}

// take moves the cursor of the pool's first range with a block left past
// one block, and gives that block to the board unless it is taken (an
// adopted block ahead of the cursor, or the board's own block from
// another station: a conflict on either index does nothing). No range
// with a block left is sql.ErrNoRows.
func (l *Ledger) take(ctx context.Context, tx *sql.Tx, pool string, perUnit int, uniqueID, station, now string) (base int64, inserted bool, err error) {
	const next = `UPDATE otpprov_ranges SET next_free = next_free + $2
		WHERE pool = $1 AND lo = (SELECT min(lo) FROM otpprov_ranges WHERE pool = $1 AND next_free + $2 - 1 <= hi)
		AND next_free + $2 - 1 <= hi
		RETURNING next_free - $2`
	if l.dialect == Postgres {
		// One statement, one round trip: PostgreSQL runs an UPDATE in a
		// WITH, SQLite does not (and has no round trip to save).
		var n int
		err := tx.QueryRowContext(ctx, `WITH r (base) AS (`+next+`),
			i AS (INSERT INTO otpprov_blocks (pool, base, unique_id, state, station, reserved_at, updated_at)
				SELECT $1, base, $3, 'reserved', $4, $5, $5 FROM r ON CONFLICT DO NOTHING RETURNING base)
			SELECT r.base, (SELECT count(*) FROM i) FROM r`, pool, perUnit, uniqueID, station, now).Scan(&base, &n)
		return base, n == 1, err
	}
	if err := tx.QueryRowContext(ctx, l.q(next), pool, perUnit).Scan(&base); err != nil {
		return 0, false, err
	}
	inserted, err = l.insertBlock(ctx, tx, pool, base, uniqueID, station, now)
	return base, inserted, err
}

// insertBlock gives the block at base to the board unless it is taken (a
// conflict on either index does nothing).
func (l *Ledger) insertBlock(ctx context.Context, tx *sql.Tx, pool string, base int64, uniqueID, station, now string) (bool, error) {
	res, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_blocks (pool, base, unique_id, state, station, reserved_at, updated_at)
		VALUES ($1, $2, $3, 'reserved', $4, $5, $5) ON CONFLICT DO NOTHING`), pool, base, uniqueID, station, now)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// board finds the board's live block of b.Pool.
func (l *Ledger) board(ctx context.Context, tx *sql.Tx, b *Block) (bool, error) {
	var base int64
	err := tx.QueryRowContext(ctx, l.q(`SELECT base, state, station FROM otpprov_blocks WHERE pool = $1 AND unique_id = $2 AND state <> 'released'`),
		b.Pool, b.UniqueID).Scan(&base, &b.State, &b.Station)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, l.wrap(err)
	}
	b.Base = uint64(base)
	return true, nil
}

// MarkBurned records that bits of the board's block reached its fuses.
func (l *Ledger) MarkBurned(ctx context.Context, pool, uniqueID string) error {
	now := time.Now().UTC().Format(Stamp)
	_, err := l.db.ExecContext(ctx, l.q(`UPDATE otpprov_blocks SET state = 'burned', updated_at = $3 WHERE pool = $1 AND unique_id = $2 AND state = 'reserved'`),
		pool, uniqueID, now)
	return l.wrap(err)
}

// PoolStatus is a pool's use.
type PoolStatus struct {
	Pool                         string
	Size, Reserved, Burned, Free uint64
	Released, Scrapped, LowWater uint64
	PerUnit                      int
	Stations                     StationCounts // blocks out at offline stations (blocks.go)
	FromBlock                    string        // the ledger whose blocks this pool came from ("": its own)
}

// Status counts every pool's values by state.
func (l *Ledger) Status(ctx context.Context) ([]PoolStatus, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT name, per_unit, low_water FROM otpprov_pools ORDER BY name`)
	if err != nil {
		return nil, l.wrap(err)
	}
	var out []PoolStatus
	for rows.Next() {
		var s PoolStatus
		var lw int64
		if err := rows.Scan(&s.Pool, &s.PerUnit, &lw); err != nil {
			rows.Close()
			return nil, l.wrap(err)
		}
		s.LowWater = uint64(lw)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, l.wrap(err)
	}
	rows.Close()
	for i := range out {
		s := &out[i]
		var size, left int64
		if err := l.db.QueryRowContext(ctx, l.q(`SELECT coalesce(sum(hi - lo + 1), 0), coalesce(sum(hi - next_free + 1), 0) FROM otpprov_ranges WHERE pool = $1`), s.Pool).Scan(&size, &left); err != nil {
			return nil, l.wrap(err)
		}
		s.Size = uint64(size)
		counts, err := l.db.QueryContext(ctx, l.q(`SELECT state, count(*) FROM otpprov_blocks WHERE pool = $1 GROUP BY state`), s.Pool)
		if err != nil {
			return nil, l.wrap(err)
		}
		for counts.Next() {
			var state string
			var n int64
			if err := counts.Scan(&state, &n); err != nil {
				counts.Close()
				return nil, l.wrap(err)
			}
			v := uint64(n) * uint64(s.PerUnit)
			switch state {
			case Reserved:
				s.Reserved = v
			case Burned:
				s.Burned = v
			case Released:
				s.Released = v
			case Scrapped:
				s.Scrapped = v
			}
		}
		if err := counts.Err(); err != nil {
			counts.Close()
			return nil, l.wrap(err)
		}
		counts.Close()
		// Free: never handed out. A block adopted ahead of the cursor is
		// counted in its state and still in left; the difference is at
		// most the adopted blocks, which the cursor will skip.
		s.Free = uint64(left)
		if err := l.stationCounts(ctx, s); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pool < out[j].Pool })
	return out, nil
}

// retryable reports a conflict the database resolves by a new attempt: a
// serialization failure or deadlock on PostgreSQL, a busy SQLite.
func (l *Ledger) retryable(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLSTATE 40001") || strings.Contains(s, "SQLSTATE 40P01") || strings.Contains(s, "database is locked")
}

// wrap names the ledger in a database error.
func (l *Ledger) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ledger %s: %w", l.shown, err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
