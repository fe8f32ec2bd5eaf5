package sched_test

import (
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// TestNowCachedPerPoll: a task sees the clock as the scheduler read it at
// its last poll, unchanged until the task blocks; after a block it has
// moved on, and Sleep still sleeps at least its duration.
func TestNowCachedPerPoll(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a := sched.Now()
		spin := time.Now().Add(2 * time.Millisecond)
		for time.Now().Before(spin) {
		}
		if b := s.Now(); !b.Equal(a) {
			t.Errorf("Now moved from %v to %v without a poll in between", a, b)
		}
		start := time.Now()
		if err := sched.Sleep(3 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if slept := time.Since(start); slept < 3*time.Millisecond {
			t.Errorf("Sleep(3ms) returned after %v", slept)
		}
		if d := sched.Now().Sub(a); d < 5*time.Millisecond {
			t.Errorf("after a 2 ms spin and a 3 ms Sleep, Now moved by %v", d)
		}
		if d := time.Since(sched.Now()); d < 0 || d > time.Second {
			t.Errorf("Now is %v away from the real clock", d)
		}
	})
}

// TestNowMovesForYield: a task alone on its scheduler that yields until
// Now passes a time gets there (Yield with nothing else to run reads the
// clock).
func TestNowMovesForYield(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		until := s.Now().Add(2 * time.Millisecond)
		for n := 0; s.Now().Before(until); n++ {
			if n > 1e8 {
				t.Fatal("Now did not move while the task yielded")
			}
			sched.Yield()
		}
	})
}

// TestNowOffThread: from another goroutine, Now of a sleeping (or not
// running) scheduler is the real clock, not the reading of its last poll.
func TestNowOffThread(t *testing.T) {
	s := sched.New(sched.WithKeepAlive())
	before := time.Now()
	if now := s.Now(); now.Before(before) {
		t.Errorf("before Run: Now %v is earlier than %v", now, before)
	}
	done := make(chan error)
	go func() { done <- s.Run() }()
	s.Do(func() {}) // running, and about to sleep in its poller
	// A scheduler that sleeps reads the clock for Now. One that has not
	// reached its sleep yet (its thread descheduled on a loaded machine,
	// as under qemu beside other work) still gives its last poll's
	// reading, so the check is tried again; a scheduler whose Now stayed
	// behind while it sleeps fails every try.
	var now time.Time
	for try := 0; try < 20; try++ {
		time.Sleep(5 * time.Millisecond)
		before = time.Now()
		if now = s.Now(); !now.Before(before) {
			break
		}
	}
	if now.Before(before) {
		t.Errorf("while the scheduler sleeps: Now %v is earlier than the real clock %v", now, before)
	}
	s.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
