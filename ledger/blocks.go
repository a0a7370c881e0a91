package ledger

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"
)

// Offline stations. The line's ledger reserves a block of a pool for one
// station (Reserve): the units' ranges leave the pool's cursors in one
// transaction, so neither the line nor another station ever hands them
// out. The station loads the block (ImportBlock) into its own SQLite
// ledger, where it is the only source of that pool, and allocates from
// it as from any pool. On return the station closes the block and writes
// what it handed out (ReturnBlock), and the line's ledger takes it back
// (TakeReturn): the values the station gave boards become those boards',
// in the station's states, and only the tail the station's cursor never
// reached goes back to the pool.

// blockMigration is the schema step of the offline blocks: self-contained
// (its own tables, nothing altered), so it may take any place in the
// migrations' order.
//
// otpprov_reservations holds both sides of a block: role 'lent' on the
// ledger that reserved it, 'held' on the station that imported it.
// otpprov_reservation_ranges are its ranges; used is the number of units
// the station's cursor had passed in the range when the block was
// returned (-1 while it is out). otpprov_returned_ranges are tails given
// back, handed out again after the pool's own ranges, with their own
// cursor.
var blockMigration = []string{
	`CREATE TABLE otpprov_reservations (
		id TEXT PRIMARY KEY,
		role TEXT NOT NULL,
		ledger TEXT NOT NULL,
		pool TEXT NOT NULL REFERENCES otpprov_pools(name),
		station TEXT NOT NULL,
		units BIGINT NOT NULL,
		low_water BIGINT NOT NULL,
		reserved_at TEXT NOT NULL,
		returned_at TEXT NOT NULL,
		seal_key TEXT NOT NULL
	)`,
	`CREATE TABLE otpprov_reservation_ranges (
		reservation TEXT NOT NULL REFERENCES otpprov_reservations(id),
		lo BIGINT NOT NULL,
		hi BIGINT NOT NULL,
		used BIGINT NOT NULL,
		PRIMARY KEY (reservation, lo)
	)`,
	`CREATE TABLE otpprov_returned_ranges (
		pool TEXT NOT NULL REFERENCES otpprov_pools(name),
		reservation TEXT NOT NULL,
		lo BIGINT NOT NULL,
		hi BIGINT NOT NULL,
		next_free BIGINT NOT NULL,
		PRIMARY KEY (reservation, lo)
	)`,
	`CREATE INDEX otpprov_returned_pool ON otpprov_returned_ranges (pool, lo)`,
}

// Roles of a reservation.
const (
	Lent = "lent" // this ledger reserved it for a station
	Held = "held" // this ledger is the station's: it imported the block
)

// ErrBlock is a block or a return a ledger refuses.
var ErrBlock = errors.New("identity block")

var stationName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ID is the ledger's identity, made the first time it is asked for: a
// block names the ledger that reserved it, so that it is returned there
// and nowhere else.
func (l *Ledger) ID(ctx context.Context) (string, error) {
	var id string
	err := l.db.QueryRowContext(ctx, `SELECT value FROM otpprov_meta WHERE key = 'ledger_id'`).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", l.wrap(err)
	}
	if _, err := l.db.ExecContext(ctx, l.q(`INSERT INTO otpprov_meta (key, value) VALUES ('ledger_id', $1) ON CONFLICT DO NOTHING`), randomHex(16)); err != nil {
		return "", l.wrap(err)
	}
	// Another process may have made it first: its id is the ledger's.
	return id, l.wrap(l.db.QueryRowContext(ctx, `SELECT value FROM otpprov_meta WHERE key = 'ledger_id'`).Scan(&id))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// Span is a range of a block: First to Last inclusive; Used is how many
// units the station handed out from First (-1 while the block is out).
type Span struct {
	First, Last uint64
	Used        int64
}

// Reservation is a block of a pool reserved for one station.
type Reservation struct {
	ID, Ledger, Station string
	Role                string // Lent or Held
	Pool                string
	Type                Type
	PerUnit             int
	Units               uint64
	LowWater            uint64 // values
	Spans               []Span
	ReservedAt          string
	ReturnedAt          string // "" while out
	// SealKey travels in the block file to the station, which seals its
	// return with it (Return.Seal): the line's ledger then knows the
	// return is the station ledger's, not a file edited on the way.
	SealKey string
}

// Values is how many values the block holds.
func (r *Reservation) Values() uint64 {
	var n uint64
	for _, s := range r.Spans {
		n += s.Last - s.First + 1
	}
	return n
}

// cursor is a range the pool hands values out of: its own (table
// otpprov_ranges) or a tail a station gave back.
type cursor struct {
	returned    bool
	reservation string
	lo, hi, nf  uint64
}

// Reserve takes units blocks of perUnit values out of the pool for a
// station, in one transaction: the pool's own ranges first, then tails
// other stations gave back, as allocation does. A block already on a
// board ahead of a cursor (adopted) is left out of the reservation. It
// is refused, saying how many units are free, when the pool lacks room.
func (l *Ledger) Reserve(ctx context.Context, pool, station string, units, lowWater uint64) (*Reservation, error) {
	if !stationName.MatchString(station) {
		return nil, fmt.Errorf("%w: station %q: a station's name is letters, digits, '.', '_' and '-', at most 63", ErrBlock, station)
	}
	if units == 0 {
		return nil, fmt.Errorf("%w: reserve at least one unit", ErrBlock)
	}
	id, err := l.ID(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if err := pause(ctx, attempt); err != nil {
			return nil, err
		}
		r, retry, err := l.reserve(ctx, id, pool, station, units, lowWater)
		if !retry || attempt == attempts-1 {
			if retry && err == nil {
				err = fmt.Errorf("%w: the reservation kept conflicting with other stations: run it again", ErrBlock)
			}
			return r, err
		}
	}
}

func (l *Ledger) reserve(ctx context.Context, ledgerID, pool, station string, units, lowWater uint64) (*Reservation, bool, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, l.retryable(err), l.wrap(err)
	}
	defer tx.Rollback()
	r := &Reservation{ID: randomHex(8), SealKey: randomHex(32), Role: Lent, Ledger: ledgerID, Station: station, Pool: pool, Units: units, ReservedAt: time.Now().UTC().Format(Stamp)}
	var typ string
	if err := tx.QueryRowContext(ctx, l.q(`SELECT type, per_unit FROM otpprov_pools WHERE name = $1`), pool).Scan(&typ, &r.PerUnit); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, fmt.Errorf("%w %s in the ledger %s: load it with otpprov ledger init", ErrNoPool, pool, l.shown)
		}
		return nil, l.retryable(err), l.wrap(err)
	}
	r.Type = Type(typ)
	if held, err := l.heldFrom(ctx, tx, pool); err != nil || held != "" {
		if err == nil {
			err = fmt.Errorf("%w: pool %s of the ledger %s came from a block of the ledger %s: a station hands out its block, it does not lend it on; reserve from the line's ledger", ErrBlock, pool, l.shown, held)
		}
		return nil, false, err
	}
	pu := uint64(r.PerUnit)
	r.LowWater = lowWater
	if r.LowWater == 0 {
		// A tenth of the block, at least one unit: time to ask for
		// another before the station stops.
		r.LowWater = max(units/10, 1) * pu
	}
	cs, err := l.cursors(ctx, tx, pool)
	if err != nil {
		return nil, false, err
	}
	var free uint64
	for _, c := range cs {
		free += c.units(pu)
	}
	if free < units {
		return nil, false, fmt.Errorf("%w: pool %s of the ledger %s has %d free units (of %d values each): %d cannot be reserved; reserve fewer, or grow the pool (a wider range, ledger init)", ErrExhausted, pool, l.shown, free, pu, units)
	}
	need := units
	var spans []Span
	for _, c := range cs {
		for need > 0 && c.units(pu) > 0 {
			k := min(need, c.units(pu))
			first, last := c.nf, c.nf+k*pu-1
			table, key := "otpprov_ranges", "pool"
			keyVal := any(pool)
			if c.returned {
				table, key, keyVal = "otpprov_returned_ranges", "reservation", c.reservation
			}
			// The cursor must be where it was read: another station
			// moving it meanwhile means a new attempt.
			res, err := tx.ExecContext(ctx, l.q(`UPDATE `+table+` SET next_free = $3 WHERE `+key+` = $1 AND lo = $2 AND next_free = $4`),
				keyVal, int64(c.lo), int64(last+1), int64(c.nf))
			if err != nil {
				return nil, l.retryable(err), l.wrap(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return nil, true, nil
			}
			c.nf = last + 1
			taken, err := l.blocksIn(ctx, tx, pool, first, last)
			if err != nil {
				return nil, false, err
			}
			spans = append(spans, without(first, last, pu, taken)...)
			need -= k - uint64(len(taken))
		}
	}
	if need > 0 {
		return nil, false, fmt.Errorf("%w: pool %s of the ledger %s has blocks on boards ahead of its cursors: %d units short of %d", ErrExhausted, pool, l.shown, need, units)
	}
	r.Spans = merge(spans)
	if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_reservations (id, role, ledger, pool, station, units, low_water, reserved_at, returned_at, seal_key)
		VALUES ($1, 'lent', $2, $3, $4, $5, $6, $7, '', $8)`), r.ID, r.Ledger, pool, station, int64(units), int64(r.LowWater), r.ReservedAt, r.SealKey); err != nil {
		return nil, l.retryable(err), l.wrap(err)
	}
	if err := l.insertSpans(ctx, tx, r); err != nil {
		return nil, l.retryable(err), err
	}
	if err := tx.Commit(); err != nil {
		return nil, l.retryable(err), l.wrap(err)
	}
	for i := range r.Spans {
		r.Spans[i].Used = -1
	}
	return r, false, nil
}

func (c *cursor) units(pu uint64) uint64 {
	if c.nf > c.hi {
		return 0
	}
	return (c.hi - c.nf + 1) / pu
}

// cursors are the pool's ranges in the order allocation takes them.
func (l *Ledger) cursors(ctx context.Context, tx *sql.Tx, pool string) ([]*cursor, error) {
	var out []*cursor
	for _, q := range []string{
		`SELECT '', lo, hi, next_free FROM otpprov_ranges WHERE pool = $1 ORDER BY lo`,
		`SELECT reservation, lo, hi, next_free FROM otpprov_returned_ranges WHERE pool = $1 ORDER BY lo`,
	} {
		rows, err := tx.QueryContext(ctx, l.q(q), pool)
		if err != nil {
			return nil, l.wrap(err)
		}
		for rows.Next() {
			c := &cursor{}
			var lo, hi, nf int64
			if err := rows.Scan(&c.reservation, &lo, &hi, &nf); err != nil {
				rows.Close()
				return nil, l.wrap(err)
			}
			c.returned, c.lo, c.hi, c.nf = c.reservation != "", uint64(lo), uint64(hi), uint64(nf)
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, l.wrap(err)
		}
	}
	return out, nil
}

// blocksIn lists the bases of the pool's blocks in first..last.
func (l *Ledger) blocksIn(ctx context.Context, tx *sql.Tx, pool string, first, last uint64) ([]uint64, error) {
	rows, err := tx.QueryContext(ctx, l.q(`SELECT base FROM otpprov_blocks WHERE pool = $1 AND base BETWEEN $2 AND $3 ORDER BY base`), pool, int64(first), int64(last))
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var b int64
		if err := rows.Scan(&b); err != nil {
			return nil, l.wrap(err)
		}
		out = append(out, uint64(b))
	}
	return out, l.wrap(rows.Err())
}

// without splits first..last (whole units of pu) around the blocks at
// the sorted bases taken.
func without(first, last, pu uint64, taken []uint64) []Span {
	var out []Span
	at := first
	for _, b := range taken {
		if b > at {
			out = append(out, Span{First: at, Last: b - 1})
		}
		at = b + pu
	}
	if at <= last {
		out = append(out, Span{First: at, Last: last})
	}
	return out
}

// merge joins adjacent spans, in order.
func merge(spans []Span) []Span {
	sort.Slice(spans, func(i, j int) bool { return spans[i].First < spans[j].First })
	var out []Span
	for _, s := range spans {
		if n := len(out); n > 0 && out[n-1].Last+1 == s.First {
			out[n-1].Last = s.Last
			continue
		}
		out = append(out, s)
	}
	return out
}

func (l *Ledger) insertSpans(ctx context.Context, tx *sql.Tx, r *Reservation) error {
	for _, s := range r.Spans {
		if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_reservation_ranges (reservation, lo, hi, used) VALUES ($1, $2, $3, -1)`),
			r.ID, int64(s.First), int64(s.Last)); err != nil {
			return l.wrap(err)
		}
	}
	return nil
}

// heldFrom is the ledger a pool's blocks came from ("": none, the pool
// is this ledger's own).
func (l *Ledger) heldFrom(ctx context.Context, tx *sql.Tx, pool string) (string, error) {
	var from string
	err := tx.QueryRowContext(ctx, l.q(`SELECT ledger FROM otpprov_reservations WHERE pool = $1 AND role = 'held' LIMIT 1`), pool).Scan(&from)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return from, l.wrap(err)
}

// refuseBlockPool is called by ledger init for a pool its file names: a
// pool that came from a block is the block's alone (a pools file would
// widen its ranges to the whole line's).
func (l *Ledger) refuseBlockPool(ctx context.Context, tx *sql.Tx, p *Pool) error {
	held, err := l.heldFrom(ctx, tx, p.Name)
	if err != nil || held == "" {
		return err
	}
	return fmt.Errorf("%s: pool %s of the ledger %s came from a block of the ledger %s: a station's pool has its block as only source; leave it out of the pools file, or use another ledger", p.Pos, p.Name, l.shown, held)
}

// ImportBlock loads a block into a station's ledger, creating the ledger
// when there is none: the block's pool becomes the station's, its ranges
// the pool's only ranges. Refused: a block imported before, a block of
// this very ledger, a block for another station, a pool of that name the
// station has from a pools file or from another ledger, or of another
// type or perUnit, and ranges overlapping any of the station's.
func ImportBlock(ctx context.Context, raw string, r *Reservation, station string) (*Ledger, error) {
	if r.Station != station {
		return nil, stationError(r, station)
	}
	l, err := open(ctx, raw, true)
	if err != nil {
		return nil, err
	}
	if _, err := l.migrate(ctx); err != nil {
		l.Close()
		return nil, err
	}
	if err := l.importBlock(ctx, r, station); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Ledger) importBlock(ctx context.Context, r *Reservation, station string) error {
	if r.Station != station {
		return stationError(r, station)
	}
	self, err := l.ID(ctx)
	if err != nil {
		return err
	}
	if self == r.Ledger {
		return fmt.Errorf("%w %s: it was reserved from this very ledger %s: import it on the station's ledger", ErrBlock, r.ID, l.shown)
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.wrap(err)
	}
	defer tx.Rollback()
	var at string
	err = tx.QueryRowContext(ctx, l.q(`SELECT reserved_at FROM otpprov_reservations WHERE id = $1`), r.ID).Scan(&at)
	if err == nil {
		return fmt.Errorf("%w %s: the ledger %s imported it already: a block is imported once", ErrBlock, r.ID, l.shown)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return l.wrap(err)
	}
	var typ string
	var perUnit int
	err = tx.QueryRowContext(ctx, l.q(`SELECT type, per_unit FROM otpprov_pools WHERE name = $1`), r.Pool).Scan(&typ, &perUnit)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_pools (name, type, per_unit, reuse, low_water) VALUES ($1, $2, $3, 0, $4)`),
			r.Pool, string(r.Type), r.PerUnit, int64(r.LowWater)); err != nil {
			return l.wrap(err)
		}
	case err != nil:
		return l.wrap(err)
	default:
		if typ != string(r.Type) || perUnit != r.PerUnit {
			return fmt.Errorf("%w %s: pool %s is type %s with perUnit %d in the ledger %s, the block's is type %s with perUnit %d: a pool's values are of one kind", ErrBlock, r.ID, r.Pool, typ, perUnit, l.shown, r.Type, r.PerUnit)
		}
		held, err := l.heldFrom(ctx, tx, r.Pool)
		if err != nil {
			return err
		}
		if held != r.Ledger {
			why := "from a pools file (ledger init)"
			if held != "" {
				why = "from blocks of the ledger " + held
			}
			return fmt.Errorf("%w %s: the ledger %s has a pool %s %s: a station's pool comes from blocks of one ledger only; use another ledger for the station", ErrBlock, r.ID, l.shown, r.Pool, why)
		}
		// Another block of the same line's pool: its ranges join the
		// pool's, and its low water is the pool's from now on.
		if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_pools SET low_water = $2 WHERE name = $1`), r.Pool, int64(r.LowWater)); err != nil {
			return l.wrap(err)
		}
	}
	for _, s := range r.Spans {
		var other string
		var lo, hi int64
		err := tx.QueryRowContext(ctx, l.q(`SELECT r.pool, r.lo, r.hi FROM otpprov_ranges r JOIN otpprov_pools q ON q.name = r.pool
			WHERE q.type = $1 AND r.lo <= $3 AND r.hi >= $2 LIMIT 1`), string(r.Type), int64(s.First), int64(s.Last)).Scan(&other, &lo, &hi)
		if err == nil {
			f := (&Pool{Type: r.Type}).Format
			return fmt.Errorf("%w %s: its range %s-%s overlaps the range %s-%s of pool %s in the ledger %s: a value of it could go to two boards", ErrBlock, r.ID, f(s.First), f(s.Last), f(uint64(lo)), f(uint64(hi)), other, l.shown)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return l.wrap(err)
		}
		if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_ranges (pool, lo, hi, next_free) VALUES ($1, $2, $3, $2)`), r.Pool, int64(s.First), int64(s.Last)); err != nil {
			return l.wrap(err)
		}
	}
	if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_reservations (id, role, ledger, pool, station, units, low_water, reserved_at, returned_at, seal_key)
		VALUES ($1, 'held', $2, $3, $4, $5, $6, $7, '', $8)`), r.ID, r.Ledger, r.Pool, r.Station, int64(r.Units), int64(r.LowWater), r.ReservedAt, r.SealKey); err != nil {
		return l.wrap(err)
	}
	if err := l.insertSpans(ctx, tx, r); err != nil {
		return err
	}
	return l.wrap(tx.Commit())
}

func stationError(r *Reservation, station string) error {
	return fmt.Errorf("%w %s: it was reserved for the station %s, this is %s: import it there (or name this station with --station)", ErrBlock, r.ID, r.Station, station)
}

// reservation reads one reservation of a role.
func (l *Ledger) reservation(ctx context.Context, tx *sql.Tx, id, role string) (*Reservation, error) {
	r := &Reservation{ID: id, Role: role}
	var typ string
	var units, lw int64
	err := tx.QueryRowContext(ctx, l.q(`SELECT r.ledger, r.pool, r.station, r.units, r.low_water, r.reserved_at, r.returned_at, r.seal_key, p.type, p.per_unit
		FROM otpprov_reservations r JOIN otpprov_pools p ON p.name = r.pool WHERE r.id = $1 AND r.role = $2`), id, role).
		Scan(&r.Ledger, &r.Pool, &r.Station, &units, &lw, &r.ReservedAt, &r.ReturnedAt, &r.SealKey, &typ, &r.PerUnit)
	if errors.Is(err, sql.ErrNoRows) {
		what := "reserved for a station by"
		if role == Held {
			what = "imported into"
		}
		return nil, fmt.Errorf("%w %s: no such block was %s the ledger %s", ErrBlock, id, what, l.shown)
	}
	if err != nil {
		return nil, l.wrap(err)
	}
	r.Type, r.Units, r.LowWater = Type(typ), uint64(units), uint64(lw)
	rows, err := tx.QueryContext(ctx, l.q(`SELECT lo, hi, used FROM otpprov_reservation_ranges WHERE reservation = $1 ORDER BY lo`), id)
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var lo, hi int64
		var s Span
		if err := rows.Scan(&lo, &hi, &s.Used); err != nil {
			return nil, l.wrap(err)
		}
		s.First, s.Last = uint64(lo), uint64(hi)
		r.Spans = append(r.Spans, s)
	}
	return r, l.wrap(rows.Err())
}

// Return is what a station handed out of a block: the block, each range
// with the units its cursor passed, and the station's blocks of values
// in it (its boards).
type Return struct {
	Reservation
	Entries []Entry
	Seal    string // HMAC-SHA256 of the rest with the block's SealKey
}

// seal is the return's HMAC-SHA256 under the block's key, over every
// field the line's ledger takes from it.
func (ret *Return) seal(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(m, "otpprov-block-return 1\n%q %q %q %q %q %d %q\n", ret.ID, ret.Ledger, ret.Station, ret.Pool, ret.Type, ret.PerUnit, ret.ReturnedAt)
	for _, s := range ret.Spans {
		fmt.Fprintf(m, "range %d %d %d\n", s.First, s.Last, s.Used)
	}
	for _, e := range ret.Entries {
		fmt.Fprintf(m, "entry %d %q %q %q %q\n", e.Base, e.UniqueID, e.State, e.Station, e.ReservedAt)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// ReturnBlock closes a block on the station that imported it and says
// what the station did with it. Closing moves each of its ranges' cursor
// past the end in the same transaction that records where it stood, so
// nothing the return calls unused can be handed out here afterwards.
// Idempotent: a block returned before is described again, with its
// boards' states as they are now, and the cursors recorded then.
func (l *Ledger) ReturnBlock(ctx context.Context, id string) (*Return, error) {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, l.wrap(err)
	}
	defer tx.Rollback()
	r, err := l.reservation(ctx, tx, id, Held)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Format(Stamp)
	pu := uint64(r.PerUnit)
	for i := range r.Spans {
		s := &r.Spans[i]
		if s.Used >= 0 {
			continue
		}
		// The cursor is closed from where it was read: an allocation
		// between the two (on a PostgreSQL station) means reading again.
		for closed := false; !closed; {
			var nf int64
			if err := tx.QueryRowContext(ctx, l.q(`SELECT next_free FROM otpprov_ranges WHERE pool = $1 AND lo = $2`), r.Pool, int64(s.First)).Scan(&nf); err != nil {
				return nil, l.wrap(err)
			}
			s.Used = int64((uint64(nf) - s.First) / pu)
			res, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_ranges SET next_free = hi + 1 WHERE pool = $1 AND lo = $2 AND next_free = $3`), r.Pool, int64(s.First), nf)
			if err != nil {
				return nil, l.wrap(err)
			}
			n, _ := res.RowsAffected()
			closed = n == 1
		}
		if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_reservation_ranges SET used = $3 WHERE reservation = $1 AND lo = $2`), id, int64(s.First), s.Used); err != nil {
			return nil, l.wrap(err)
		}
	}
	if r.ReturnedAt == "" {
		r.ReturnedAt = now
		if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_reservations SET returned_at = $2 WHERE id = $1`), id, now); err != nil {
			return nil, l.wrap(err)
		}
	}
	ret := &Return{Reservation: *r}
	for _, s := range r.Spans {
		es, err := l.entriesIn(ctx, tx, r, s)
		if err != nil {
			return nil, err
		}
		ret.Entries = append(ret.Entries, es...)
	}
	ret.Seal = ret.seal(r.SealKey)
	ret.SealKey = ""
	return ret, l.wrap(tx.Commit())
}

// entriesIn lists the pool's blocks of values inside a span.
func (l *Ledger) entriesIn(ctx context.Context, tx *sql.Tx, r *Reservation, s Span) ([]Entry, error) {
	rows, err := tx.QueryContext(ctx, l.q(`SELECT base, unique_id, state, station, reserved_at, updated_at FROM otpprov_blocks
		WHERE pool = $1 AND base BETWEEN $2 AND $3 ORDER BY base`), r.Pool, int64(s.First), int64(s.Last))
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e := Entry{Type: r.Type}
		e.Pool, e.PerUnit = r.Pool, r.PerUnit
		var base int64
		if err := rows.Scan(&base, &e.UniqueID, &e.State, &e.Station, &e.ReservedAt, &e.UpdatedAt); err != nil {
			return nil, l.wrap(err)
		}
		e.Base = uint64(base)
		out = append(out, e)
	}
	return out, l.wrap(rows.Err())
}

// ReturnReport is what TakeReturn did.
type ReturnReport struct {
	Added, Changed, Same int    // the station's blocks of values: new here, state moved on, known
	Freed                uint64 // values back in the pool (0 when returned before)
	Again                bool   // the block was returned before
}

// rank orders states by how far a value went: a state never moves back
// (a value burned anywhere stays burned).
var rank = map[string]int{Released: 0, Reserved: 1, Burned: 2, Scrapped: 3}

// TakeReturn takes a station's return into the ledger that reserved the
// block. The block must be this ledger's and out to that station, with
// exactly the ranges reserved; every value the return names must lie in
// them, on a unit's boundary. Each of the station's blocks of values
// becomes its board's here in the station's state (a state only moves
// on: reserved, burned, scrapped); a value this ledger holds for another
// board, or a board holding another value of the pool here, is a
// duplicate naming both. Only the tail of each range that the station's
// cursor never reached, less blocks adopted there, goes back to the
// pool: a value the station may have handed out never does. Taking the
// same return again changes only states that moved on.
func (l *Ledger) TakeReturn(ctx context.Context, ret *Return) (ReturnReport, error) {
	var rep ReturnReport
	self, err := l.ID(ctx)
	if err != nil {
		return rep, err
	}
	if ret.Ledger != self {
		return rep, fmt.Errorf("%w %s: it was reserved by the ledger %s, this is %s (%s): return it there", ErrBlock, ret.ID, ret.Ledger, self, l.shown)
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return rep, l.wrap(err)
	}
	defer tx.Rollback()
	r, err := l.reservation(ctx, tx, ret.ID, Lent)
	if err != nil {
		return rep, err
	}
	if want := ret.seal(r.SealKey); !hmac.Equal([]byte(want), []byte(ret.Seal)) {
		return rep, fmt.Errorf("%w %s: the return's seal does not match what it says: it was changed after the station's ledger wrote it (or written for another block); nothing was taken: write it again on the station (ledger return-block)", ErrBlock, ret.ID)
	}
	if err := checkReturn(r, ret); err != nil {
		return rep, err
	}
	rep.Again = r.ReturnedAt != ""
	f := (&Pool{Type: r.Type}).Format
	now := time.Now().UTC().Format(Stamp)
	pu := uint64(r.PerUnit)
	for _, e := range ret.Entries {
		_, scrapped, err := l.scrapped(ctx, tx, e.UniqueID)
		if err != nil {
			return rep, err
		}
		switch {
		case scrapped && (e.State == Reserved || e.State == Burned):
			// Scrapped here while its block was out: its values go with
			// it, as ledger scrap leaves a board's blocks.
			e.State = Scrapped
		case !scrapped && e.State == Scrapped:
			// Scrapped at the station: the line refuses the board too,
			// before it allocates anything to it. The return names no
			// operator: the record says where it came from.
			if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_scrapped (unique_id, at, by_user, station, reason) VALUES ($1, $2, $3, $4, $5)`),
				e.UniqueID, ret.ReturnedAt, "(the station's return)", r.Station, "scrapped at the station "+r.Station+", block "+r.ID+" returned"); err != nil {
				return rep, l.wrap(err)
			}
		}
		var owner, state, by string
		err = tx.QueryRowContext(ctx, l.q(`SELECT unique_id, state, station FROM otpprov_blocks WHERE pool = $1 AND base = $2`), r.Pool, int64(e.Base)).Scan(&owner, &state, &by)
		switch {
		case err == nil && owner == e.UniqueID:
			if rank[e.State] <= rank[state] {
				rep.Same++
				continue
			}
			if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_blocks SET state = $3, updated_at = $4 WHERE pool = $1 AND base = $2`), r.Pool, int64(e.Base), e.State, now); err != nil {
				return rep, l.wrap(err)
			}
			rep.Changed++
			continue
		case err == nil && state != Released:
			return rep, fmt.Errorf("%w: the station %s gave %s %s (block %s) to the board %s; the ledger %s holds it for the board %s (%s, station %s): two boards with one identity; stop and inspect both",
				ErrDuplicate, r.Station, r.Pool, f(e.Base), r.ID, e.UniqueID, l.shown, owner, state, by)
		case err == nil:
			if _, err := tx.ExecContext(ctx, l.q(`DELETE FROM otpprov_blocks WHERE pool = $1 AND base = $2`), r.Pool, int64(e.Base)); err != nil {
				return rep, l.wrap(err)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return rep, l.wrap(err)
		}
		if e.State != Released {
			b := Block{Pool: r.Pool, UniqueID: e.UniqueID}
			found, err := l.board(ctx, tx, &b)
			if err != nil {
				return rep, err
			}
			if found {
				return rep, fmt.Errorf("%w: the station %s gave the board %s %s %s (block %s); the ledger %s gave it %s %s (%s, station %s): a board holds one block of a pool; inspect it",
					ErrDuplicate, r.Station, e.UniqueID, r.Pool, f(e.Base), r.ID, l.shown, r.Pool, f(b.Base), b.State, b.Station)
			}
		}
		if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_blocks (pool, base, unique_id, state, station, reserved_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`),
			r.Pool, int64(e.Base), e.UniqueID, e.State, e.Station, e.ReservedAt, now); err != nil {
			return rep, l.wrap(err)
		}
		rep.Added++
	}
	if !rep.Again {
		for i, s := range ret.Spans {
			tail := s.First + uint64(s.Used)*pu
			if tail > s.Last {
				continue
			}
			var taken []uint64
			for _, e := range ret.Entries {
				if e.Base >= tail && e.Base <= s.Last {
					taken = append(taken, e.Base)
				}
			}
			sort.Slice(taken, func(i, j int) bool { return taken[i] < taken[j] })
			for _, t := range without(tail, s.Last, pu, taken) {
				if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_returned_ranges (pool, reservation, lo, hi, next_free) VALUES ($1, $2, $3, $4, $3)`),
					r.Pool, r.ID, int64(t.First), int64(t.Last)); err != nil {
					return rep, l.wrap(err)
				}
				rep.Freed += t.Last - t.First + 1
			}
			if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_reservation_ranges SET used = $3 WHERE reservation = $1 AND lo = $2`), r.ID, int64(r.Spans[i].First), s.Used); err != nil {
				return rep, l.wrap(err)
			}
		}
		if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_reservations SET returned_at = $2 WHERE id = $1`), r.ID, now); err != nil {
			return rep, l.wrap(err)
		}
	}
	return rep, l.wrap(tx.Commit())
}

// checkReturn holds a return to the block as this ledger reserved it: a
// return that names other ranges, other values, or cursors other than
// those it was first taken with is refused, whatever the file says.
func checkReturn(r *Reservation, ret *Return) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s; nothing was taken: the return must be the station's ledger's (ledger return-block on the station)", ErrBlock, r.ID, fmt.Sprintf(format, args...))
	}
	f := (&Pool{Type: r.Type}).Format
	if ret.Pool != r.Pool || ret.Station != r.Station || ret.Type != r.Type || ret.PerUnit != r.PerUnit {
		return bad("the return is of pool %s (%s, perUnit %d) at the station %s; the ledger reserved pool %s (%s, perUnit %d) for the station %s",
			ret.Pool, ret.Type, ret.PerUnit, ret.Station, r.Pool, r.Type, r.PerUnit, r.Station)
	}
	if len(ret.Spans) != len(r.Spans) {
		return bad("the return names %d ranges, the ledger reserved %d", len(ret.Spans), len(r.Spans))
	}
	pu := uint64(r.PerUnit)
	for i, s := range ret.Spans {
		want := r.Spans[i]
		if s.First != want.First || s.Last != want.Last {
			return bad("the return names the range %s-%s, the ledger reserved %s-%s: it names values outside the block", f(s.First), f(s.Last), f(want.First), f(want.Last))
		}
		if s.Used < 0 || uint64(s.Used) > (s.Last-s.First+1)/pu {
			return bad("range %s-%s: %d units used, of %d", f(s.First), f(s.Last), s.Used, (s.Last-s.First+1)/pu)
		}
		if want.Used >= 0 && want.Used != s.Used {
			return bad("range %s-%s was returned with %d units used; this return says %d", f(s.First), f(s.Last), want.Used, s.Used)
		}
	}
	seen := map[uint64]bool{}
	for _, e := range ret.Entries {
		in := -1
		for i, s := range ret.Spans {
			if e.Base >= s.First && e.Base+pu-1 <= s.Last && (e.Base-s.First)%pu == 0 {
				in = i
			}
		}
		if in < 0 {
			return bad("the board %s's %s is not a unit of the block: it names values outside the block", e.UniqueID, f(e.Base))
		}
		if seen[e.Base] {
			return bad("%s is named twice", f(e.Base))
		}
		seen[e.Base] = true
		if _, ok := rank[e.State]; !ok || e.UniqueID == "" {
			return bad("%s: state %q, board %q", f(e.Base), e.State, e.UniqueID)
		}
	}
	// The station hands its units out in order from each range's start,
	// without gaps: every unit below its cursor has its board.
	for _, s := range ret.Spans {
		for u := uint64(0); u < uint64(s.Used); u++ {
			if !seen[s.First+u*pu] {
				return bad("unit %s is below the station's cursor (%d units used in %s-%s) but no board has it", f(s.First+u*pu), s.Used, f(s.First), f(s.Last))
			}
		}
	}
	return nil
}

// nextReturned hands out the next unit of a tail a station gave back,
// for allocation once the pool's own ranges are spent; ok is false when
// there is none.
func (l *Ledger) nextReturned(ctx context.Context, tx *sql.Tx, pool string, perUnit int) (base int64, ok bool, err error) {
	err = tx.QueryRowContext(ctx, l.q(`UPDATE otpprov_returned_ranges SET next_free = next_free + $2
		WHERE (reservation, lo) = (SELECT reservation, lo FROM otpprov_returned_ranges WHERE pool = $1 AND next_free + $2 - 1 <= hi ORDER BY lo LIMIT 1)
		AND next_free + $2 - 1 <= hi
		RETURNING next_free - $2`), pool, perUnit).Scan(&base)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return base, err == nil, err
}

// StationCounts are a pool's values out at stations, and its free values
// in tails stations gave back (counted in Free by Status).
type StationCounts struct {
	Out      uint64 // values in blocks reserved for stations, not returned
	Blocks   int    // such blocks
	Returned uint64 // values given back and not handed out again
}

// stationCounts adds blocks' counts to a pool's status.
func (l *Ledger) stationCounts(ctx context.Context, s *PoolStatus) error {
	var out, blocks, back int64
	if err := l.db.QueryRowContext(ctx, l.q(`SELECT coalesce(sum(g.hi - g.lo + 1), 0), count(DISTINCT r.id) FROM otpprov_reservations r
		JOIN otpprov_reservation_ranges g ON g.reservation = r.id WHERE r.pool = $1 AND r.role = 'lent' AND r.returned_at = ''`), s.Pool).Scan(&out, &blocks); err != nil {
		return l.wrap(err)
	}
	if err := l.db.QueryRowContext(ctx, l.q(`SELECT coalesce(sum(hi - next_free + 1), 0) FROM otpprov_returned_ranges WHERE pool = $1 AND next_free <= hi`), s.Pool).Scan(&back); err != nil {
		return l.wrap(err)
	}
	s.Stations = StationCounts{Out: uint64(out), Blocks: int(blocks), Returned: uint64(back)}
	s.Free += uint64(back)
	var held string
	err := l.db.QueryRowContext(ctx, l.q(`SELECT ledger FROM otpprov_reservations WHERE pool = $1 AND role = 'held' LIMIT 1`), s.Pool).Scan(&held)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return l.wrap(err)
	}
	s.FromBlock = held
	return nil
}

// Low lists the pools, of those named, whose free values are below their
// low water. It runs after an allocation handed a block out, so it is
// one query per pool, not Status.
func (l *Ledger) Low(ctx context.Context, pools []string) ([]PoolStatus, error) {
	var out []PoolStatus
	for _, p := range pools {
		s := PoolStatus{Pool: p}
		var lw, free int64
		err := l.db.QueryRowContext(ctx, l.q(`SELECT p.low_water,
			(SELECT coalesce(sum(hi - next_free + 1), 0) FROM otpprov_ranges WHERE pool = p.name AND next_free <= hi) +
			(SELECT coalesce(sum(hi - next_free + 1), 0) FROM otpprov_returned_ranges WHERE pool = p.name AND next_free <= hi),
			coalesce((SELECT max(ledger) FROM otpprov_reservations WHERE pool = p.name AND role = 'held'), '')
			FROM otpprov_pools p WHERE p.name = $1`), p).Scan(&lw, &free, &s.FromBlock)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, l.wrap(err)
		}
		s.LowWater, s.Free = uint64(lw), uint64(free)
		if s.Free < s.LowWater {
			out = append(out, s)
		}
	}
	return out, nil
}

// LowWarning says what to do about a pool below its low water.
func (s PoolStatus) LowWarning() string {
	if s.FromBlock != "" {
		return fmt.Sprintf("pool %s has %d values left in this station's blocks, below the block's low water of %d: reserve another block on the line's ledger (ledger reserve) and import it here (ledger import-block)", s.Pool, s.Free, s.LowWater)
	}
	return fmt.Sprintf("pool %s has %d values left, below its low water of %d: grow it (a wider range, ledger init)", s.Pool, s.Free, s.LowWater)
}

// Reservations lists the blocks a ledger lent or holds, newest first.
func (l *Ledger) Reservations(ctx context.Context) ([]Reservation, error) {
	return l.reservations(ctx, `SELECT id, role FROM otpprov_reservations ORDER BY reserved_at DESC, id`)
}

// reservations reads the reservations a query lists by id and role.
func (l *Ledger) reservations(ctx context.Context, query string, args ...any) ([]Reservation, error) {
	rows, err := l.db.QueryContext(ctx, l.q(query), args...)
	if err != nil {
		return nil, l.wrap(err)
	}
	var keys [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return nil, l.wrap(err)
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, l.wrap(err)
	}
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: l.dialect == Postgres})
	if err != nil {
		return nil, l.wrap(err)
	}
	defer tx.Rollback()
	var out []Reservation
	for _, k := range keys {
		r, err := l.reservation(ctx, tx, k[0], k[1])
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, nil
}

// OutAt names the blocks out at stations that hold a value (a MAC or a
// number, as Find takes it): a value no board holds here may be a
// station's, handed out offline.
func (l *Ledger) OutAt(ctx context.Context, text string) ([]Reservation, error) {
	typ, v, err := foundValue(text)
	if err != nil {
		return nil, err
	}
	return l.reservations(ctx, `SELECT DISTINCT r.id, r.role FROM otpprov_reservations r
		JOIN otpprov_reservation_ranges g ON g.reservation = r.id JOIN otpprov_pools p ON p.name = r.pool
		WHERE r.role = 'lent' AND r.returned_at = '' AND p.type = $1 AND g.lo <= $2 AND $2 <= g.hi`, string(typ), int64(v))
}
