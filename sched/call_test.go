package sched_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// TestDoFromEverywhere has goroutines and tasks of another scheduler of a
// Group call Do on a scheduler at once, a hundred thousand times in all,
// and checks that every call ran once, on the target's thread (its
// counter needs no lock), and returned after its function.
func TestDoFromEverywhere(t *testing.T) {
	checkLeaks(t)
	const callers, each = 8, 12_500
	n := each
	if raceEnabled {
		n = each / 10
	}
	g := sched.NewGroup(2)
	target := g.Scheduler(1)
	count := 0 // only target's tasks touch it
	var returned atomic.Int64
	call := func() {
		for range n {
			before := -1
			if err := target.Do(func() { count++; before = count }); err != nil {
				t.Error(err)
				return
			}
			if before <= 0 {
				t.Error("Do returned before its function ran")
				return
			}
			returned.Add(1)
		}
	}
	var wg sync.WaitGroup
	var goroutinesDone atomic.Int32
	for i := range callers {
		if i%2 == 0 {
			wg.Go(func() {
				defer goroutinesDone.Add(1)
				call()
			})
		} else {
			g.Scheduler(0).Go(call)
		}
	}
	// The Group would stop once its tasks end: keep it until the
	// goroutines are done too.
	g.Scheduler(1).Go(func() {
		for goroutinesDone.Load() < callers/2 {
			sched.Sleep(time.Millisecond)
		}
	})
	if err := g.Run(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if count != callers*n || returned.Load() != int64(callers*n) {
		t.Errorf("functions ran %d times, %d calls returned; want %d", count, returned.Load(), callers*n)
	}
}

// TestDoPanics: a Do whose function panics returns the *PanicError when
// the scheduler has a panic handler, to a goroutine and to a task alike.
func TestDoPanics(t *testing.T) {
	checkLeaks(t)
	var handled atomic.Int32
	g := sched.NewGroup(2, sched.WithPanicHandler(func(*sched.Task, *sched.PanicError) { handled.Add(1) }))
	target := g.Scheduler(1)
	check := func(who string, err error) {
		var pe *sched.PanicError
		if !errors.As(err, &pe) || pe.Value != "boom" {
			t.Errorf("%s: Do of a panicking function = %v, want a *PanicError with value boom", who, err)
		}
	}
	g.Scheduler(0).Go(func() { check("task", target.Do(func() { panic("boom") })) })
	done := make(chan struct{})
	go func() {
		defer close(done)
		check("goroutine", target.Do(func() { panic("boom") }))
	}()
	g.Scheduler(1).Go(func() {
		for handled.Load() < 2 {
			sched.Sleep(time.Millisecond)
		}
	})
	if err := g.Run(); err != nil {
		t.Fatal(err)
	}
	<-done
}

// TestDoOnAFinishedScheduler returns ErrStopped without running the
// function, from a goroutine and from a task of another scheduler.
func TestDoOnAFinishedScheduler(t *testing.T) {
	checkLeaks(t)
	done := sched.New()
	mustRun(t, done)
	ran := false
	if err := done.Do(func() { ran = true }); !errors.Is(err, sched.ErrStopped) {
		t.Errorf("Do from a goroutine: %v, want ErrStopped", err)
	}
	runTasks(t, func(*sched.Scheduler) {
		if err := done.Do(func() { ran = true }); !errors.Is(err, sched.ErrStopped) {
			t.Errorf("Do from a task: %v, want ErrStopped", err)
		}
	})
	if ran {
		t.Error("a Do on a finished scheduler ran its function")
	}
}

// TestDoStopWithCallsInFlight stops a Group while goroutines and tasks
// call Do on one of its schedulers, and checks that every caller gets
// out, and that the calls that returned nil are exactly the functions
// that ran to their end: none lost, none run twice, none reported done
// that was not.
func TestDoStopWithCallsInFlight(t *testing.T) {
	checkLeaks(t)
	g := sched.NewGroup(2, sched.WithKeepAlive())
	target := g.Scheduler(1)
	var completed, okCalls, stopped atomic.Int64
	fn := func() {
		sched.Yield()
		completed.Add(1)
	}
	call := func() {
		defer stopped.Add(1)
		for {
			if err := target.Do(fn); err != nil {
				if !errors.Is(err, sched.ErrStopped) {
					t.Error(err)
				}
				return
			}
			okCalls.Add(1)
			if sched.Current() != nil && sched.Sleep(0) != nil {
				return // this task's scheduler is stopping
			}
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(call)
		g.Scheduler(0).Go(call)
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Run() }()
	time.Sleep(30 * time.Millisecond)
	g.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if okCalls.Load() != completed.Load() {
		t.Errorf("%d calls returned nil, %d functions ran to the end", okCalls.Load(), completed.Load())
	}
	if stopped.Load() != 8 {
		t.Errorf("%d callers got out, want 8", stopped.Load())
	}
	t.Logf("%d calls before the stop", okCalls.Load())
}

// TestDoAtGOMAXPROCS1: with one processor nobody spins, and a goroutine's
// Do still completes.
func TestDoAtGOMAXPROCS1(t *testing.T) {
	checkLeaks(t)
	defer sched.SetGOMAXPROCS(sched.SetGOMAXPROCS(1))
	s := sched.New(sched.WithKeepAlive())
	errc := make(chan error, 1)
	go func() { errc <- s.Run() }()
	x := 0
	for range 2000 {
		if err := s.Do(func() { x++ }); err != nil {
			t.Fatal(err)
		}
	}
	s.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if x != 2000 {
		t.Errorf("x = %d after 2000 calls", x)
	}
}

// TestDoReplyAfterTheSpin: a task's Do into another scheduler waits for
// its reply spinning, then parked (awaitReply). Calls whose function
// sleeps past any spin, calls that return at once, and calls that panic
// are mixed, so that replies land both while the caller spins and after
// it parked; each call must return after its own function ran, with its
// own outcome.
func TestDoReplyAfterTheSpin(t *testing.T) {
	checkLeaks(t)
	const callers, each = 4, 300
	g := sched.NewGroup(2, sched.WithPanicHandler(func(*sched.Task, *sched.PanicError) {}))
	target := g.Scheduler(1)
	ran := 0 // only target's tasks touch it
	for c := range callers {
		g.Scheduler(0).Go(func() {
			for i := range each {
				after := 0
				var err error
				switch (i + c) % 3 {
				case 0:
					err = target.Do(func() { ran++; after = ran })
				case 1:
					err = target.Do(func() {
						sched.Sleep(100 * time.Microsecond) // longer than a task's spin
						ran++
						after = ran
					})
				case 2:
					err = target.Do(func() {
						ran++
						after = ran
						if i%2 == 0 {
							sched.Sleep(100 * time.Microsecond)
						}
						panic(i)
					})
					var pe *sched.PanicError
					if !errors.As(err, &pe) || pe.Value != i {
						t.Errorf("call %d: Do of a panicking function = %v, want a *PanicError with value %d", i, err, i)
						return
					}
					err = nil
				}
				if err != nil {
					t.Errorf("call %d: %v", i, err)
					return
				}
				if after == 0 {
					t.Errorf("call %d returned before its function ran", i)
					return
				}
			}
		})
	}
	if err := g.Run(); err != nil {
		t.Fatal(err)
	}
	if ran != callers*each {
		t.Errorf("functions ran %d times, want %d", ran, callers*each)
	}
}
