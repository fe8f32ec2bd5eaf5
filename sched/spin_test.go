//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// TestIdleAfterBurstUsesNoCPU runs a burst of cross-thread hand-offs
// (a goroutine's Do, Go and Inbox sends; a task of one scheduler of a
// Group calling Do on the other, and exchanging over XChans with a task
// of the other), checks that the schedulers spun during
// it, and then that the whole process uses less than 1% of a CPU over the
// second after it ends: the spin stops with the traffic.
func TestIdleAfterBurstUsesNoCPU(t *testing.T) {
	checkLeaks(t)
	defer sched.SetGOMAXPROCS(sched.SetGOMAXPROCS(2))
	g := sched.NewGroup(2, sched.WithKeepAlive())
	s0, s1 := g.Scheduler(0), g.Scheduler(1)
	errc := make(chan error, 1)
	go func() { errc <- g.Run() }()

	rounds := 5_000
	if raceEnabled {
		rounds = 2_000 // enough to open the windows; -race costs ~20x
	}
	in := sched.NewInbox[int](s1, 0)
	ping, pong := sched.NewXChan[int](1), sched.NewXChan[int](0)
	var wg sync.WaitGroup
	wg.Add(2)
	s1.Go(func() {
		defer wg.Done()
		for range rounds {
			v, err := ping.Recv()
			if err == nil {
				err = pong.Send(v)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
		for range rounds {
			if _, err := in.Recv(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	s0.Go(func() {
		defer wg.Done()
		for i := range rounds {
			err := ping.Send(i)
			if err == nil {
				_, err = pong.Recv()
			}
			if err == nil {
				err = s1.Do(func() {})
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		x := 0
		for range rounds {
			if err := s1.Do(func() { x++ }); err != nil {
				t.Error(err)
				return
			}
			s0.Go(func() {})
			if err := in.Send(1); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	var st [2]sched.Stats
	for i := range st {
		st[i] = g.Scheduler(i).Stats()
	}
	for i, s := range st {
		if s.SpinHits == 0 {
			t.Errorf("scheduler %d never found work by spinning during the burst (%d spins): the test shows nothing", i, s.Spins)
		}
	}
	// A garbage collection, and the heap's free pages returned now: the
	// runtime's background scavenger, which may take up to 1% of a CPU
	// for a while after the allocations of earlier tests, and a
	// collection are not in the measured second, which is about the
	// schedulers.
	debug.FreeOSMemory()

	before := cpuTime(t)
	time.Sleep(time.Second)
	used := cpuTime(t) - before
	g.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if used > 10*time.Millisecond {
		t.Errorf("the process used %v of CPU in the second after the burst, want < 1%% of a CPU", used)
	}
	t.Logf("CPU in the second after the burst: %v; during it: %+v", used, st)
}

// TestNoWakeupWhileAwake: a scheduler that is running (not asleep in its
// poller) gets work from another goroutine without a single wake-up
// system call.
func TestNoWakeupWhileAwake(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	posted := make(chan struct{})
	s.Go(func() {
		w0 := s.Stats().Wakeups
		go func() {
			defer close(posted)
			for range 500 {
				s.Go(func() {})
			}
		}()
		<-posted // blocks the thread: the scheduler is awake, not asleep
		if w := s.Stats().Wakeups - w0; w != 0 {
			t.Errorf("%d wake-ups written while the scheduler was awake, want 0", w)
		}
	})
	mustRun(t, s)
}

// TestOneWakeupPerBurst: a burst of hand-offs to a sleeping scheduler
// writes a wake-up only when the scheduler has gone to sleep, not once
// per message: the others find one written, or the scheduler awake or
// spinning. How often a loaded machine lets the scheduler fall asleep
// again during the burst varies; that it writes at least one wake-up (it
// was asleep when the burst began) and never more than it sleeps does
// not (post.go: a sleep admits one write). A scheduler that sleeps and is
// not woken never answers the last Do.
func TestOneWakeupPerBurst(t *testing.T) {
	checkLeaks(t)
	const n = 1000
	w, sleeps := wakeupsForBurst(t, n)
	if w == 0 || w > sleeps || w > n/2 {
		t.Errorf("%d wake-ups for a burst of %d hand-offs to a scheduler that slept %d times, want 1 to min(sleeps, %d)", w, n, sleeps, n/2)
	} else {
		t.Logf("%d wake-ups for %d hand-offs, %d sleeps", w, n, sleeps)
	}
}

// wakeupsForBurst hands n tasks at once to a scheduler that has fallen
// asleep, and returns the wake-ups written and the sleeps taken
// meanwhile.
func wakeupsForBurst(t *testing.T, n int) (wakeups, sleeps uint64) {
	t.Helper()
	s := sched.New(sched.WithKeepAlive())
	errc := make(chan error, 1)
	go func() { errc <- s.Run() }()
	// The wake-ups are read after each Do returns: the Do's own is
	// counted by then (its sender counts it after writing it, which may
	// be after the Do's function ran), and the thread is asleep again or
	// about to be, with nothing posted.
	var st0, st1 sched.Stats
	if err := s.Do(func() { st0 = s.Stats() }); err != nil {
		t.Fatal(err)
	}
	w0 := sched.Wakeups(s)
	// Asleep, its spin window spent: waited for, where a fixed 20 ms
	// was not always enough for a loaded machine's thread to get there
	// (the burst then found it awake and tested nothing: '0 wake-ups').
	for deadline := time.Now().Add(30 * time.Second); !sched.Asleep(s); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			s.Stop()
			<-errc
			t.Fatal("the scheduler did not fall asleep within 30 s of its last hand-off")
		}
	}
	for range n {
		s.Go(func() {})
	}
	if err := s.Do(func() { st1 = s.Stats() }); err != nil {
		t.Fatal(err)
	}
	w1 := sched.Wakeups(s)
	s.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return w1 - w0, st1.Sleeps - st0.Sleeps
}
