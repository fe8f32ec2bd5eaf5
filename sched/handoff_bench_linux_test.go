package sched_test

import (
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// groupDoOneCPU is groupDo with both scheduler threads on CPU 0, as the
// kernel sometimes places a new Group's two threads: each side's spin
// then holds the CPU that the other side needs (spin.go's osYield).
func groupDoOneCPU(n int) time.Duration { return groupDoWith(n, sched.WithCPUs(0)) }

// BenchmarkGroupDoOneCPU: GroupDo with the two schedulers' threads on one
// CPU, against the channel round trip (x-chan), GOMAXPROCS=2.
func BenchmarkGroupDoOneCPU(b *testing.B) {
	benchRatio(b, atProcs(2, groupDoOneCPU), atProcs(2, crossThreadChan), "chan")
}

// groupXChanStreamOneCPU is groupXChanStream with both scheduler threads
// on CPU 0, as the kernel sometimes places a new Group's two threads.
func groupXChanStreamOneCPU(n int) time.Duration {
	return groupXChanStreamWith(n, sched.WithCPUs(0))
}

// BenchmarkGroupXChanStreamOneCPU: GroupXChanStream with the two
// schedulers' threads on one CPU, against the buffered channel between
// two goroutines (x-chan), GOMAXPROCS=2.
func BenchmarkGroupXChanStreamOneCPU(b *testing.B) {
	benchRatio(b, atProcs(2, groupXChanStreamOneCPU), atProcs(2, chanStream), "chan")
}
