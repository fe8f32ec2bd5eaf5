//go:build linux

package sched

import (
	"testing"
	"time"
)

// TestRawSleepOnlyWhenNoGoroutineWaits: the poller sleeps out of the
// runtime's sight (holding the thread's P) only while none of this
// scheduler's goroutines may wait for a P: no Offload in flight, no
// cross-thread work recently (an open spin window).
func TestRawSleepOnlyWhenNoGoroutineWaits(t *testing.T) {
	s := New()
	if got := s.rawSleep(); got != int64(rawSleepMax) {
		t.Errorf("idle scheduler: rawSleep() = %v, want %v", time.Duration(got), rawSleepMax)
	}
	s.offload.n = 1
	if got := s.rawSleep(); got != 0 {
		t.Errorf("with an Offload in flight: rawSleep() = %v, want 0", time.Duration(got))
	}
	s.offload.n = 0
	s.spin.open()
	if got := s.rawSleep(); got != 0 {
		t.Errorf("with the spin window open: rawSleep() = %v, want 0", time.Duration(got))
	}
}

// TestSleepPastTheRawPart: a timer due after rawSleepMax is waited for
// in two parts (raw, then the runtime's syscall path); the second part
// waits for the rest, so the task wakes no earlier than asked and the
// scheduler does not poll over and over meanwhile.
func TestSleepPastTheRawPart(t *testing.T) {
	s := New(WithKeepAlive())
	d := rawSleepMax + 5*time.Millisecond
	var slept time.Duration
	var polls uint64
	done := make(chan struct{})
	s.Go(func() {
		start := time.Now()
		if err := Sleep(d); err != nil {
			t.Error(err)
		}
		slept, polls = time.Since(start), s.stats.polls
		close(done)
	})
	errc := make(chan error, 1)
	go func() { errc <- s.Run() }()
	<-done
	if slept < d {
		t.Errorf("Sleep(%v) returned after %v", d, slept)
	}
	if polls > 20 {
		t.Errorf("%d polls during one Sleep(%v): the sleep past the raw part woke early", polls, d)
	}
	s.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestWakeInEitherPart: a wake-up from another goroutine reaches a
// scheduler asleep in the raw part of its sleep and in the part past it.
// (A Do opens the spin window, which keeps the next sleeps out of the raw
// path: each case has a fresh scheduler.)
func TestWakeInEitherPart(t *testing.T) {
	for _, after := range []time.Duration{time.Millisecond, rawSleepMax + 2*time.Millisecond} {
		s := New(WithKeepAlive())
		errc := make(chan error, 1)
		go func() { errc <- s.Run() }()
		time.Sleep(after)
		ran := false
		if err := s.Do(func() { ran = true }); err != nil || !ran {
			t.Errorf("Do after %v asleep: ran %v, %v", after, ran, err)
		}
		s.Stop()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
