package sched_test

import (
	"iter"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// The targets of these benchmarks are ratios to a baseline measured in the
// same process. On a shared 2-CPU machine two benchmarks run a minute apart
// can differ by 2x, so each benchmark runs its subject and its baseline
// alternately, in rounds, and reports the ratio of their totals next to
// ns/op: noise that hits one round hits both.

// workload runs n operations and returns the time they took (setup
// excluded).
type workload func(n int) time.Duration

const rounds = 10

// benchRatio times subject and baseline over b.N operations each, in
// alternating rounds, and reports subject's ns/op, the baseline's, and
// their ratio as "x-<unit>".
func benchRatio(b *testing.B, subject, baseline workload, unit string) {
	b.Helper()
	var ts, tb time.Duration
	per := max(b.N/rounds, 1)
	b.ResetTimer()
	for range rounds {
		ts += subject(per)
		tb += baseline(per)
	}
	b.StopTimer()
	n := float64(per * rounds)
	b.ReportMetric(float64(ts.Nanoseconds())/n, "ns/op")
	b.ReportMetric(float64(tb.Nanoseconds())/n, unit+"-ns/op")
	b.ReportMetric(float64(ts)/float64(tb), "x-"+unit)
}

// yieldHandoff: two tasks yield to each other; one op is one hand-off.
func yieldHandoff(n int) time.Duration {
	var d time.Duration
	s := sched.New()
	k := max(n/2, 1)
	s.Go(func() {
		sched.Yield() // both tasks running, outside the timing
		t0 := time.Now()
		for range k {
			sched.Yield()
		}
		d = time.Since(t0)
	})
	s.Go(func() {
		for range k + 1 {
			sched.Yield()
		}
	})
	if err := s.Run(); err != nil {
		panic(err)
	}
	return d * time.Duration(n) / time.Duration(2*k)
}

// iterPullRoundTrip: one op is next plus yield, two coroutine switches.
func iterPullRoundTrip(n int) time.Duration {
	next, stop := iter.Pull(func(yield func(struct{}) bool) {
		for yield(struct{}{}) {
		}
	})
	defer stop()
	next()
	t0 := time.Now()
	for range n {
		next()
	}
	return time.Since(t0)
}

// chanHandoff: two goroutines hand a token back and forth over unbuffered
// channels with GOMAXPROCS=1; one op is one hand-off.
func chanHandoff(n int) time.Duration {
	defer sched.SetGOMAXPROCS(sched.SetGOMAXPROCS(1))
	ping, pong := make(chan struct{}), make(chan struct{})
	go func() {
		for range ping {
			pong <- struct{}{}
		}
	}()
	ping <- struct{}{}
	<-pong
	k := max(n/2, 1)
	t0 := time.Now()
	for range k {
		ping <- struct{}{}
		<-pong
	}
	d := time.Since(t0)
	close(ping)
	return d * time.Duration(n) / time.Duration(2*k)
}

// BenchmarkYieldHandoff: target ≤ 1.15 × one iter.Pull round trip
// (x-iterpull) ...
func BenchmarkYieldHandoff(b *testing.B) {
	benchRatio(b, yieldHandoff, iterPullRoundTrip, "iterpull")
}

// ... and ≥ 1.7 × faster than two goroutines over a channel (x-chan ≤ 0.59).
func BenchmarkYieldHandoffVsChan(b *testing.B) {
	benchRatio(b, yieldHandoff, chanHandoff, "chan")
}

// BenchmarkChanHandoff is the channel baseline on its own.
func BenchmarkChanHandoff(b *testing.B) {
	b.ReportMetric(float64(chanHandoff(b.N).Nanoseconds())/float64(b.N), "ns/op")
}

// spawnRunExit: a task starts a task with Spawn and waits for its
// completion signal, a sched.WaitGroup; one op is one whole short task.
func spawnRunExit(n int) time.Duration {
	var d time.Duration
	s := sched.New()
	s.Go(func() {
		var wg sched.WaitGroup
		body := func() { wg.Done() }
		wg.Add(1)
		s.Spawn(body) // the first worker goroutine, outside the timing
		wg.Wait()
		t0 := time.Now()
		for range n {
			wg.Add(1)
			s.Spawn(body)
			wg.Wait()
		}
		d = time.Since(t0)
	})
	if err := s.Run(); err != nil {
		panic(err)
	}
	return d
}

// goWaitRunExit: the same with Go and Task.Wait, which allocates the
// *Task handle it returns.
func goWaitRunExit(n int) time.Duration {
	var d time.Duration
	s := sched.New()
	s.Go(func() {
		body := func() {}
		s.Go(body).Wait()
		t0 := time.Now()
		for range n {
			s.Go(body).Wait()
		}
		d = time.Since(t0)
	})
	if err := s.Run(); err != nil {
		panic(err)
	}
	return d
}

// goSpawnExit: go f() plus the completion signal a caller needs.
func goSpawnExit(n int) time.Duration {
	done := make(chan struct{})
	body := func() { done <- struct{}{} }
	t0 := time.Now()
	for range n {
		go body()
		<-done
	}
	return time.Since(t0)
}

// BenchmarkSpawnRunExit: target ≤ 0.5 × go f() plus its completion signal
// (x-go). Finished tasks hand their goroutine to the next one, as State
// Threads and libdill cache stacks, and Spawn recycles the task itself.
func BenchmarkSpawnRunExit(b *testing.B) {
	b.ReportAllocs()
	benchRatio(b, spawnRunExit, goSpawnExit, "go")
}

// BenchmarkGoWaitRunExit is SpawnRunExit with a handle: Go and Task.Wait.
func BenchmarkGoWaitRunExit(b *testing.B) {
	b.ReportAllocs()
	benchRatio(b, goWaitRunExit, goSpawnExit, "go")
}

// crossThreadGo: a plain goroutine hands work to a running scheduler and
// waits for the answer; one op is one round trip.
func crossThreadGo(n int) time.Duration {
	s := sched.New(sched.WithKeepAlive())
	errc := make(chan error)
	go func() { errc <- s.Run() }()
	answer := make(chan int, 1)
	x := 0
	work := func() { x++; answer <- x }
	s.Go(work)
	<-answer
	t0 := time.Now()
	for range n {
		s.Go(work)
		<-answer
	}
	d := time.Since(t0)
	s.Stop()
	if err := <-errc; err != nil {
		panic(err)
	}
	return d
}

// crossThreadChan: the same round trip to a worker goroutine over channels.
func crossThreadChan(n int) time.Duration {
	req, answer := make(chan struct{}), make(chan int)
	go func() {
		x := 0
		for range req {
			x++
			answer <- x
		}
	}()
	req <- struct{}{}
	<-answer
	t0 := time.Now()
	for range n {
		req <- struct{}{}
		<-answer
	}
	d := time.Since(t0)
	close(req)
	return d
}

// BenchmarkCrossThreadGo compares handing work to a scheduler from another
// goroutine with the same over Go channels (x-chan).
func BenchmarkCrossThreadGo(b *testing.B) {
	benchRatio(b, crossThreadGo, crossThreadChan, "chan")
}
