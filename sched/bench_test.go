package sched_test

import (
	"iter"
	"runtime"
	"testing"

	"github.com/coopgo/coop/sched"
)

// BenchmarkYieldHandoff: two tasks yield to each other; one op is one
// hand-off from one task to the other. Target: ≤ 1.15 × one iter.Pull
// round trip, and ≥ 1.7 × faster than BenchmarkChanHandoff.
func BenchmarkYieldHandoff(b *testing.B) {
	s := sched.New()
	n := b.N
	for range 2 {
		s.Go(func() {
			for range n / 2 {
				sched.Yield()
			}
		})
	}
	b.ResetTimer()
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIterPullRoundTrip is the baseline of the switch targets: one op
// is next plus yield, two runtime coroutine switches.
func BenchmarkIterPullRoundTrip(b *testing.B) {
	next, stop := iter.Pull(func(yield func(struct{}) bool) {
		for yield(struct{}{}) {
		}
	})
	defer stop()
	for b.Loop() {
		next()
	}
}

// BenchmarkChanHandoff: two goroutines hand a token back and forth over
// unbuffered channels with GOMAXPROCS=1; one op is one hand-off.
func BenchmarkChanHandoff(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ping, pong := make(chan struct{}), make(chan struct{})
	go func() {
		for range ping {
			pong <- struct{}{}
		}
	}()
	b.ResetTimer()
	for range b.N / 2 {
		ping <- struct{}{}
		<-pong
	}
	b.StopTimer()
	close(ping)
}

// BenchmarkSpawnRunExit: a task starts a task and waits for it to end;
// one op is one whole short task. Target: ≤ 0.5 × BenchmarkGoSpawnExit.
func BenchmarkSpawnRunExit(b *testing.B) {
	b.ReportAllocs()
	s := sched.New()
	n := b.N
	s.Go(func() {
		body := func() {}
		for range n {
			s.Go(body).Wait()
		}
	})
	b.ResetTimer()
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGoSpawnExit: go f() plus the completion signal a caller needs.
func BenchmarkGoSpawnExit(b *testing.B) {
	b.ReportAllocs()
	done := make(chan struct{})
	body := func() { done <- struct{}{} }
	for b.Loop() {
		go body()
		<-done
	}
}

// BenchmarkCrossThreadGo: a plain goroutine hands work to a running
// scheduler and waits for the answer; one op is one round trip.
func BenchmarkCrossThreadGo(b *testing.B) {
	s := sched.New(sched.WithKeepAlive())
	errc := make(chan error)
	go func() { errc <- s.Run() }()
	answer := make(chan int, 1)
	x := 0
	work := func() { x++; answer <- x }
	b.ResetTimer()
	for range b.N {
		s.Go(work)
		<-answer
	}
	b.StopTimer()
	s.Stop()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCrossThreadChan is the same round trip to a worker goroutine
// over channels.
func BenchmarkCrossThreadChan(b *testing.B) {
	req, answer := make(chan struct{}), make(chan int)
	go func() {
		x := 0
		for range req {
			x++
			answer <- x
		}
	}()
	b.ResetTimer()
	for range b.N {
		req <- struct{}{}
		<-answer
	}
	b.StopTimer()
	close(req)
}
