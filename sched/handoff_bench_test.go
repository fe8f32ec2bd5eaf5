//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// BenchmarkNullSyscall is the machine's null system call (a raw getppid),
// stated next to the hand-off figures: a hand-off that sleeps pays at
// least one system call and a wake-up, one that spins pays neither.
func BenchmarkNullSyscall(b *testing.B) {
	for b.Loop() {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
}

// The cross-thread benchmarks run at GOMAXPROCS=2: a scheduler's locked
// thread on one processor, the goroutine or the other scheduler on the
// other, as in the targets. The baselines are two goroutines
// over Go channels at the same setting.

// atProcs runs w with GOMAXPROCS set to n.
func atProcs(n int, w workload) workload {
	return func(k int) time.Duration {
		defer sched.SetGOMAXPROCS(sched.SetGOMAXPROCS(n))
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
func groupDo(n int) time.Duration { return groupDoWith(n) }

// groupDoWith is groupDo in a Group made with opts (WithCPUs).
func groupDoWith(n int, opts ...sched.Option) time.Duration {
	g := sched.NewGroup(2, opts...)
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

// groupXChanPingPong: a task of each scheduler of a Group, the two
// exchanging a token over two unbuffered XChans; one op is one round
// trip.
func groupXChanPingPong(capacity int) workload {
	return func(n int) time.Duration { return xchanPingPong(capacity, n) }
}

func xchanPingPong(capacity, n int) time.Duration {
	g := sched.NewGroup(2)
	ping, pong := sched.NewXChan[int](capacity), sched.NewXChan[int](capacity)
	var d time.Duration
	g.Scheduler(1).Go(func() {
		for {
			v, err := ping.Recv()
			if err != nil {
				return
			}
			pong.Send(v)
		}
	})
	g.Scheduler(0).Go(func() {
		defer ping.Close()
		for i := range 100 {
			ping.Send(i)
			pong.Recv()
		}
		t0 := time.Now()
		for i := range n {
			ping.Send(i)
			if _, err := pong.Recv(); err != nil {
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

// BenchmarkGroupXChanPingPong: target ≤ 3 × an unbuffered-channel round
// trip between two goroutines (x-chan), GOMAXPROCS=2; XChans of
// capacity 1, and unbuffered ones (a rendezvous: each side queues and
// is woken through its scheduler).
func BenchmarkGroupXChanPingPong(b *testing.B) {
	benchRatio(b, atProcs(2, groupXChanPingPong(1)), atProcs(2, crossThreadChan), "chan")
}

func BenchmarkGroupXChanPingPongUnbuffered(b *testing.B) {
	benchRatio(b, atProcs(2, groupXChanPingPong(0)), atProcs(2, crossThreadChan), "chan")
}

// streamCap is the buffer of the one-way throughput benchmarks.
const streamCap = 256

// groupXChanStream: a task of one scheduler sends n ints to a task of the
// other over a buffered XChan; one op is one message.
func groupXChanStream(n int) time.Duration { return groupXChanStreamWith(n) }

// groupXChanStreamWith is groupXChanStream in a Group made with opts
// (WithCPUs); with options, the sender waits until the receiver runs
// before the clock starts.
func groupXChanStreamWith(n int, opts ...sched.Option) time.Duration {
	g := sched.NewGroup(2, opts...)
	c := sched.NewXChan[int](streamCap)
	var d time.Duration
	start := make(chan time.Time, 1)
	running := make(chan struct{})
	g.Scheduler(1).Go(func() {
		close(running)
		sum := 0
		for {
			v, err := c.Recv()
			if err != nil {
				break
			}
			sum += v
		}
		d = time.Since(<-start)
		if want := n * (n - 1) / 2; sum != want {
			panic("lost messages")
		}
	})
	g.Scheduler(0).Go(func() {
		if len(opts) > 0 {
			<-running // both threads on their CPUs before the clock starts
		}
		start <- time.Now()
		for i := range n {
			c.Send(i)
		}
		c.Close()
	})
	if err := g.Run(); err != nil {
		panic(err)
	}
	return d
}

// chanStream: the same between two goroutines over a buffered channel.
func chanStream(n int) time.Duration {
	c := make(chan int, streamCap)
	done := make(chan int)
	t0 := time.Now()
	go func() {
		sum := 0
		for v := range c {
			sum += v
		}
		done <- sum
	}()
	for i := range n {
		c <- i
	}
	close(c)
	sum := <-done
	d := time.Since(t0)
	if want := n * (n - 1) / 2; sum != want {
		panic("lost messages")
	}
	return d
}

// BenchmarkGroupXChanStream: target ≥ the throughput of a buffered Go
// channel between two goroutines, that is x-chan ≤ 1 (time per message),
// GOMAXPROCS=2.
func BenchmarkGroupXChanStream(b *testing.B) {
	benchRatio(b, atProcs(2, groupXChanStream), atProcs(2, chanStream), "chan")
}
