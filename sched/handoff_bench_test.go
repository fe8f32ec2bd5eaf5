package sched_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// The cross-thread benchmarks run at GOMAXPROCS=2: a scheduler's locked
// thread on one processor, the goroutine or the other scheduler on the
// other, as in the targets. The baselines are two goroutines
// over Go channels at the same setting.

// atProcs runs w with GOMAXPROCS set to n.
func atProcs(n int, w workload) workload {
	return func(k int) time.Duration {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
		return w(k)
	}
}

// doFromGoroutine: a plain goroutine calls Scheduler.Do on a running
// scheduler; one op is one round trip.
func doFromGoroutine(n int) time.Duration {
	s := sched.New(sched.WithKeepAlive())
	errc := make(chan error)
	go func() { errc <- s.Run() }()
	x := 0
	work := func() { x++ }
	for range 100 { // warm: the scheduler running, the windows open
		s.Do(work)
	}
	t0 := time.Now()
	for range n {
		if err := s.Do(work); err != nil {
			panic(err)
		}
	}
	d := time.Since(t0)
	s.Stop()
	if err := <-errc; err != nil {
		panic(err)
	}
	return d
}

// BenchmarkDoFromGoroutine: target ≤ 3 × an unbuffered-channel round trip
// between two goroutines (x-chan), GOMAXPROCS=2.
func BenchmarkDoFromGoroutine(b *testing.B) {
	benchRatio(b, atProcs(2, doFromGoroutine), atProcs(2, crossThreadChan), "chan")
}

// groupDo: a task of one scheduler of a Group calls Do on the other; one
// op is one round trip.
func groupDo(n int) time.Duration {
	g := sched.NewGroup(2)
	s1 := g.Scheduler(1)
	var d time.Duration
	g.Scheduler(0).Go(func() {
		x := 0
		work := func() { x++ }
		for range 100 {
			s1.Do(work)
		}
		t0 := time.Now()
		for range n {
			if err := s1.Do(work); err != nil {
				panic(err)
			}
		}
		d = time.Since(t0)
	})
	if err := g.Run(); err != nil {
		panic(err)
	}
	return d
}

// BenchmarkGroupDo: a task's Do into another scheduler of its Group
// against the channel round trip (x-chan), GOMAXPROCS=2.
func BenchmarkGroupDo(b *testing.B) {
	benchRatio(b, atProcs(2, groupDo), atProcs(2, crossThreadChan), "chan")
}
