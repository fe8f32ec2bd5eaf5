package asm

import (
	"sync"
	"time"
)

// calibration is how long TicksPerSecond watches Ticks against the
// monotonic clock. Both clocks are read back to back at each end, so the
// error is about the cost of one read (tens of ns) over 25 ms: under 10 ppm.
const calibration = 25 * time.Millisecond

var ticksPerSecond = sync.OnceValue(func() float64 {
	if !hardwareTicks {
		return 1e9
	}
	t0, c0 := time.Now(), Ticks()
	time.Sleep(calibration)
	c1, t1 := Ticks(), time.Now()
	return float64(c1-c0) / t1.Sub(t0).Seconds()
})

// TicksPerSecond returns the rate of Ticks. The first call measures it
// against the monotonic clock, which takes about 25 ms; later calls return
// the same value. Where Ticks falls back to the monotonic clock, it is 1e9.
func TicksPerSecond() float64 { return ticksPerSecond() }
