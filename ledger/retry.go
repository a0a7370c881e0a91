package ledger

import (
	"context"
	"math/rand/v2"
	"time"
)

// attempts bounds the rounds a transaction that conflicted with another
// station's is tried again. Each round after a conflict waits a random
// while that grows (1 ms, 2 ms, ... up to 64 ms): stations that collided
// at once would collide again if they all tried again at once, and a
// busy line (a reservation's cursor move against every allocation on
// its range) needs more than a few immediate rounds.
const attempts = 30

// pause waits before round attempt (0-based, the first round does not
// wait), or until ctx ends.
func pause(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return nil
	}
	limit := time.Millisecond << min(attempt-1, 6)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(limit))) + limit/2)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
