package sched_test

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// checkLeaks fails the test if it leaves goroutines or descriptors behind.
// Worker goroutines exit synchronously when Run returns; offload
// goroutines exit on their own just after, so the check waits briefly.
func checkLeaks(t testing.TB) {
	t.Helper()
	// The runtime makes its own poller (an epoll and an eventfd) with
	// the first timer: go test's -test.timeout timer has, but a test
	// binary run directly may make it inside a test, which is no leak.
	time.AfterFunc(time.Hour, func() {}).Stop()
	g0, fd0, names0 := runtime.NumGoroutine(), openFDs(t), fdNames()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			g, fd := runtime.NumGoroutine(), openFDs(t)
			if g <= g0 && fd <= fd0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("leak: goroutines %d → %d, descriptors %d → %d %v\n%s", g0, g, fd0, fd, newFDs(names0), buf)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// openFDs counts this process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0 // not Linux: descriptors are not checked
	}
	return len(ents)
}

// mustRun runs s and fails the test if Run returns an error.
func mustRun(t testing.TB, s *sched.Scheduler) {
	t.Helper()
	if err := s.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// runTasks runs fn as the only task of a new scheduler made with opts,
// and fails the test if Run returns an error.
func runTasks(t testing.TB, fn func(s *sched.Scheduler), opts ...sched.Option) {
	t.Helper()
	s := sched.New(opts...)
	s.Go(func() { fn(s) })
	mustRun(t, s)
}

// epoch is the start of virtual time in tests.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// virtual is the option for a deterministic scheduler clock.
func virtual() sched.Option { return sched.WithVirtualTime(epoch) }

// newFDs lists the descriptors open now that were not in before.
func newFDs(before []string) []string {
	old := map[string]bool{}
	for _, n := range before {
		old[n] = true
	}
	var added []string
	for _, n := range fdNames() {
		if !old[n] {
			added = append(added, n)
		}
	}
	return added
}

// fdNames lists this process's open descriptors and what they are.
func fdNames() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var names []string
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory being read, closed by now
		}
		names = append(names, e.Name()+"="+l)
	}
	return names
}
