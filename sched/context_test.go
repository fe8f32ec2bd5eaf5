package sched_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// runBounded runs s and fails the test if Run takes longer than limit:
// a deadlock must be reported, and a cancellation seen, in bounded time.
func runBounded(t *testing.T, s *sched.Scheduler, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		s.Stop()
		t.Fatalf("Run still running after %v", limit)
		return nil
	}
}

// TestContextCancelIsNotADeadlock is the issue's case: a task waits for
// something only the end of its context will interrupt, and another
// goroutine ends the context 30 ms later. The scheduler must wait for it,
// not report a deadlock, and the task's wait must fail with an error that
// matches ErrInterrupted, the context's error and its cause.
func TestContextCancelIsNotADeadlock(t *testing.T) {
	checkLeaks(t)
	cause := errors.New("the client went away")
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		time.Sleep(30 * time.Millisecond)
		cancel(cause)
	}()
	s := sched.New()
	var errs []error
	var after error
	s.GoContext(ctx, func(ctx context.Context) {
		if sched.Context() != ctx {
			t.Error("Context() in the task is not the bound context")
		}
		var c sched.Chan[int]
		_, err := c.Recv()
		errs = append(errs, err)
		// Sticky, as a context stays done: the next blocking call too.
		errs = append(errs, sched.Sleep(time.Hour))
	})
	s.GoContext(ctx, func(ctx context.Context) {
		// A nested binding, released: afterwards the task sleeps normally.
		release := sched.BindContext(ctx)
		var c sched.Chan[int]
		c.Recv()
		release()
		after = sched.Sleep(time.Millisecond)
	})
	if err := runBounded(t, s, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(errs) != 2 {
		t.Fatalf("got %d errors, want 2", len(errs))
	}
	for i, err := range errs {
		for _, want := range []error{sched.ErrInterrupted, context.Canceled, cause} {
			if !errors.Is(err, want) {
				t.Errorf("error %d: %v does not match %v", i, err, want)
			}
		}
		var ce *sched.ContextError
		if !errors.As(err, &ce) || ce.Cause != cause || ce.Err != context.Canceled {
			t.Errorf("error %d: %#v, want a *ContextError with the cause", i, err)
		}
	}
	// The outer binding of GoContext is still there after the inner one is
	// released: its own end was reported to the Recv, and stays.
	if !errors.Is(after, cause) {
		t.Errorf("Sleep after the inner release: %v, want the outer context's error", after)
	}
}

// TestContextDeadline: a context's deadline interrupts as its
// cancellation does, with context.DeadlineExceeded; released, the task's
// calls are plain again.
func TestContextDeadline(t *testing.T) {
	s := sched.New()
	var got, later error
	s.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		release := sched.BindContext(ctx)
		var c sched.Chan[int]
		_, got = c.Recv()
		release()
		later = sched.Sleep(time.Millisecond)
		if sched.Context() != context.Background() {
			t.Error("Context() after release is not context.Background()")
		}
	})
	if err := runBounded(t, s, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !errors.Is(got, context.DeadlineExceeded) || !errors.Is(got, sched.ErrInterrupted) {
		t.Errorf("Recv: %v, want context.DeadlineExceeded and ErrInterrupted", got)
	}
	if later != nil {
		t.Errorf("Sleep after release: %v, want nil", later)
	}
}

// TestContextAlreadyDone: binding an ended context interrupts the next
// blocking call at once.
func TestContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := sched.New()
	var got error
	s.SpawnContext(ctx, func(context.Context) { got = sched.Sleep(time.Hour) })
	if err := runBounded(t, s, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !errors.Is(got, context.Canceled) || !errors.Is(got, sched.ErrInterrupted) {
		t.Errorf("Sleep: %v, want context.Canceled and ErrInterrupted", got)
	}
}

// TestTrueDeadlockWithContexts: contexts must not hide a true deadlock.
// Each case has a task bound to a context that nothing interrupts: one
// that cannot end (Background), one in a wait its end would not
// interrupt (a Mutex), one released before it blocks for good. Run must
// report ErrDeadlock, and at once.
func TestTrueDeadlockWithContexts(t *testing.T) {
	live, cancel := context.WithCancel(context.Background())
	defer cancel() // never before Run returns
	cases := map[string]func(s *sched.Scheduler){
		"background": func(s *sched.Scheduler) {
			s.GoContext(context.Background(), func(context.Context) {
				var c sched.Chan[int]
				c.Recv()
			})
		},
		"mutex": func(s *sched.Scheduler) {
			var m sched.Mutex
			var c sched.Chan[int]
			s.Go(func() {
				m.Lock()
				c.Recv() // holds m for ever
			})
			s.GoContext(live, func(context.Context) {
				sched.Yield()
				m.Lock()
			})
		},
		"released": func(s *sched.Scheduler) {
			s.Go(func() {
				release := sched.BindContext(live)
				release()
				var c sched.Chan[int]
				c.Recv()
			})
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			s := sched.New()
			setup(s)
			start := time.Now()
			err := runBounded(t, s, 10*time.Second)
			if !errors.Is(err, sched.ErrDeadlock) {
				t.Fatalf("Run: %v, want ErrDeadlock", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the deadlock took %v to report", d)
			}
			if !strings.Contains(err.Error(), "chan receive") && !strings.Contains(err.Error(), "mutex") {
				t.Errorf("report does not say what the tasks wait for: %v", err)
			}
		})
	}
}

// TestContextErrorMessage: the error says it is an interruption and why.
func TestContextErrorMessage(t *testing.T) {
	e := &sched.ContextError{Err: context.Canceled, Cause: context.Canceled}
	if got, want := e.Error(), "sched: interrupted: context canceled"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, context.Canceled) || !errors.Is(e, sched.ErrInterrupted) || errors.Is(e, context.DeadlineExceeded) {
		t.Errorf("%v matches the wrong errors", e)
	}
}

func ExampleScheduler_GoContext() {
	s := sched.New()
	ctx, cancel := context.WithCancelCause(context.Background())
	s.GoContext(ctx, func(ctx context.Context) {
		var requests sched.Chan[string] // nobody sends: only ctx can end the wait
		_, err := requests.Recv()
		fmt.Println(errors.Is(err, sched.ErrInterrupted), errors.Is(err, context.Canceled))
		fmt.Println(context.Cause(ctx))
	})
	go func() {
		time.Sleep(10 * time.Millisecond)
		cancel(errors.New("shutting down"))
	}()
	if err := s.Run(); err != nil { // no deadlock: ctx can still end
		fmt.Println(err)
	}
	// Output:
	// true true
	// shutting down
}

// BindContext puts the calling task under a context for a while: here a
// timeout ends its Sleep, with an error that matches both the scheduler's
// ErrInterrupted and the context's error.
func ExampleBindContext() {
	s := sched.New()
	s.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		release := sched.BindContext(ctx)
		defer release()
		err := sched.Sleep(time.Hour)
		fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, sched.ErrInterrupted))
		var ce *sched.ContextError
		fmt.Println(errors.As(err, &ce), sched.Context() == ctx)
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// true true
	// true true
}
