package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// quantile returns the q-quantile (0 <= q <= 1) of xs, interpolating
// linearly between the two closest ranks, so that the median of an even
// count is the mean of the middle two. xs is not modified.
func quantile(xs []time.Duration, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	frac := pos - float64(lo)
	return s[lo] + time.Duration(math.Round(frac*float64(s[hi]-s[lo])))
}

func median(xs []time.Duration) time.Duration { return quantile(xs, 0.5) }

// ratio is a/b, or NaN when b is zero: a zero median means the clock or
// the run is broken, and no ratio should be claimed from it.
func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// formatRatio prints a ratio with two decimals and an x, or "n/a".
func formatRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", r)
}

// formatMs prints a duration in milliseconds with two decimals: process
// runs here take from about a millisecond to tens of them.
func formatMs(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// verdict says whether a measured ratio meets a target: PASS or MISSED.
// atMost is true for "ratio <= limit" (plan against od), false for
// "ratio >= limit" (the speed-up of apply over the shell loop). A ratio
// that could not be measured is MISSED: no claim without a number.
func verdict(r, limit float64, atMost bool) string {
	switch {
	case math.IsNaN(r):
		return "MISSED"
	case atMost && r <= limit, !atMost && r >= limit:
		return "PASS"
	}
	return "MISSED"
}
