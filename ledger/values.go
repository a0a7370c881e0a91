package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/otpprov/otpprov/fusemap"
	"github.com/otpprov/otpprov/manifest"
)

// ErrNotAllocated is a board the ledger holds no block of a pool for, when
// the command may not hand one out (verify).
var ErrNotAllocated = errors.New("not allocated")

// Unit is what the ledger gave one board for a manifest: the variables'
// values, and the blocks they come from.
type Unit struct {
	Vars   map[string]manifest.VarValue
	Blocks []Block
}

// From is how a ledger value is named as a variable's source.
const From = "the ledger"

// Values gives the board's values of the manifest's pool variables (m
// parsed without them: its VarFields and VarRaw say where they go). For
// each pool: a value the board already holds in a field or a raw entry's
// word a variable of that pool feeds is the board's (adopted as burned when the ledger does
// not know it; ErrDuplicate when it is another board's); then the board's
// block is found, or handed out when allocate is set (plan, apply) and
// refused with ErrNotAllocated when not (verify). Every block handed out
// is committed before Values returns: before the first burn.
func (l *Ledger) Values(ctx context.Context, m *manifest.Manifest, fm *fusemap.Map, state []uint32, uniqueID, station string, allocate bool) (Unit, error) {
	u := Unit{Vars: map[string]manifest.VarValue{}}
	if allocate {
		if err := l.refuseScrapped(ctx, uniqueID); err != nil {
			return u, err
		}
	}
	byPool := map[string][]manifest.Variable{}
	for _, v := range m.Variables {
		if v.Pool != "" {
			byPool[v.Pool] = append(byPool[v.Pool], v)
		}
	}
	pools := make([]string, 0, len(byPool))
	for p := range byPool {
		pools = append(pools, p)
	}
	sort.Strings(pools)
	infos, err := l.pools(ctx, pools)
	if err != nil {
		return u, err
	}
	for _, pool := range pools {
		info, ok := infos[pool]
		if !ok {
			return u, fmt.Errorf("%w %s in the ledger %s: load it with otpprov ledger init", ErrNoPool, pool, l.shown)
		}
		vars := byPool[pool]
		if len(vars) > info.perUnit {
			return u, fmt.Errorf("%d variables take values from pool %s, whose boards get %d each (perUnit)", len(vars), pool, info.perUnit)
		}
		if err := l.adopt(ctx, info, vars, m.VarFields, m.VarRaw, fm, state, uniqueID, station); err != nil {
			return u, err
		}
	}
	var blocks []Block
	if allocate {
		// Every pool in one transaction: one commit before the burn.
		blocks, err = l.AllocateAll(ctx, pools, uniqueID, station)
	} else {
		for _, pool := range pools {
			var b Block
			if b, err = l.Lookup(ctx, pool, uniqueID); err != nil {
				break
			}
			blocks = append(blocks, b)
		}
	}
	if err != nil {
		return u, err
	}
	for _, b := range blocks {
		if allocate && b.State == Scrapped {
			// Scrapped between the check and the allocation.
			if err := l.refuseScrapped(ctx, uniqueID); err != nil {
				return u, err
			}
			return u, fmt.Errorf("%w: the ledger %s holds the %s block of the board %s as scrapped; nothing was written", ErrScrapped, l.shown, b.Pool, uniqueID)
		}
		u.Blocks = append(u.Blocks, b)
		for _, v := range byPool[b.Pool] {
			u.Vars[v.Name] = manifest.VarValue{Text: infos[b.Pool].format(b.Base + uint64(v.PoolIndex)), From: From}
		}
	}
	return u, nil
}

type poolInfo struct {
	name    string
	typ     Type
	perUnit int
	ranges  []dbRange
}

func (p poolInfo) format(v uint64) string { return (&Pool{Type: p.typ}).Format(v) }

// pools reads the named pools and their ranges in one statement (a
// round trip to a PostgreSQL server, where two per pool were). A pool the
// ledger does not hold is not in the map.
func (l *Ledger) pools(ctx context.Context, names []string) (map[string]poolInfo, error) {
	out := map[string]poolInfo{}
	if len(names) == 0 {
		return out, nil
	}
	args := make([]any, len(names))
	marks := make([]string, len(names))
	for i, n := range names {
		args[i], marks[i] = n, l.arg(i+1)
	}
	rows, err := l.db.QueryContext(ctx, `SELECT p.name, p.type, p.per_unit, r.lo, r.hi, r.next_free FROM otpprov_pools p
		LEFT JOIN otpprov_ranges r ON r.pool = p.name WHERE p.name IN (`+strings.Join(marks, ", ")+`) ORDER BY p.name, r.lo`, args...)
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ string
		var perUnit int
		var lo, hi, next sql.NullInt64
		if err := rows.Scan(&name, &typ, &perUnit, &lo, &hi, &next); err != nil {
			return nil, l.wrap(err)
		}
		p := out[name]
		p.name, p.typ, p.perUnit = name, Type(typ), perUnit
		if lo.Valid {
			p.ranges = append(p.ranges, dbRange{uint64(lo.Int64), uint64(hi.Int64), uint64(next.Int64)})
		}
		out[name] = p
	}
	return out, l.wrap(rows.Err())
}

// adopt looks at what the board already holds where the pool's variables
// go: their fields, and the words of their raw entries. A value of the pool that the ledger does not know is
// recorded as this board's, burned: it is on a fuse, so it must never be
// handed out. A value that is another board's stops here, naming both: it
// is a duplicate already burned, and burning more would hide it.
func (l *Ledger) adopt(ctx context.Context, p poolInfo, vars []manifest.Variable, fields map[string][]string, raw map[string][]manifest.Bits, fm *fusemap.Map, state []uint32, uniqueID, station string) error {
	for _, v := range vars {
		var held []uint64
		var where []string
		for _, name := range fields[v.Name] {
			f := fm.Field(name)
			if f == nil {
				continue
			}
			parts, ok := fm.Parts(f, state)
			if !ok || fusemap.Blank(parts) {
				continue
			}
			n, ok := f.Number(parts)
			if !ok {
				continue // wider than any pool's values
			}
			held, where = append(held, n), append(where, name)
		}
		// A raw entry's word: the bits of its mask are the value as
		// written (a raw value is not shifted). Read from the entries'
		// places, not their values: m is parsed before the pool gave any.
		for _, bs := range raw[v.Name] {
			w, ok := fm.Word(state, bs.Bank, bs.Word)
			if !ok || w == fusemap.ReadProtected || w&bs.Mask == 0 {
				continue
			}
			held, where = append(held, uint64(w&bs.Mask)), append(where, fmt.Sprintf("bank %d word %d", bs.Bank, bs.Word))
		}
		for i, held := range held {
			name := where[i]
			base := held - uint64(v.PoolIndex)
			in := false
			for _, r := range p.ranges {
				if held >= uint64(v.PoolIndex) && base >= r.First && base+uint64(p.perUnit)-1 <= r.Last && (base-r.First)%uint64(p.perUnit) == 0 {
					in = true
				}
			}
			if !in {
				continue // not this pool's: the plan shows the conflict, if any
			}
			if err := l.claim(ctx, p, base, held, name, uniqueID, station); err != nil {
				return err
			}
		}
	}
	return nil
}

// claim records base as the board's burned block, unless it is known.
func (l *Ledger) claim(ctx context.Context, p poolInfo, base, held uint64, field, uniqueID, station string) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.wrap(err)
	}
	defer tx.Rollback()
	var owner, state, by string
	err = tx.QueryRowContext(ctx, l.q(`SELECT unique_id, state, station FROM otpprov_blocks WHERE pool = $1 AND base = $2`), p.name, int64(base)).Scan(&owner, &state, &by)
	switch {
	case err == nil && owner == uniqueID && state != Released:
		return nil
	case err == nil && state != Released:
		return fmt.Errorf("%w: the board %s holds %s %s in %s, which the ledger %s gave the board %s (%s, station %s): two boards with one identity; stop and inspect both",
			ErrDuplicate, uniqueID, p.name, p.format(held), field, l.shown, owner, state, by)
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return l.wrap(err)
	}
	b := Block{Pool: p.name, UniqueID: uniqueID}
	found, err := l.board(ctx, tx, &b)
	if err != nil {
		return err
	}
	if found && b.Base != base {
		return fmt.Errorf("%w: the board %s holds %s %s in %s, but the ledger %s gave it %s: a board holds one block of a pool; inspect it before burning more",
			ErrDuplicate, uniqueID, p.name, p.format(held), field, l.shown, p.format(b.Base))
	}
	now := time.Now().UTC().Format(Stamp)
	if found {
		return nil // the board's own block, found by its board
	}
	// Released before, or never known: this board's now, burned.
	if _, err := tx.ExecContext(ctx, l.q(`DELETE FROM otpprov_blocks WHERE pool = $1 AND base = $2 AND state = 'released'`), p.name, int64(base)); err != nil {
		return l.wrap(err)
	}
	if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_blocks (pool, base, unique_id, state, station, reserved_at, updated_at) VALUES ($1, $2, $3, 'burned', $4, $5, $5)`),
		p.name, int64(base), uniqueID, station, now); err != nil {
		return l.wrap(err)
	}
	return l.wrap(tx.Commit())
}

// Lookup finds the board's live block of a pool without handing one out.
func (l *Ledger) Lookup(ctx context.Context, pool, uniqueID string) (Block, error) {
	tx, err := l.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: l.dialect == Postgres})
	if err != nil {
		return Block{}, l.wrap(err)
	}
	defer tx.Rollback()
	b := Block{Pool: pool, UniqueID: uniqueID}
	if err := tx.QueryRowContext(ctx, l.q(`SELECT per_unit FROM otpprov_pools WHERE name = $1`), pool).Scan(&b.PerUnit); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Block{}, fmt.Errorf("%w %s in the ledger %s", ErrNoPool, pool, l.shown)
		}
		return Block{}, l.wrap(err)
	}
	found, err := l.board(ctx, tx, &b)
	if err != nil {
		return Block{}, err
	}
	if !found {
		return Block{}, fmt.Errorf("%w: the ledger %s holds no value of pool %s for the board %s: plan or apply it first", ErrNotAllocated, l.shown, pool, uniqueID)
	}
	return b, nil
}

// Burned marks the blocks whose values the board now holds as burned:
// called after an apply with what the device reads back, so a value any
// bit of which reached a fuse is never handed out again.
func (l *Ledger) Burned(ctx context.Context, u Unit, m *manifest.Manifest, fm *fusemap.Map, state []uint32) error {
	return l.markBurnedAlone(ctx, OnBoard(u, m, fm, state))
}

// markBurnedAlone marks the blocks burned in a transaction of their own:
// one commit (an fsync on SQLite) for all of them.
func (l *Ledger) markBurnedAlone(ctx context.Context, marks []Block) error {
	if len(marks) == 0 {
		return nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.wrap(err)
	}
	defer tx.Rollback()
	if err := l.markBurned(ctx, tx, marks); err != nil {
		return err
	}
	return l.wrap(tx.Commit())
}

// OnBoard is the blocks of u any bit of which the board holds (state is
// what the device reads back): those an apply marks burned, even after a
// failed or unverified burn.
func OnBoard(u Unit, m *manifest.Manifest, fm *fusemap.Map, state []uint32) []Block {
	var marks []Block
	for _, b := range u.Blocks {
		burned := false
		for _, v := range m.Variables {
			if v.Pool != b.Pool {
				continue
			}
			// Any bit of the words its entries set, field or raw.
			// Unreadable counts as burned: it may be.
			for _, bits := range m.VarBits[v.Name] {
				w, ok := fm.Word(state, bits.Bank, bits.Word)
				burned = burned || !ok || w == fusemap.ReadProtected || w&bits.Mask != 0
			}
		}
		if burned {
			marks = append(marks, b)
		}
	}
	return marks
}

// markBurned marks the board's reserved blocks of marks' pools burned
// inside tx.
func (l *Ledger) markBurned(ctx context.Context, tx *sql.Tx, marks []Block) error {
	now := time.Now().UTC().Format(Stamp)
	for _, b := range marks {
		if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_blocks SET state = 'burned', updated_at = $3 WHERE pool = $1 AND unique_id = $2 AND state = 'reserved'`),
			b.Pool, b.UniqueID, now); err != nil {
			return l.wrap(err)
		}
	}
	return nil
}

// ErrOnBoard is a release refused: bits of the block are on the board.
var ErrOnBoard = errors.New("on the board")

// Release gives back the board's blocks that the device proves it never
// received: every bit of every word their variables set reads 0. A block
// with any bit on the board is marked burned instead (fuses only OR: it
// can never be given to another board), and the release refused. A
// burned or scrapped block is never released. A released block goes to
// another board only if its pool says reuse.
func (l *Ledger) Release(ctx context.Context, u Unit, m *manifest.Manifest, fm *fusemap.Map, state []uint32) ([]Block, error) {
	var released []Block
	for _, b := range u.Blocks {
		if b.State != Reserved {
			return released, fmt.Errorf("%s block %s of the board %s is %s: only a reserved block, never burned, is released", b.Pool, (&Pool{Type: typeOf(m, b.Pool)}).Format(b.Base), b.UniqueID, b.State)
		}
		for _, v := range m.Variables {
			if v.Pool != b.Pool {
				continue
			}
			for _, bits := range m.VarBits[v.Name] {
				w, ok := fm.Word(state, bits.Bank, bits.Word)
				if !ok || w == fusemap.ReadProtected || w&bits.Mask != 0 {
					if err := l.MarkBurned(ctx, b.Pool, b.UniqueID); err != nil {
						return released, err
					}
					return released, fmt.Errorf("%w: bank %d word %d reads 0x%08x, where %s goes (mask 0x%08x): bits of the %s block may be burned, so it is burned, never released",
						ErrOnBoard, bits.Bank, bits.Word, w, v.Name, bits.Mask, b.Pool)
				}
			}
		}
		now := time.Now().UTC().Format(Stamp)
		res, err := l.db.ExecContext(ctx, l.q(`UPDATE otpprov_blocks SET state = 'released', updated_at = $4 WHERE pool = $1 AND base = $2 AND unique_id = $3 AND state = 'reserved'`),
			b.Pool, int64(b.Base), b.UniqueID, now)
		if err != nil {
			return released, l.wrap(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return released, fmt.Errorf("%s block of the board %s changed while it was released: run it again", b.Pool, b.UniqueID)
		}
		b.State = Released
		released = append(released, b)
	}
	return released, nil
}

func typeOf(m *manifest.Manifest, pool string) Type {
	for _, v := range m.Variables {
		if v.Pool == pool {
			return Type(v.Type)
		}
	}
	return U32
}
