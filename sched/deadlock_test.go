package sched_test

import (
	"errors"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// What the deadlock detector cannot see, as the package doc says: a
// goroutine that holds the scheduler and would call Go later. A task
// waiting on a Chan for such a task is reported; its Go, after Run
// returned, gets a task that never runs.
func TestDeadlockCannotSeeLaterGo(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	var c sched.Chan[int]
	s.Go(func() { c.Recv() })
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	err := <-ran
	if !errors.Is(err, sched.ErrDeadlock) {
		t.Fatalf("Run: %v, want ErrDeadlock", err)
	}
	late := s.Go(func() { c.TrySend(1) })
	if err := late.Wait(); !errors.Is(err, sched.ErrStopped) {
		t.Errorf("the late task's Wait: %v, want ErrStopped", err)
	}
}

// The ways the package doc gives to make such a wake-up visible: the
// task waits on an Inbox the goroutine sends on, or the scheduler keeps
// alive (and the goroutine's work stops it).
func TestDeadlockVisibleWakeups(t *testing.T) {
	t.Run("Inbox", func(t *testing.T) {
		checkLeaks(t)
		s := sched.New()
		in := sched.NewInbox[int](s, 1)
		got := 0
		s.Go(func() { got, _ = in.Recv() })
		go func() {
			time.Sleep(20 * time.Millisecond)
			in.Send(7)
		}()
		mustRun(t, s)
		if got != 7 {
			t.Errorf("received %d, want 7", got)
		}
	})
	t.Run("WithKeepAlive", func(t *testing.T) {
		checkLeaks(t)
		s := sched.New(sched.WithKeepAlive())
		var c sched.Chan[int]
		got := 0
		s.Go(func() { got, _ = c.Recv() })
		go func() {
			time.Sleep(20 * time.Millisecond)
			s.Go(func() {
				c.Send(7)
				s.Stop()
			})
		}()
		mustRun(t, s)
		if got != 7 {
			t.Errorf("received %d, want 7", got)
		}
	})
}
