package sched_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// panicOf calls f and returns what it panicked with, as a string, or ""
// if it returned.
func panicOf(f func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
		}
	}()
	f()
	return ""
}

// TestZeroScheduler checks that a Scheduler not made by New (a zero value,
// or a nil pointer) panics at once, with a message that names the call and
// the mistake, in every entry point that would otherwise fail deep inside
// or half work; and that its cheap accessors work.
func TestZeroScheduler(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd := int(r.Fd())
	calls := []struct {
		name string
		f    func(s *sched.Scheduler)
		nilS bool // also checked with a nil *Scheduler
	}{
		{"Scheduler.Run", func(s *sched.Scheduler) { s.Run() }, true},
		{"Scheduler.Go", func(s *sched.Scheduler) { s.Go(func() {}) }, true},
		{"Scheduler.Spawn", func(s *sched.Scheduler) { s.Spawn(func() {}) }, true},
		{"Scheduler.Go", func(s *sched.Scheduler) { s.GoContext(context.Background(), func(context.Context) {}) }, true},
		{"Scheduler.Spawn", func(s *sched.Scheduler) { s.SpawnContext(context.Background(), func(context.Context) {}) }, true},
		{"Scheduler.Do", func(s *sched.Scheduler) { s.Do(func() {}) }, true},
		{"Scheduler.Register", func(s *sched.Scheduler) { s.Register(fd) }, false},
		{"Scheduler.RegisterExclusive", func(s *sched.Scheduler) { s.RegisterExclusive(fd) }, false},
		{"Scheduler.Stats", func(s *sched.Scheduler) { s.Stats() }, false},
		{"Scheduler.Dump", func(s *sched.Scheduler) { s.Dump(io.Discard) }, false},
		{"Scheduler.NewTimer", func(s *sched.Scheduler) { s.NewTimer(time.Second) }, true},
		{"Scheduler.AfterFunc", func(s *sched.Scheduler) { s.AfterFunc(time.Second, func() {}) }, true},
		{"Scheduler.NewTicker", func(s *sched.Scheduler) { s.NewTicker(time.Second) }, true},
		{"Scheduler.Buffers", func(s *sched.Scheduler) { s.Buffers() }, true},
		{"NewInbox", func(s *sched.Scheduler) { sched.NewInbox[int](s, 1) }, true},
	}
	for _, c := range calls {
		got := panicOf(func() { c.f(new(sched.Scheduler)) })
		if want := "sched: " + c.name + ": Scheduler used without New"; got != want {
			t.Errorf("zero Scheduler, %s: panic %q, want %q", c.name, got, want)
		}
		if !c.nilS {
			continue
		}
		got = panicOf(func() { c.f(nil) })
		if want := "sched: " + c.name + " with nil Scheduler"; got != want {
			t.Errorf("nil Scheduler, %s: panic %q, want %q", c.name, got, want)
		}
	}

	// What a zero Scheduler can answer, it answers as one that has not run.
	var s sched.Scheduler
	if p := panicOf(func() {
		if got := s.Current(); got != nil {
			t.Errorf("Current: %v, want nil", got)
		}
		if s.OnThread() {
			t.Error("OnThread: true")
		}
		if g, i := s.Group(); g != nil || i != -1 {
			t.Errorf("Group: %v, %d; want nil, -1", g, i)
		}
		if d := time.Since(s.Now()); d < 0 || d > time.Minute {
			t.Errorf("Now: %v from the real clock", d)
		}
		s.Stop()
	}); p != "" {
		t.Errorf("accessor of a zero Scheduler panicked: %s", p)
	}
}

// TestZeroGroup checks that a Group not made by NewGroup says so when it
// is asked to start a task, and runs (nothing) without panicking.
func TestZeroGroup(t *testing.T) {
	var g sched.Group
	if got, want := panicOf(func() { g.Go(func() {}) }), "sched: Group.Go: Group used without NewGroup"; got != want {
		t.Errorf("Go: panic %q, want %q", got, want)
	}
	if got := panicOf(func() {
		if err := g.Run(); err != nil {
			t.Errorf("Run: %v", err)
		}
		g.Stop()
	}); got != "" {
		t.Errorf("Run, Stop: panic %q", got)
	}
	if n := g.Len(); n != 0 {
		t.Errorf("Len: %d", n)
	}
}
