package asm_test

import (
	"math"
	"testing"
	"time"

	"github.com/coopgo/coop/asm"
)

func TestTicksMonotonic(t *testing.T) {
	prev := asm.Ticks()
	for i := range 100_000 {
		now := asm.Ticks()
		if now < prev {
			t.Fatalf("reading %d: Ticks went back from %d to %d", i, prev, now)
		}
		prev = now
	}
}

func TestTicksPerSecond(t *testing.T) {
	hz := asm.TicksPerSecond()
	if hz < 1e6 || hz > 1e10 || math.IsNaN(hz) {
		t.Fatalf("TicksPerSecond() = %g, want 1 MHz to 10 GHz", hz)
	}
	if again := asm.TicksPerSecond(); again != hz {
		t.Errorf("TicksPerSecond changed from %g to %g: it must be calibrated once", hz, again)
	}

	// Ticks and the monotonic clock must agree on one interval. Only the
	// ratio is checked, so a slow or loaded machine does not matter.
	t0, c0 := time.Now(), asm.Ticks()
	time.Sleep(50 * time.Millisecond)
	c1, t1 := asm.Ticks(), time.Now()
	byTicks := float64(c1-c0) / hz
	byClock := t1.Sub(t0).Seconds()
	if r := byTicks / byClock; r < 0.9 || r > 1.1 {
		t.Errorf("over one interval Ticks measured %.6fs and the clock %.6fs (ratio %.3f), want within 10%%", byTicks, byClock, r)
	}
	t.Logf("TicksPerSecond() = %.0f", hz)
}
