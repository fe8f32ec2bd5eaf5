package sched_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// groupDoOneCPU is groupDo with both scheduler threads on CPU 0, as the
// kernel sometimes places a new Group's two threads: each side's spin
// then holds the CPU that the other side needs (spin.go's osYield).
// Each thread's affinity is restored before its scheduler returns, so
// that the runtime's pooled threads keep their CPUs.
func groupDoOneCPU(n int) time.Duration {
	var orig, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		panic(err)
	}
	one.Set(0)
	pin := func(set *unix.CPUSet) {
		if err := unix.SchedSetaffinity(0, set); err != nil {
			panic(err)
		}
	}
	return groupDoPinned(n, func() { pin(&one) }, func() { pin(&orig) })
}

// BenchmarkGroupDoOneCPU: GroupDo with the two schedulers' threads on one
// CPU, against the channel round trip (x-chan), GOMAXPROCS=2.
func BenchmarkGroupDoOneCPU(b *testing.B) {
	benchRatio(b, atProcs(2, groupDoOneCPU), atProcs(2, crossThreadChan), "chan")
}
