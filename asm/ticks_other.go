//go:build !amd64 && !arm64

package asm

import "time"

const hardwareTicks = false

var ticksEpoch = time.Now()

// Ticks returns the hardware tick counter on amd64 and arm64. On this
// architecture it falls back to the monotonic clock: nanoseconds since the
// package was initialized, through time.Since, which costs tens of
// nanoseconds; TicksPerSecond is then exactly 1e9.
func Ticks() uint64 { return uint64(time.Since(ticksEpoch)) }
