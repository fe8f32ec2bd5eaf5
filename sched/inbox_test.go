package sched_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/sched"
)

// TestInboxManyProducers has 8 goroutines send 10,000 values each into a
// scheduler, and checks that the receiving task gets every value once
// and each producer's values in order.
func TestInboxManyProducers(t *testing.T) {
	const producers = 8
	for _, tt := range []struct{ capacity, each int }{
		{0, 10_000},
		{64, 1000}, // producers spin on a full Inbox: fewer values
	} {
		capacity, each := tt.capacity, tt.each
		t.Run(fmt.Sprint("capacity ", capacity), func(t *testing.T) {
			checkLeaks(t)
			s := sched.New()
			in := sched.NewInbox[[2]int](s, capacity)
			var running atomic.Int32
			running.Store(producers)
			var full atomic.Int64
			for p := range producers {
				go func() {
					defer running.Add(-1)
					for i := range each {
						for {
							err := in.Send([2]int{p, i})
							if err == nil {
								break
							}
							if !errors.Is(err, sched.ErrWouldBlock) {
								t.Error(err)
								return
							}
							full.Add(1)
							runtime.Gosched()
						}
					}
				}()
			}
			next := make([]int, producers)
			var bad []string
			s.Go(func() {
				for range producers * each {
					v, err := in.Recv()
					if err != nil {
						t.Error(err)
						return
					}
					if p, i := v[0], v[1]; i != next[p] {
						bad = append(bad, fmt.Sprintf("producer %d: got %d, want %d", p, i, next[p]))
						next[p] = i + 1
					} else {
						next[p]++
					}
				}
				// Let the producers return from their last Send while
				// the scheduler is awake (see fromGoroutine).
				for running.Load() > 0 {
					sched.Yield()
				}
				if _, err := in.TryRecv(); !errors.Is(err, sched.ErrWouldBlock) {
					t.Errorf("TryRecv after the last value: %v, want ErrWouldBlock", err)
				}
			})
			mustRun(t, s)
			if len(bad) > 0 {
				t.Errorf("%d values out of order, first: %s", len(bad), bad[0])
			}
			for p, n := range next {
				if n != each {
					t.Errorf("producer %d: %d values received, want %d", p, n, each)
				}
			}
			if capacity == 0 && full.Load() != 0 {
				t.Errorf("an unbounded Inbox returned ErrWouldBlock %d times", full.Load())
			}
		})
	}
}

func TestInbox(t *testing.T) {
	checkLeaks(t)
	var got []string
	note := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	s := sched.New()
	in := sched.NewInbox[string](s, 2)
	note("Send before Run: %v", in.Send("early"))
	s.Go(func() {
		note("Send: %v, Send: %v, Len %d", in.Send("a"), in.Send("b"), in.Len())
		v, err := in.TryRecv()
		note("TryRecv %q %v", v, err)
		note("Send: %v", in.Send("c"))
		// A receiver woken by a sender of its own scheduler.
		r := s.Go(func() {
			for range 3 {
				v, err := in.Recv()
				note("Recv %q %v", v, err)
			}
		})
		sched.Yield()
		note("Send: %v", in.Send("d"))
		r.Wait()
		// Close from a plain goroutine wakes a blocked receiver.
		r = s.Go(func() {
			v, err := in.Recv()
			note("Recv %q %v", v, err)
		})
		sched.Yield()
		fromGoroutine(in.Close)
		r.Wait()
		in.Close() // again: nothing happens
		_, err = in.TryRecv()
		note("Send: %v, TryRecv: %v, Len %d", in.Send("e"), err, in.Len())
	})
	mustRun(t, s)
	note("Send after Run: %v", in.Send("late"))
	want := []string{
		"Send before Run: <nil>",
		"Send: <nil>, Send: sched: operation would block, Len 2",
		`TryRecv "early" <nil>`,
		"Send: <nil>",
		`Recv "a" <nil>`,
		`Recv "c" <nil>`,
		"Send: <nil>",
		`Recv "d" <nil>`,
		`Recv "" sched: closed`,
		"Send: sched: closed, TryRecv: sched: closed, Len 0",
		"Send after Run: sched: scheduler stopped",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestInboxFromOtherScheduler sends from the tasks of another scheduler,
// running at the same time on its own thread.
func TestInboxFromOtherScheduler(t *testing.T) {
	checkLeaks(t)
	const n = 1000
	s, s2 := sched.New(), sched.New()
	in := sched.NewInbox[int](s, 0)
	for range 2 {
		s2.Go(func() {
			for i := range n {
				if err := in.Send(i); err != nil {
					t.Error(err)
				}
				if i%100 == 0 {
					sched.Yield()
				}
			}
		})
	}
	var s2Done atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- s2.Run()
		s2Done.Store(true)
	}()
	sum := 0
	s.Go(func() {
		for range 2 * n {
			v, err := in.Recv()
			if err != nil {
				t.Error(err)
				return
			}
			sum += v
		}
		for !s2Done.Load() {
			sched.Yield()
		}
	})
	mustRun(t, s)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if want := n * (n - 1); sum != want {
		t.Errorf("sum %d, want %d", sum, want)
	}
}

// TestInboxInterruptPassesValueOn interrupts a receiver that a sender on
// another goroutine has already chosen to wake: the value must go to the
// next receiver, and the late wake-up must not end the interrupted task's
// next wait.
func TestInboxInterruptPassesValueOn(t *testing.T) {
	checkLeaks(t)
	var got []string
	note := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	runTasks(t, func(s *sched.Scheduler) {
		in := sched.NewInbox[int](s, 0)
		var c sched.Chan[int]
		a := s.Go(func() {
			v, err := in.Recv()
			note("a: %d %v", v, err)
			// The sender's wake-up for a, still queued, is stale.
			_, err = sched.SelectTimeout(time.Hour, c.RecvCase(nil))
			note("a: Select %v", err)
		})
		b := s.Go(func() {
			v, err := in.Recv()
			note("b: %d %v", v, err)
		})
		sched.Yield() // a then b wait
		// Block the thread while a goroutine sends: it takes a out of
		// the waiters and queues a's wake-up, not yet delivered.
		sent := make(chan struct{})
		go func() { in.Send(1); close(sent) }()
		<-sent
		a.Interrupt()
		b.Wait()
		c.Send(0)
		a.Wait()
	}, virtual())
	want := []string{"b: 1 <nil>", "a: 0 sched: interrupted", "a: Select <nil>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// BenchmarkInboxSend is one value sent by a goroutine and received by a
// task of a scheduler on another thread.
func BenchmarkInboxSend(b *testing.B) {
	b.ReportAllocs()
	s := sched.New()
	in := sched.NewInbox[int](s, 0)
	var producing atomic.Bool
	producing.Store(true)
	s.Go(func() {
		for range b.N {
			if _, err := in.Recv(); err != nil {
				b.Error(err)
				return
			}
		}
		for producing.Load() {
			sched.Yield()
		}
	})
	b.ResetTimer()
	go func() {
		defer producing.Store(false)
		for i := range b.N {
			in.Send(i)
		}
	}()
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
}
