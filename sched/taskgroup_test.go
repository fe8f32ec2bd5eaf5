package sched_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// TestTaskGroupFirstErrorCancels: the first failure is what Wait returns,
// and it interrupts the other tasks, whose calls see it as their
// context's cause; the scheduler waits for the interrupts, with no
// deadlock report.
func TestTaskGroupFirstErrorCancels(t *testing.T) {
	checkLeaks(t)
	boom := errors.New("boom")
	var waitErr error
	var others []error
	s := sched.New()
	s.Go(func() {
		g, ctx := sched.NewTaskGroup(context.Background())
		for range 3 {
			g.Go(func(ctx context.Context) error {
				var c sched.Chan[int] // nobody sends
				_, err := c.Recv()
				others = append(others, err)
				return err
			})
		}
		g.Go(func(ctx context.Context) error {
			sched.Sleep(time.Millisecond)
			return boom
		})
		waitErr = g.Wait()
		if ctx.Err() == nil {
			t.Error("the group's context still alive after Wait")
		}
	})
	if err := runBounded(t, s, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if waitErr != boom {
		t.Errorf("Wait: %v, want %v", waitErr, boom)
	}
	if len(others) != 3 {
		t.Fatalf("%d tasks ended, want 3", len(others))
	}
	for _, err := range others {
		if !errors.Is(err, boom) || !errors.Is(err, context.Canceled) || !errors.Is(err, sched.ErrInterrupted) {
			t.Errorf("interrupted task got %v, want the group's cause", err)
		}
	}
}

// TestTaskGroupAllSucceed: no error, every task runs to its end, and the
// context ends only when Wait returns.
func TestTaskGroupAllSucceed(t *testing.T) {
	s := sched.New()
	sum := 0
	s.Go(func() {
		g, ctx := sched.NewTaskGroup(context.Background())
		for i := range 5 {
			g.Go(func(context.Context) error {
				sched.Sleep(time.Duration(i) * time.Millisecond)
				sum += i
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Errorf("Wait: %v", err)
		}
		if !errors.Is(context.Cause(ctx), context.Canceled) {
			t.Errorf("context after Wait: %v", context.Cause(ctx))
		}
	})
	mustRun(t, s)
	if sum != 10 {
		t.Errorf("sum %d, want 10", sum)
	}
}

// TestTaskGroupZeroValue: a zero TaskGroup is ready to use, as
// errgroup.Group's is: it binds to the scheduler of the task that first
// calls Go, the first failure interrupts the others, and Wait returns it;
// a zero group's Wait with no task returns nil at once.
func TestTaskGroupZeroValue(t *testing.T) {
	boom := errors.New("boom")
	var waitErr, emptyErr, other error
	s := sched.New()
	s.Go(func() {
		var empty sched.TaskGroup
		emptyErr = empty.Wait()

		var g sched.TaskGroup
		g.Go(func(ctx context.Context) error {
			other = sched.Sleep(time.Hour)
			return other
		})
		g.Go(func(context.Context) error {
			sched.Sleep(time.Millisecond)
			return boom
		})
		waitErr = g.Wait()
	})
	if err := runBounded(t, s, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if emptyErr != nil {
		t.Errorf("Wait of an empty zero group: %v, want nil", emptyErr)
	}
	if waitErr != boom {
		t.Errorf("Wait: %v, want %v", waitErr, boom)
	}
	if !errors.Is(other, boom) || !errors.Is(other, sched.ErrInterrupted) {
		t.Errorf("the other task's Sleep: %v, want an interrupt with the group's cause", other)
	}
}

// A job split in tasks: the first failure cancels the rest.
func ExampleTaskGroup() {
	s := sched.New()
	s.Go(func() {
		g, _ := sched.NewTaskGroup(context.Background())
		g.Go(func(ctx context.Context) error {
			err := sched.Sleep(time.Hour) // a slow fetch
			fmt.Println("slow fetch:", context.Cause(ctx), errors.Is(err, sched.ErrInterrupted))
			return err
		})
		g.Go(func(ctx context.Context) error {
			sched.Sleep(time.Millisecond)
			return errors.New("bad input")
		})
		fmt.Println("Wait:", g.Wait())
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// slow fetch: bad input true
	// Wait: bad input
}
