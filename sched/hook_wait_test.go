//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// Hooks run by the poll that the scheduler makes before it sleeps may
// change what it sleeps for: end the last work, or set a timer earlier
// than the one it was about to sleep until. Run must see both (it slept
// forever, and past the new timer).
func TestHookChangesWhatTheSchedulerWaitsFor(t *testing.T) {
	t.Run("ends the last work", func(t *testing.T) {
		checkLeaks(t)
		p := pipe(t)
		defer unix.Close(p[1])
		s := sched.New()
		f, err := s.Register(p[0])
		if err != nil {
			t.Fatal(err)
		}
		s.Go(func() { f.SetReadHook(func(error) { f.Close() }) })
		unix.Write(p[1], []byte("x"))
		runWithin(t, s, 5*time.Second)
	})
	t.Run("sets an earlier timer", func(t *testing.T) {
		checkLeaks(t)
		p := pipe(t)
		defer unix.Close(p[1])
		s := sched.New()
		f, err := s.Register(p[0])
		if err != nil {
			t.Fatal(err)
		}
		sleeper := s.Go(func() { sched.Sleep(time.Hour) })
		s.Go(func() {
			f.SetReadHook(func(error) {
				// On the host loop: take the byte, then wait 20 ms
				// for more, with a hook.
				unix.Read(p[0], make([]byte, 1))
				f.ClearReadable()
				f.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				f.SetReadHook(func(error) {
					f.Close()
					sleeper.Interrupt()
				})
			})
			// The hook runs when the scheduler, with nothing left to run
			// but the sleeper, polls before it sleeps.
			unix.Write(p[1], []byte("x"))
		})
		runWithin(t, s, 5*time.Second)
	})
}

// runWithin runs s and fails the test if Run does not return within d.
func runWithin(t *testing.T, s *sched.Scheduler, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(d):
		s.Dump(os.Stderr)
		t.Fatalf("Run did not return within %v", d)
	}
}
