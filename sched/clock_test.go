package sched_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// TestNowOffThread: from another goroutine, Now of a scheduler is the
// real clock, not a reading of the scheduler's: before it runs, while it
// sleeps in its poller, and while one of its tasks computes.
func TestNowOffThread(t *testing.T) {
	s := sched.New(sched.WithKeepAlive())
	check := func(when string) {
		t.Helper()
		before := time.Now()
		if now := s.Now(); now.Before(before) {
			t.Errorf("%s: Now %v is earlier than the real clock %v", when, now, before)
		}
	}
	check("before Run")
	done := make(chan error)
	go func() { done <- s.Run() }()
	s.Do(func() {}) // running, and about to sleep in its poller
	time.Sleep(5 * time.Millisecond)
	check("while the scheduler sleeps")
	busy, stop := make(chan struct{}), make(chan struct{})
	s.Go(func() {
		close(busy)
		for {
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	<-busy
	time.Sleep(5 * time.Millisecond) // the task's reading is 5 ms old
	check("while a task computes")
	close(stop)
	s.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestNowFreshAfterPoll: a task resumed by a poll that did not sleep sees
// a Now no older than that poll, although the scheduler reads the clock
// for itself only every few such polls.
func TestNowFreshAfterPoll(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	var before time.Time
	stale := 0
	rounds := pingPong(t, s, func() bool {
		// The other player polled and found the byte written after
		// before was taken, then this one polled and found its reply.
		if !before.IsZero() && sched.Now().Before(before) {
			stale++
		}
		before = time.Now()
		return stale > 0 || sched.ClockReads(s) > 1000
	})
	runWithin(t, s, 20*time.Second)
	if stale > 0 {
		t.Errorf("Now older than the poll that resumed the task in %d of %d rounds", stale, *rounds)
	}
	if polls, reads := s.Stats().Polls, sched.ClockReads(s); reads*2 > polls {
		t.Errorf("%d clock readings in %d polls: the scheduler read the clock after most polls", reads, polls)
	}
}

// TestNowFreshAfterSleep: a task woken by a descriptor event after its
// scheduler slept with no timer pending sees a Now no older than the
// event, and a deadline that passed during the sleep counts as past at
// once, although the scheduler did not read the clock when it woke. Each
// is checked after a sleep of its own, first thing after the wake-up, as
// either check reads the clock for what follows.
func TestNowFreshAfterSleep(t *testing.T) {
	checkLeaks(t)
	p, q := pipe(t), pipe(t)
	t.Cleanup(func() { unix.Close(p[1]); unix.Close(q[1]) }) // the read ends are the FDs'
	sent := make(chan time.Time, 1)
	runTasks(t, func(s *sched.Scheduler) {
		f, err := s.Register(p[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		g, err := s.Register(q[0])
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		var buf [1]byte
		// sleep parks the task until a byte written 20 ms from now: the
		// scheduler sleeps with no timer pending. It returns the time
		// just before the write.
		sleep := func() time.Time {
			go func() {
				time.Sleep(20 * time.Millisecond)
				sent <- time.Now()
				unix.Write(p[1], []byte{1})
			}()
			if err := f.WaitRead(); err != nil {
				t.Fatal(err)
			}
			unix.Read(p[0], buf[:])
			f.ClearReadable()
			return <-sent // already there: the byte was written after it
		}
		before := sleep()
		if err := g.SetReadDeadline(before.Add(-time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if err := g.CheckRead(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a read deadline passed during the sleep: CheckRead = %v, want %v", err, os.ErrDeadlineExceeded)
		}
		before = sleep()
		if now := sched.Now(); now.Before(before) {
			t.Errorf("Now %v is older than the event that woke the task (%v)", now, before)
		}
	})
}
