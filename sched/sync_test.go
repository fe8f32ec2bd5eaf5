package sched_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/sched"
)

// Tests of the sync primitives: Mutex, Cond, WaitGroup here, the
// interrupt, misuse and deadlock tables for all of them; Chan and Select
// in chan_test.go, Inbox in inbox_test.go.

// fromGoroutine runs fn on a plain goroutine and returns once fn has
// returned. The calling task yields meanwhile, so that its scheduler stays
// awake: fn's hand-offs to it (Interrupt, Inbox.Send) then never wake its
// poller, which races with the poller's close at the end of Run when the
// hand-off is the scheduler's last event (see poller.wake and post).
func fromGoroutine(fn func()) {
	var done atomic.Bool
	go func() {
		fn()
		done.Store(true)
	}()
	for !done.Load() {
		sched.Yield()
	}
}

// panicValue calls fn and returns what it panicked with, as a string, or
// "" if it returned.
func panicValue(fn func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
		}
	}()
	fn()
	return ""
}

func TestMutex(t *testing.T) {
	checkLeaks(t)
	var got []string
	note := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	runTasks(t, func(s *sched.Scheduler) {
		var mu sched.Mutex // zero value
		note("TryLock %v", mu.TryLock())
		note("TryLock %v", mu.TryLock())
		mu.Unlock()
		mu.Lock()
		note("TryLock %v", mu.TryLock())
		mu.Unlock()
		note("TryLock %v", mu.TryLock())
		mu.Unlock()
	})
	want := []string{"TryLock true", "TryLock false", "TryLock false", "TryLock true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestMutexFIFO checks that waiters get the Mutex in the order they asked
// for it, and that Unlock hands it over: the unlocker cannot take it back.
func TestMutexFIFO(t *testing.T) {
	checkLeaks(t)
	var got []string
	runTasks(t, func(s *sched.Scheduler) {
		var mu sched.Mutex
		mu.Lock()
		var wg sched.WaitGroup
		for i := range 5 {
			wg.Go(func() {
				mu.Lock()
				got = append(got, fmt.Sprintf("task %d locked", i))
				sched.Yield() // hold it across a switch
				mu.Unlock()
			})
		}
		sched.Yield() // all five queue in Lock, in order
		mu.Unlock()
		got = append(got, fmt.Sprintf("TryLock after Unlock: %v", mu.TryLock()))
		if err := wg.Wait(); err != nil {
			t.Error(err)
		}
	})
	want := []string{
		"TryLock after Unlock: false",
		"task 0 locked", "task 1 locked", "task 2 locked", "task 3 locked", "task 4 locked",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestMutexLockNotInterruptible checks that an interrupt during Lock does
// not end it, and is reported by the task's next interruptible call.
func TestMutexLockNotInterruptible(t *testing.T) {
	for _, from := range []string{"task", "goroutine"} {
		t.Run("from "+from, func(t *testing.T) {
			checkLeaks(t)
			var got []string
			runTasks(t, func(s *sched.Scheduler) {
				var mu sched.Mutex
				var c sched.Chan[int]
				mu.Lock()
				victim := s.Go(func() {
					mu.Lock()
					got = append(got, "locked")
					mu.Unlock()
					_, err := c.Recv() // interruptible: reports the interrupt
					got = append(got, fmt.Sprintf("Recv: %v", err))
				})
				sched.Yield() // victim blocks in Lock
				if from == "task" {
					victim.Interrupt()
				} else {
					fromGoroutine(victim.Interrupt)
				}
				for range 3 {
					sched.Yield()
				}
				got = append(got, "unlocking")
				mu.Unlock()
				if err := victim.Wait(); err != nil {
					t.Error(err)
				}
			})
			want := []string{"unlocking", "locked", "Recv: sched: interrupted"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCond(t *testing.T) {
	checkLeaks(t)
	var got []string
	runTasks(t, func(s *sched.Scheduler) {
		var mu sched.Mutex
		c := sched.NewCond(&mu)
		var wg sched.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				mu.Lock()
				if err := c.Wait(); err != nil {
					t.Error(err)
				}
				// Wait returns with mu locked: TryLock must fail.
				got = append(got, fmt.Sprintf("task %d woke, TryLock %v", i, mu.TryLock()))
				mu.Unlock()
			})
		}
		sched.Yield() // all four wait
		c.Signal()
		sched.Yield()
		got = append(got, "signalled")
		mu.Lock()
		c.Signal()
		sched.Yield() // task 1 is woken but waits for mu
		got = append(got, "signalled with mu held")
		mu.Unlock()
		sched.Yield()
		c.Broadcast()
		if err := wg.Wait(); err != nil {
			t.Error(err)
		}
		c.Signal() // no waiter: nothing happens
	})
	want := []string{
		"task 0 woke, TryLock false",
		"signalled",
		"signalled with mu held",
		"task 1 woke, TryLock false",
		"task 2 woke, TryLock false",
		"task 3 woke, TryLock false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestCondWaitInterruptedRelocks checks that an interrupted Wait returns
// with its locker held, and that Signal then goes to the next waiter.
func TestCondWaitInterruptedRelocks(t *testing.T) {
	checkLeaks(t)
	var got []string
	runTasks(t, func(s *sched.Scheduler) {
		var mu sched.Mutex
		c := sched.Cond{L: &mu} // a Cond literal works as well as NewCond
		wait := func(name string) *sched.Task {
			return s.Go(func() {
				mu.Lock()
				err := c.Wait()
				got = append(got, fmt.Sprintf("%s: %v, TryLock %v", name, err, mu.TryLock()))
				mu.Unlock()
			})
		}
		a, b := wait("a"), wait("b")
		sched.Yield()
		a.Interrupt()
		a.Wait()
		c.Signal()
		b.Wait()
	})
	want := []string{"a: sched: interrupted, TryLock false", "b: <nil>, TryLock false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWaitGroup(t *testing.T) {
	checkLeaks(t)
	const n = 1000
	var done int
	var elapsed time.Duration
	runTasks(t, func(s *sched.Scheduler) {
		var wg sched.WaitGroup
		if err := wg.Wait(); err != nil { // zero counter: returns at once
			t.Error(err)
		}
		start := sched.Now()
		for i := range n {
			wg.Go(func() {
				sched.Sleep(time.Duration(i%97) * time.Second)
				done++
			})
		}
		wg.Add(2)
		s.Go(func() { sched.Sleep(time.Hour); wg.Done(); wg.Done() })
		// Several waiters wake together.
		var waiters sched.WaitGroup
		for range 3 {
			waiters.Go(func() {
				if err := wg.Wait(); err != nil {
					t.Error(err)
				}
			})
		}
		if err := wg.Wait(); err != nil {
			t.Error(err)
		}
		elapsed = sched.Now().Sub(start)
		waiters.Wait()
		// Reuse for a second round.
		wg.Go(func() { sched.Sleep(time.Second) })
		wg.Wait()
	}, virtual())
	if done != n || elapsed != time.Hour {
		t.Errorf("Wait returned after %d tasks and %v, want %d and 1h", done, elapsed, n)
	}
}

func TestMisusePanics(t *testing.T) {
	var (
		mu   sched.Mutex
		cond = sched.NewCond(&mu)
		wg   sched.WaitGroup
		c    sched.Chan[int]
	)
	in := sched.NewInbox[int](sched.New(), 0)
	// The calls that park a task, outside any. (The calls that never
	// wait are setup outside a task while no scheduler runs the
	// primitive: outside_test.go.)
	outside := []struct {
		call string
		fn   func()
	}{
		{"Mutex.Lock", mu.Lock},
		{"Cond.Wait", func() { cond.Wait() }},
		{"WaitGroup.Wait", func() { wg.Wait() }},
		{"WaitGroup.Go", func() { wg.Go(func() {}) }},
		{"Chan.Send", func() { c.Send(1) }},
		{"Chan.Recv", func() { c.Recv() }},
		{"Select", func() { sched.Select(c.RecvCase(nil)) }},
		{"SelectTimeout", func() { sched.SelectTimeout(0, c.RecvCase(nil)) }},
		{"Inbox.Recv", func() { in.Recv() }},
	}
	for _, tt := range outside {
		t.Run(tt.call+"/outside a task", func(t *testing.T) {
			want := "sched: " + tt.call + " called outside a task: it parks the calling task"
			if got := panicValue(tt.fn); !strings.HasPrefix(got, want) {
				t.Errorf("panic %q, want %q...", got, want)
			}
		})
	}

	// Bound to one scheduler, used from another.
	s1 := sched.New(sched.WithName("s1"))
	in = sched.NewInbox[int](s1, 0)
	s1.Go(func() {
		mu.Lock()
		mu.Unlock()
		cond.Signal()
		wg.Add(0)
		c.TrySend(1)
		in.TryRecv()
	})
	mustRun(t, s1)
	var d sched.Chan[int] // bound by Select
	s0 := sched.New(sched.WithName("s0"))
	s0.Go(func() { sched.SelectTimeout(0, d.RecvCase(nil)) })
	mustRun(t, s0)
	other := []struct {
		call  string
		owner string
		fn    func()
	}{
		{"Mutex.Lock", "s1", mu.Lock},
		{"Mutex.Unlock", "s1", mu.Unlock},
		{"Cond.Wait", "s1", func() { cond.Wait() }},
		{"Cond.Broadcast", "s1", cond.Broadcast},
		{"WaitGroup.Add", "s1", func() { wg.Add(1) }},
		{"WaitGroup.Wait", "s1", func() { wg.Wait() }},
		{"Chan.Send", "s1", func() { c.Send(1) }},
		{"Chan.Recv", "s0", func() { d.Recv() }},
		{"Select on a Chan", "s0", func() { sched.Select(d.RecvCase(nil), c.RecvCase(nil)) }},
		{"Inbox.Recv", "s1", func() { in.Recv() }},
	}
	s2 := sched.New(sched.WithName("s2"))
	got := make([]string, len(other))
	s2.Go(func() {
		for i, tt := range other {
			got[i] = panicValue(tt.fn)
		}
	})
	mustRun(t, s2)
	for i, tt := range other {
		want := "sched: " + tt.call + " called from a task of s2, but it belongs to " + tt.owner
		if got[i] != want {
			t.Errorf("%s: panic %q, want %q", tt.call, got[i], want)
		}
	}

	// Misuse within one scheduler.
	same := []struct {
		name, want string
		fn         func()
	}{
		{"unlock of unlocked Mutex", "sched: unlock of unlocked Mutex", func() { new(sched.Mutex).Unlock() }},
		{"negative WaitGroup counter", "sched: negative WaitGroup counter", func() { new(sched.WaitGroup).Done() }},
		{"negative Chan capacity", "sched: NewChan with negative capacity", func() { sched.NewChan[int](-1) }},
		{"zero Inbox", "sched: Inbox.Send on an Inbox not made by NewInbox", func() { new(sched.Inbox[int]).Send(1) }},
	}
	for _, tt := range same {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			runTasks(t, func(s *sched.Scheduler) { got = panicValue(tt.fn) })
			if got != tt.want {
				t.Errorf("panic %q, want %q", got, tt.want)
			}
		})
	}
}

// TestInterruptSyncCalls interrupts every interruptible blocking call of
// the primitives, from another task, from a plain goroutine, and before
// the call, and checks that the primitive is left clean.
func TestInterruptSyncCalls(t *testing.T) {
	type prim struct {
		block func() error // blocks until interrupted
		clean func() error // after the interrupt: an error if a waiter was left behind
	}
	tests := []struct {
		name string
		make func(s *sched.Scheduler) prim
	}{
		{"Cond.Wait", func(s *sched.Scheduler) prim {
			var mu sched.Mutex
			c := sched.NewCond(&mu)
			return prim{
				block: func() error {
					mu.Lock()
					err := c.Wait()
					if mu.TryLock() {
						return errors.New("Wait returned without the lock")
					}
					mu.Unlock()
					return err
				},
				clean: func() error {
					// A stale waiter would swallow the signal.
					mu.Lock()
					other := s.Go(func() { mu.Lock(); c.Wait(); mu.Unlock() })
					mu.Unlock()
					sched.Yield()
					c.Signal()
					return other.Wait()
				},
			}
		}},
		{"WaitGroup.Wait", func(s *sched.Scheduler) prim {
			var wg sched.WaitGroup
			return prim{
				block: func() error { wg.Add(1); return wg.Wait() },
				clean: func() error { wg.Done(); return wg.Wait() },
			}
		}},
		{"Chan.Send", func(s *sched.Scheduler) prim {
			var c sched.Chan[int]
			return prim{
				block: func() error { return c.Send(1) },
				clean: func() error { return wantWouldBlock(c.TryRecv()) },
			}
		}},
		{"Chan.Send full", func(s *sched.Scheduler) prim {
			c := sched.NewChan[int](1)
			return prim{
				block: func() error { c.TrySend(0); return c.Send(1) },
				clean: func() error {
					if v, err := c.TryRecv(); v != 0 || err != nil {
						return fmt.Errorf("TryRecv = %v, %v; want 0, nil", v, err)
					}
					return wantWouldBlock(c.TryRecv())
				},
			}
		}},
		{"Chan.Recv", func(s *sched.Scheduler) prim {
			var c sched.Chan[int]
			return prim{
				block: func() error { _, err := c.Recv(); return err },
				clean: func() error { return wantWouldBlockErr(c.TrySend(1)) },
			}
		}},
		{"Select", func(s *sched.Scheduler) prim {
			var c, d sched.Chan[int]
			return prim{
				block: func() error {
					i, err := sched.Select(c.RecvCase(nil), d.SendCase(1))
					if i != -1 {
						return fmt.Errorf("Select returned case %d", i)
					}
					return err
				},
				clean: func() error {
					return errors.Join(wantWouldBlockErr(c.TrySend(1)), wantWouldBlock(d.TryRecv()))
				},
			}
		}},
		{"SelectTimeout", func(s *sched.Scheduler) prim {
			var c sched.Chan[int]
			return prim{
				block: func() error {
					_, err := sched.SelectTimeout(time.Hour, c.RecvCase(nil))
					return err
				},
				clean: func() error { return wantWouldBlockErr(c.TrySend(1)) },
			}
		}},
		{"Select with no case", func(s *sched.Scheduler) prim {
			return prim{block: func() error { _, err := sched.Select(); return err }}
		}},
		{"Inbox.Recv", func(s *sched.Scheduler) prim {
			in := sched.NewInbox[int](s, 0)
			return prim{
				block: func() error { _, err := in.Recv(); return err },
				clean: func() error {
					// A stale waiter entry would take the wake-up.
					got := s.Go(func() { in.Recv() })
					sched.Yield()
					in.Send(1)
					return got.Wait()
				},
			}
		}},
	}
	for _, tt := range tests {
		for _, from := range []string{"task", "goroutine", "pending"} {
			t.Run(tt.name+"/from "+from, func(t *testing.T) {
				checkLeaks(t)
				var blockErr, cleanErr error
				runTasks(t, func(s *sched.Scheduler) {
					p := tt.make(s)
					victim := s.Go(func() {
						if from == "pending" {
							sched.Current().Interrupt()
						}
						blockErr = p.block()
					})
					sched.Yield() // the victim blocks
					switch from {
					case "task":
						victim.Interrupt()
					case "goroutine":
						fromGoroutine(victim.Interrupt)
					}
					victim.Wait()
					if p.clean != nil {
						cleanErr = p.clean()
					}
				}, virtual())
				if !errors.Is(blockErr, sched.ErrInterrupted) {
					t.Errorf("blocking call returned %v, want ErrInterrupted", blockErr)
				}
				if cleanErr != nil {
					t.Errorf("after the interrupt: %v", cleanErr)
				}
			})
		}
	}
}

func wantWouldBlock[T any](v T, err error) error { return wantWouldBlockErr(err) }

func wantWouldBlockErr(err error) error {
	if !errors.Is(err, sched.ErrWouldBlock) {
		return fmt.Errorf("got %v, want ErrWouldBlock", err)
	}
	return nil
}

// TestSyncDeadlock checks that tasks stuck on the primitives are reported
// as a deadlock naming each of them and what it waits for, and that they
// unwind cleanly (deferred Unlocks included).
func TestSyncDeadlock(t *testing.T) {
	tests := []struct {
		name string
		a, b func() // run as two tasks, a first
		want []string
	}{
		{"chan receive",
			func() { var c sched.Chan[int]; c.Recv() },
			func() { c := sched.NewChan[string](3); c.Recv() },
			[]string{"chan receive", "chan receive"}},
		{"chan send", func() { var c sched.Chan[int]; c.Send(1) },
			func() { c := sched.NewChan[int](1); c.Send(1); c.Send(2) },
			[]string{"chan send", "chan send"}},
		{"select", func() { var c sched.Chan[int]; var x int; sched.Select(c.RecvCase(&x)) },
			func() { sched.Select() },
			[]string{"select", "select"}},
		{"mutex and chan", func() {
			dlMu.Lock()
			defer dlMu.Unlock()
			var c sched.Chan[int]
			c.Recv()
		}, func() { dlMu.Lock(); dlMu.Unlock() },
			[]string{"chan receive", "mutex"}},
		{"cond", func() {
			dlMu.Lock()
			defer dlMu.Unlock()
			dlCond.Wait() // unwinding must leave the Mutex locked for the deferred Unlock
		}, func() {
			dlMu.Lock()
			defer dlMu.Unlock()
			dlCond.Wait()
		}, []string{"cond", "cond"}},
		{"wait group", func() { dlWG.Add(1); dlWG.Wait() }, func() { dlWG.Wait() },
			[]string{"wait group", "wait group"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			dlMu, dlWG = sched.Mutex{}, sched.WaitGroup{}
			dlCond = sched.NewCond(&dlMu)
			s := sched.New()
			s.Go(tt.a)
			s.Go(tt.b)
			err := s.Run()
			var de *sched.DeadlockError
			if !errors.Is(err, sched.ErrDeadlock) || !errors.As(err, &de) {
				t.Fatalf("Run returned %v, want a DeadlockError", err)
			}
			var got []string
			for _, line := range de.Tasks {
				what, _, _ := strings.Cut(line, " [")
				_, what, _ = strings.Cut(what, "blocked on ")
				what, _, _ = strings.Cut(what, " (")
				got = append(got, what)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tasks (-want +got):\n%s\nfrom %v", diff, err)
			}
		})
	}
}

// Shared by the deadlock table, reset by each case.
var (
	dlMu   sched.Mutex
	dlCond *sched.Cond
	dlWG   sched.WaitGroup
)
