package ledger

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPause: the first round does not wait; later rounds wait at least
// half their limit (1 ms << round-1, capped at 64 ms); a cancelled
// context ends the wait at once with its error.
func TestPause(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	if err := pause(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Millisecond {
		t.Errorf("round 0 waited %v", d)
	}
	start = time.Now()
	if err := pause(ctx, 5); err != nil { // limit 16 ms: at least 8 ms
		t.Fatal(err)
	}
	if d := time.Since(start); d < 8*time.Millisecond {
		t.Errorf("round 5 waited %v, want at least 8ms", d)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	start = time.Now()
	if err := pause(cancelled, attempts-1); !errors.Is(err, context.Canceled) {
		t.Errorf("pause on a cancelled context: %v", err)
	}
	if d := time.Since(start); d > 30*time.Millisecond {
		t.Errorf("pause on a cancelled context waited %v", d)
	}
}
