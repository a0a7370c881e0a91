// Package ledgercheck reads a ledger's tables directly, with no code of
// the ledger package, and checks what the ledger promises whatever
// happened to it (stations killed, the network dropped, faults on the
// boards): no value live for two boards, one live block per board and
// pool, and no gap below each range's cursor. Tests use it as their
// oracle; it writes nothing.
package ledgercheck

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx"
	_ "modernc.org/sqlite"             // "sqlite"
)

// Block is one row of the ledger's blocks.
type Block struct {
	Pool     string
	Base     uint64
	PerUnit  int
	UniqueID string
	State    string
}

// Live: handed to a board and not given back.
func (b Block) Live() bool { return b.State != "released" }

// Holds reports whether the block holds value v.
func (b Block) Holds(v uint64) bool { return v >= b.Base && v < b.Base+uint64(b.PerUnit) }

// Snapshot is the ledger's blocks at one moment.
type Snapshot struct {
	Blocks []Block
}

// Owner is the live block of pool that holds value v, if any.
func (s *Snapshot) Owner(pool string, v uint64) (Block, bool) {
	for _, b := range s.Blocks {
		if b.Pool == pool && b.Live() && b.Holds(v) {
			return b, true
		}
	}
	return Block{}, false
}

// Board is the board's live block of pool, if any.
func (s *Snapshot) Board(pool, uniqueID string) (Block, bool) {
	for _, b := range s.Blocks {
		if b.Pool == pool && b.Live() && b.UniqueID == uniqueID {
			return b, true
		}
	}
	return Block{}, false
}

// Open opens a ledger URL (sqlite:PATH or postgres://...) for reading.
func Open(url string) (*sql.DB, error) {
	if path, ok := strings.CutPrefix(url, "sqlite:"); ok {
		return sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(30000)")
	}
	return sql.Open("pgx", url)
}

// Check reads the ledger and checks its invariants; the snapshot is
// returned with the first violation, for the caller's own checks.
func Check(ctx context.Context, db *sql.DB) (*Snapshot, error) {
	s := &Snapshot{}
	rows, err := db.QueryContext(ctx, `SELECT b.pool, b.base, p.per_unit, b.unique_id, b.state FROM otpprov_blocks b JOIN otpprov_pools p ON p.name = b.pool ORDER BY b.pool, b.base`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var b Block
		var base int64
		if err := rows.Scan(&b.Pool, &base, &b.PerUnit, &b.UniqueID, &b.State); err != nil {
			rows.Close()
			return nil, err
		}
		b.Base = uint64(base)
		s.Blocks = append(s.Blocks, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	type poolBoard struct{ pool, board string }
	boards := map[poolBoard]uint64{}
	var live []Block
	for _, b := range s.Blocks {
		switch b.State {
		case "reserved", "burned", "released", "scrapped":
		default:
			return s, fmt.Errorf("%s block %d has state %q", b.Pool, b.Base, b.State)
		}
		if !b.Live() {
			continue
		}
		k := poolBoard{b.Pool, b.UniqueID}
		if other, ok := boards[k]; ok {
			return s, fmt.Errorf("board %s holds two live blocks of %s: %d and %d", b.UniqueID, b.Pool, other, b.Base)
		}
		boards[k] = b.Base
		live = append(live, b)
	}
	// No value in two live blocks (blocks of one pool never overlap).
	sort.Slice(live, func(i, j int) bool {
		if live[i].Pool != live[j].Pool {
			return live[i].Pool < live[j].Pool
		}
		return live[i].Base < live[j].Base
	})
	for i := 1; i < len(live); i++ {
		a, b := live[i-1], live[i]
		if a.Pool == b.Pool && b.Base < a.Base+uint64(a.PerUnit) {
			return s, fmt.Errorf("%s value %d is live for the boards %s and %s", a.Pool, b.Base, a.UniqueID, b.UniqueID)
		}
	}
	// Below each range's cursor, every block was handed out: no gap.
	held := map[string]map[uint64]bool{}
	for _, b := range s.Blocks {
		if held[b.Pool] == nil {
			held[b.Pool] = map[uint64]bool{}
		}
		held[b.Pool][b.Base] = true
	}
	rr, err := db.QueryContext(ctx, `SELECT r.pool, p.per_unit, r.lo, r.hi, r.next_free FROM otpprov_ranges r JOIN otpprov_pools p ON p.name = r.pool`)
	if err != nil {
		return s, err
	}
	defer rr.Close()
	for rr.Next() {
		var pool string
		var per int
		var lo, hi, next int64
		if err := rr.Scan(&pool, &per, &lo, &hi, &next); err != nil {
			return s, err
		}
		if next < lo || next > hi+1 || (next-lo)%int64(per) != 0 {
			return s, fmt.Errorf("%s range %d-%d: the cursor %d is outside it or not on a block", pool, lo, hi, next)
		}
		for v := lo; v < next; v += int64(per) {
			if !held[pool][uint64(v)] {
				return s, fmt.Errorf("%s range %d-%d: %d is below the cursor %d but no board ever got it: a gap", pool, lo, hi, v, next)
			}
		}
	}
	return s, rr.Err()
}
