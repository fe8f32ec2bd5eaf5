package prefork

import "testing"

// TestConnLimit: a worker's connection limit is MaxConns give or take
// its jitter, never 0 (which means no limit) for a MaxConns above 0:
// MaxConns 1 with the default jitter drew limits below 1 half the time,
// and those workers were never recycled.
func TestConnLimit(t *testing.T) {
	for _, tc := range []struct {
		max    int
		jitter float64
	}{{1, 0.1}, {1, 0.99}, {2, 0.5}, {3, 0.9}, {10, 0.1}, {1000, 0.1}} {
		lo, hi := float64(tc.max)*(1-tc.jitter), float64(tc.max)*(1+tc.jitter)
		for range 1000 {
			got := connLimit(tc.max, tc.jitter)
			if got < 1 || float64(got) > hi+0.5 || float64(got) < lo-0.5 {
				t.Fatalf("connLimit(%d, %v) = %d, want 1 or more, within %.1f–%.1f (rounded)", tc.max, tc.jitter, got, lo, hi)
			}
		}
	}
	if got := connLimit(0, 0.1); got != 0 {
		t.Errorf("connLimit(0, 0.1) = %d, want 0 (no limit)", got)
	}
}
