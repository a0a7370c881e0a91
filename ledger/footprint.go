package ledger

import (
	"context"
	"database/sql"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otpprov/otpprov/journal"
	"github.com/otpprov/otpprov/manifest"
)

// A journal record names the words an attempt planned, wrote and read
// back, and the board; a saved plan's record names no variable at all.
// The ledger holds no manifest. So that an imported record can say which
// of the board's reserved values it may have put on fuses, the ledger
// keeps each block's footprint: the words (bank, word, mask) the
// manifests that planned its values set, written when a plan with the
// ledger is made. A record whose words touch a block's footprint marks
// the block burned; a block without a footprint (planned before the
// ledger kept them) is marked burned by any record of its board that
// shows a bit: when in doubt, burned, because a half-burned value handed
// out again is a duplicate.

// Spot is where a block's values go: a word, and the bits of it they take.
type Spot struct {
	Bank, Word int
	Mask       uint32
}

// Footprint records, for each reserved block of the unit, the words the
// manifest's variables of its pool set (m resolved: its VarBits hold
// every entry), added to what it held. It writes only what is missing: a
// board planned again with the same manifest costs one read.
func (l *Ledger) Footprint(ctx context.Context, u Unit, m *manifest.Manifest) error {
	type key struct {
		pool string
		base uint64
	}
	want := map[key]map[[2]int]uint32{}
	for _, b := range u.Blocks {
		if b.State != Reserved {
			continue // burned or scrapped: nothing more to trace
		}
		spots := map[[2]int]uint32{}
		for _, v := range m.Variables {
			if v.Pool != b.Pool {
				continue
			}
			for _, bits := range m.VarBits[v.Name] {
				spots[[2]int{bits.Bank, bits.Word}] |= bits.Mask
			}
		}
		if len(spots) == 0 {
			continue
		}
		held, err := l.footprint(ctx, b.Pool, b.Base)
		if err != nil {
			return err
		}
		for w, mask := range spots {
			if held[w]&mask != mask {
				if want[key{b.Pool, b.Base}] == nil {
					want[key{b.Pool, b.Base}] = map[[2]int]uint32{}
				}
				want[key{b.Pool, b.Base}][w] = mask
			}
		}
	}
	if len(want) == 0 {
		return nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return l.wrap(err)
	}
	defer tx.Rollback()
	for k, spots := range want {
		for w, mask := range spots {
			if _, err := tx.ExecContext(ctx, l.q(`INSERT INTO otpprov_block_words (pool, base, bank, word, mask) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (pool, base, bank, word) DO UPDATE SET mask = otpprov_block_words.mask | excluded.mask`),
				k.pool, int64(k.base), w[0], w[1], int64(mask)); err != nil {
				return l.wrap(err)
			}
		}
	}
	return l.wrap(tx.Commit())
}

// footprint is the words the ledger holds for a block.
func (l *Ledger) footprint(ctx context.Context, pool string, base uint64) (map[[2]int]uint32, error) {
	rows, err := l.db.QueryContext(ctx, l.q(`SELECT bank, word, mask FROM otpprov_block_words WHERE pool = $1 AND base = $2`), pool, int64(base))
	if err != nil {
		return nil, l.wrap(err)
	}
	defer rows.Close()
	out := map[[2]int]uint32{}
	for rows.Next() {
		var bank, word int
		var mask int64
		if err := rows.Scan(&bank, &word, &mask); err != nil {
			return nil, l.wrap(err)
		}
		out[[2]int{bank, word}] = uint32(mask)
	}
	return out, l.wrap(rows.Err())
}

// Evidence is what a journal's records show of the bits each board may
// hold: by board, by word, the bits an attempt may have burned or read.
// Records are added in journal order; an intent is judged by its outcome
// when the journal holds one, and by its planned words when it does not
// (the station died mid-burn) or the outcome says it was interrupted.
type Evidence struct {
	bits    map[string]map[[2]int]uint32
	intents map[int]*journal.Record // intents whose outcome is not seen yet
}

// Add takes one record into the evidence.
func (ev *Evidence) Add(r journal.Record) {
	if ev.bits == nil {
		ev.bits, ev.intents = map[string]map[[2]int]uint32{}, map[int]*journal.Record{}
	}
	switch {
	case r.FormatVersion >= 2 && r.Kind == journal.KindIntent:
		ev.intents[r.Seq] = &r
	case r.FormatVersion >= 2 && r.IntentSeq != 0:
		intent := ev.intents[r.IntentSeq]
		delete(ev.intents, r.IntentSeq)
		if r.Outcome == journal.OutcomeInterrupted {
			// Its words are the intent's: the planned writes, any of which
			// may have reached a fuse.
			if intent != nil {
				ev.planned(intent)
			} else {
				ev.board(r.UniqueID, [2]int{-1, -1}, 0xffffffff)
			}
			return
		}
		ev.outcome(&r)
	default:
		// An outcome that burned nothing (no intent), or a version 1
		// record (one per attempt, its words' statuses say what ran).
		ev.outcome(&r)
	}
}

// planned counts every planned write of an intent as burned.
func (ev *Evidence) planned(r *journal.Record) {
	for _, w := range r.Words {
		ev.board(r.UniqueID, [2]int{w.Bank, w.Word}, hexBits(w.Before)|hexBits(w.Delta)|hexBits(w.After))
	}
}

// outcome counts what a word held before, what was read back, and the
// delta of every word whose write was attempted (a failed or unverified
// write may have burned it).
func (ev *Evidence) outcome(r *journal.Record) {
	for _, w := range r.Words {
		bits := hexBits(w.Before) | hexBits(w.After)
		if w.Status != "skipped" && w.Status != journal.Planned {
			bits |= hexBits(w.Delta)
		}
		ev.board(r.UniqueID, [2]int{w.Bank, w.Word}, bits)
	}
}

func (ev *Evidence) board(id string, w [2]int, bits uint32) {
	if id == "" || id == "unreadable" || bits == 0 {
		return
	}
	if ev.bits[id] == nil {
		ev.bits[id] = map[[2]int]uint32{}
	}
	ev.bits[id][w] |= bits
}

// close judges the intents left without an outcome by their planned
// words.
func (ev *Evidence) close() {
	seqs := make([]int, 0, len(ev.intents))
	for s := range ev.intents {
		seqs = append(seqs, s)
	}
	sort.Ints(seqs)
	for _, s := range seqs {
		ev.planned(ev.intents[s])
	}
	ev.intents = map[int]*journal.Record{}
}

// hexBits reads a record's word value; an absent one is no bits, one
// that does not read as a word ("secret") is every bit.
func hexBits(s string) uint32 {
	if s == "" {
		return 0
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 32)
	if err != nil || !strings.HasPrefix(s, "0x") {
		return 0xffffffff
	}
	return uint32(v)
}

// BurnedFrom marks burned every reserved block of the boards the evidence
// names whose footprint holds a bit the records show (any bit for a
// block without a footprint, or a record that names no words), in one
// transaction, and returns them. Blocks burned already, released or
// scrapped are left as they are: marking again changes nothing.
func (l *Ledger) BurnedFrom(ctx context.Context, ev *Evidence) ([]Entry, error) {
	ev.close()
	if len(ev.bits) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(ev.bits))
	for id := range ev.bits {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, l.wrap(err)
	}
	defer tx.Rollback()
	type block struct {
		pool  string
		base  int64
		spots map[[2]int]uint32
	}
	var marked []block
	var touched []string // the boards of marked, in order
	for _, id := range ids {
		rows, err := tx.QueryContext(ctx, l.q(`SELECT b.pool, b.base, w.bank, w.word, w.mask FROM otpprov_blocks b
			LEFT JOIN otpprov_block_words w ON w.pool = b.pool AND w.base = b.base
			WHERE b.unique_id = $1 AND b.state = 'reserved' ORDER BY b.pool, b.base`), id)
		if err != nil {
			return nil, l.wrap(err)
		}
		var bs []block
		for rows.Next() {
			var pool string
			var base int64
			var bank, word, mask sql.NullInt64
			if err := rows.Scan(&pool, &base, &bank, &word, &mask); err != nil {
				rows.Close()
				return nil, l.wrap(err)
			}
			if len(bs) == 0 || bs[len(bs)-1].pool != pool || bs[len(bs)-1].base != base {
				bs = append(bs, block{pool: pool, base: base, spots: map[[2]int]uint32{}})
			}
			if bank.Valid {
				bs[len(bs)-1].spots[[2]int{int(bank.Int64), int(word.Int64)}] = uint32(mask.Int64)
			}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return nil, l.wrap(err)
		}
		rows.Close()
		seen := ev.bits[id]
		_, anywhere := seen[[2]int{-1, -1}]
		for _, b := range bs {
			hit := anywhere || len(b.spots) == 0
			for w, mask := range b.spots {
				hit = hit || seen[w]&mask != 0
			}
			if hit {
				marked = append(marked, b)
				touched = append(touched, id)
			}
		}
	}
	if len(marked) == 0 {
		return nil, nil
	}
	now := time.Now().UTC().Format(Stamp)
	for _, b := range marked {
		if _, err := tx.ExecContext(ctx, l.q(`UPDATE otpprov_blocks SET state = 'burned', updated_at = $3 WHERE pool = $1 AND base = $2 AND state = 'reserved'`),
			b.pool, b.base, now); err != nil {
			return nil, l.wrap(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, l.wrap(err)
	}
	var out []Entry
	for i, id := range touched {
		if i > 0 && touched[i-1] == id {
			continue
		}
		es, err := l.Entries(ctx, Filter{UniqueID: id})
		if err != nil {
			return out, err
		}
		for _, e := range es {
			for _, b := range marked {
				if e.Pool == b.pool && int64(e.Base) == b.base {
					out = append(out, e)
				}
			}
		}
	}
	return out, nil
}
