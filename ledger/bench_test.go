package ledger

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAllocate measures allocations per second with 1 and 8 stations
// (each its own connection pool, as a station process has) on SQLite and
// PostgreSQL, against the least the same database can do for one durable
// counter update: a bare "UPDATE ... RETURNING" transaction loop, timed in
// the same run with the same connection settings (the same durability: one
// transaction, one commit per update, WAL and synchronous=FULL on SQLite).
// x-bare is the ratio (the goal: at most 2).
func BenchmarkAllocate(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		for _, stations := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/stations=%d", backend, stations), func(b *testing.B) {
				url := sqliteURL(b)
				if backend == "postgres" {
					url = pgShared(b)
				}
				initLedger(b, url, "  s: {type: u32, ranges: [\"1-4000000000\"]}\n")
				ctx := context.Background()
				ls := make([]*Ledger, stations)
				for i := range ls {
					l, err := Open(ctx, url)
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					ls[i] = l
				}
				if _, err := ls[0].db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)`); err != nil {
					b.Fatal(err)
				}
				ls[0].db.ExecContext(ctx, `INSERT INTO bench_counter (id, n) VALUES (1, 0) ON CONFLICT DO NOTHING`)
				var boards atomic.Int64
				run := func(n int, op func(l *Ledger) error) time.Duration {
					var wg sync.WaitGroup
					var next atomic.Int64
					start := time.Now()
					for _, l := range ls {
						wg.Add(1)
						go func(l *Ledger) {
							defer wg.Done()
							for next.Add(1) <= int64(n) {
								if err := op(l); err != nil {
									b.Error(err)
									return
								}
							}
						}(l)
					}
					wg.Wait()
					return time.Since(start)
				}
				bareOp := func(l *Ledger) error {
					tx, err := l.db.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					var n int64
					if err := tx.QueryRowContext(ctx, `UPDATE bench_counter SET n = n + 1 WHERE id = 1 RETURNING n`).Scan(&n); err != nil {
						return err
					}
					return tx.Commit()
				}
				allocOp := func(l *Ledger) error {
					_, err := l.Allocate(ctx, "s", fmt.Sprint(boards.Add(1)), "bench")
					return err
				}
				// The two loops take turns, a few dozen operations each,
				// so that what else the machine does (a shared CI runner,
				// the disk's fsync time drifting) falls on both alike: run
				// one after the other, a busy second made the ratio swing
				// from 0.5x to 6x between runs.
				const turn = 25
				var bare, alloc time.Duration
				b.ResetTimer()
				for done := 0; done < b.N; done += turn {
					n := min(turn, b.N-done)
					bare += run(n, bareOp)
					alloc += run(n, allocOp)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/alloc.Seconds(), "allocs/s")
				b.ReportMetric(float64(b.N)/bare.Seconds(), "bare/s")
				b.ReportMetric(alloc.Seconds()/bare.Seconds(), "x-bare")
			})
		}
	}
}
