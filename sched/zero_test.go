package sched_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

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
		got := panicValue(func() { c.f(new(sched.Scheduler)) })
		if want := "sched: " + c.name + ": Scheduler used without New"; got != want {
			t.Errorf("zero Scheduler, %s: panic %q, want %q", c.name, got, want)
		}
		if !c.nilS {
			continue
		}
		got = panicValue(func() { c.f(nil) })
		if want := "sched: " + c.name + " with nil Scheduler"; got != want {
			t.Errorf("nil Scheduler, %s: panic %q, want %q", c.name, got, want)
		}
	}

	// What a zero Scheduler can answer, it answers as one that has not run.
	var s sched.Scheduler
	if p := panicValue(func() {
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
	if got, want := panicValue(func() { g.Go(func() {}) }), "sched: Group.Go: Group used without NewGroup"; got != want {
		t.Errorf("Go: panic %q, want %q", got, want)
	}
	if got := panicValue(func() {
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

// TestZeroFD checks that an FD not made by Register (a zero value, or a
// nil pointer) fails its Read, Write, Close and deadline setters with an
// error matching os.ErrInvalid, as a nil *os.File does, and that the
// calls only a task may make panic with a message naming the mistake,
// instead of dereferencing its nil scheduler.
func TestZeroFD(t *testing.T) {
	for _, f := range []*sched.FD{new(sched.FD), nil} {
		name := "zero"
		if f == nil {
			name = "nil"
		}
		buf := make([]byte, 1)
		errs := map[string]func() error{
			"Read":             func() error { _, err := f.Read(buf); return err },
			"Write":            func() error { _, err := f.Write(buf); return err },
			"Close":            f.Close,
			"SetDeadline":      func() error { return f.SetDeadline(time.Now()) },
			"SetReadDeadline":  func() error { return f.SetReadDeadline(time.Time{}) },
			"SetWriteDeadline": func() error { return f.SetWriteDeadline(time.Now()) },
		}
		for call, fn := range errs {
			var err error
			if p := panicValue(func() { err = fn() }); p != "" {
				t.Errorf("%s FD, %s: panic %s", name, call, p)
				continue
			}
			if !errors.Is(err, os.ErrInvalid) || !strings.Contains(fmt.Sprint(err), "not made by Register") {
				t.Errorf("%s FD, %s: %v, want an error matching os.ErrInvalid that says the FD was not made by Register", name, call, err)
			}
		}
		panics := map[string]func(){
			"WaitRead":     func() { f.WaitRead() },
			"WaitWrite":    func() { f.WaitWrite() },
			"SetReadHook":  func() { f.SetReadHook(func(error) {}) },
			"SetWriteHook": func() { f.SetWriteHook(nil) },
		}
		for call, fn := range panics {
			if got, want := panicValue(fn), "sched: FD."+call+": FD not made by Register"; got != want {
				t.Errorf("%s FD, %s: panic %q, want %q", name, call, got, want)
			}
		}
	}
}
