//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/syncbuf"
	"github.com/coopgo/coop/sched"
)

// TestWatchdog: a task that spins is reported, by name, with its stack.
// It spins until the report is out (at most 5 s): a fixed 150 ms spin
// ended before a late watchdog goroutine took the stack on a loaded
// machine ("(stack unavailable)").
func TestWatchdog(t *testing.T) {
	checkLeaks(t)
	var out syncbuf.Buffer
	runTasks(t, func(s *sched.Scheduler) {
		spinUntilReported(&out, 5*time.Second)
	}, sched.WithWatchdog(20*time.Millisecond, &out), sched.WithName("wd"))
	got := out.String()
	for _, want := range []string{"sched: watchdog: wd: task 1", "held the thread", "spinUntilReported"} {
		if !strings.Contains(got, want) {
			t.Errorf("watchdog report lacks %q:\n%s", want, got)
		}
	}
}

// TestWatchdogQuietWhileParked: a task parked in Offload or Sleep, or one
// that has ended, does not hold the thread, however long the scheduler
// then sits idle in its poller. Each park below is 3 thresholds long, so a
// watchdog that kept counting a parked task would report every one. The
// threshold is 100 ms, above the OS's delays on a loaded machine: at 10 ms
// an empty task was reported for 85 ms once, its thread unrun by the OS
// (the watchdog's clock is the wall clock, as WithWatchdog says).
func TestWatchdogQuietWhileParked(t *testing.T) {
	checkLeaks(t)
	const threshold = 100 * time.Millisecond
	var out syncbuf.Buffer
	runTasks(t, func(s *sched.Scheduler) {
		for range 2 {
			sched.Offload(func() { time.Sleep(3 * threshold) })
			sched.Sleep(3 * threshold)
			// A short task that ends while this one sleeps: the
			// scheduler goes idle from the end of a task.
			s.Go(func() {}).Wait()
			sched.Sleep(3 * threshold)
		}
	}, sched.WithWatchdog(threshold, &out), sched.WithName("quiet"))
	if got := out.String(); got != "" {
		t.Errorf("the watchdog reported tasks that were parked or ended:\n%s", got)
	}
}

// TestWatchdogReportsAfterIdle: a task that holds the thread is still
// reported when it starts right after the scheduler was idle, and the
// report names that task, not the one that ran before it.
func TestWatchdogReportsAfterIdle(t *testing.T) {
	// spin holds the thread until the watchdog reports, or 5 s pass: a
	// busy machine may run the watchdog's goroutine late.
	cases := []struct {
		name string
		body func(s *sched.Scheduler, spin func(), out *syncbuf.Buffer)
	}{
		{"after sleep", func(s *sched.Scheduler, spin func(), _ *syncbuf.Buffer) {
			s.Go(func() {}).Wait() // task 2: ends, the scheduler goes idle
			sched.Sleep(30 * time.Millisecond)
			s.Go(spin).Wait() // task 3
		}},
		{"after offload", func(s *sched.Scheduler, spin func(), _ *syncbuf.Buffer) {
			s.Go(func() {}).Wait() // task 2
			sched.Offload(func() { time.Sleep(30 * time.Millisecond) })
			s.Go(spin).Wait() // task 3
		}},
		{"on the worker of the task before", func(s *sched.Scheduler, spin func(), out *syncbuf.Buffer) {
			// Task 2 ends and task 3 starts on the goroutine task 2
			// leaves, with no coroutine switch in between.
			s.Go(func() {
				s.Go(spin) // task 3
			}).Wait()
			for start := time.Now(); !strings.Contains(out.String(), "sched: watchdog") && time.Since(start) < 5*time.Second; {
				sched.Sleep(10 * time.Millisecond)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			var out syncbuf.Buffer
			spin := func() { spinUntilReported(&out, 5*time.Second) }
			runTasks(t, func(s *sched.Scheduler) { tc.body(s, spin, &out) },
				sched.WithWatchdog(20*time.Millisecond, &out), sched.WithName("wd"))
			got := out.String()
			for _, want := range []string{"sched: watchdog: wd: task 3 ", "held the thread", "spinUntilReported"} {
				if !strings.Contains(got, want) {
					t.Errorf("watchdog report lacks %q:\n%s", want, got)
				}
			}
			if n := strings.Count(got, "sched: watchdog:"); n != 1 {
				t.Errorf("%d reports, want 1:\n%s", n, got)
			}
		})
	}
}

// spinUntilReported holds the thread until out holds a watchdog report,
// or max passes.
//
//go:noinline
func spinUntilReported(out *syncbuf.Buffer, max time.Duration) {
	for start := time.Now(); time.Since(start) < max; {
		if strings.Contains(out.String(), "sched: watchdog") {
			return
		}
	}
}
