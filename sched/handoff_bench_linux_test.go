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
	pin, unpin := oneCPU()
	return groupDoPinned(n, pin, unpin)
}

// oneCPU returns functions that pin the calling thread to CPU 0 and give
// it back the affinity the caller's thread has now (each scheduler's
// thread calls both on itself).
func oneCPU() (pin, unpin func()) {
	var orig, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		panic(err)
	}
	one.Set(0)
	set := func(set *unix.CPUSet) {
		if err := unix.SchedSetaffinity(0, set); err != nil {
			panic(err)
		}
	}
	return func() { set(&one) }, func() { set(&orig) }
}

// BenchmarkGroupDoOneCPU: GroupDo with the two schedulers' threads on one
// CPU, against the channel round trip (x-chan), GOMAXPROCS=2.
func BenchmarkGroupDoOneCPU(b *testing.B) {
	benchRatio(b, atProcs(2, groupDoOneCPU), atProcs(2, crossThreadChan), "chan")
}

// groupXChanStreamOneCPU is groupXChanStream with both scheduler threads
// on CPU 0, as the kernel sometimes places a new Group's two threads.
func groupXChanStreamOneCPU(n int) time.Duration {
	pin, unpin := oneCPU()
	return groupXChanStreamPinned(n, pin, unpin)
}

// BenchmarkGroupXChanStreamOneCPU: GroupXChanStream with the two
// schedulers' threads on one CPU, against the buffered channel between
// two goroutines (x-chan), GOMAXPROCS=2.
func BenchmarkGroupXChanStreamOneCPU(b *testing.B) {
	benchRatio(b, atProcs(2, groupXChanStreamOneCPU), atProcs(2, chanStream), "chan")
}
