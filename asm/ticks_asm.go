//go:build amd64 || arm64

package asm

const hardwareTicks = true

// Ticks returns the hardware tick counter: the time-stamp counter on amd64
// (LFENCE then RDTSC), the virtual counter CNTVCT_EL0 on arm64 (after an
// ISB). Both count at a constant rate, independent of the core's clock
// frequency, and are readable without a system call; TicksPerSecond gives
// the rate. On amd64 this is the reference rate of the TSC (constant_tsc,
// nonstop_tsc on Linux), not core cycles; on arm64 it is often much slower
// than the core clock (24 MHz on Apple M1, tens of MHz to 1 GHz on servers,
// 62.5 MHz under qemu-user), so measure many switches per reading.
//
// Ticks is implemented in ticks_amd64.s and ticks_arm64.s.
func Ticks() uint64
