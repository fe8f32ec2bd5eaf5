//go:build amd64 || arm64

package asm

// Prefetch asks the CPU to bring the n cache lines (of 64 bytes) starting
// at the line of addr into its caches, and returns at once: it never waits
// for memory and never faults, whatever addr is (a prefetch of an address
// that is not mapped is dropped). It is for a scheduler that knows which
// cold state (a parked goroutine's stack top, its g) the next switch will
// touch, one task ahead, so that the memory arrives while the current task
// still runs. addr is never dereferenced by Go code.
//
// Prefetch is implemented in prefetch_amd64.s (PREFETCHT0) and
// prefetch_arm64.s (PRFM PLDL1KEEP); elsewhere it does nothing.
func Prefetch(addr uintptr, n int)
