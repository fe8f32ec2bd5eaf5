//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPollSeen: what a wait says it has seen, and how the timers' clock
// follows it (polled). A timed wait in which nothing came has seen
// everything up to its return; a wait that finds events, everything up to
// its start; a full batch, only part, and the timers' clock waits for as
// many full polls in a row as it takes to report every entry the kernel
// can hold pending, then moves to the reading before the first of them.
func TestPollSeen(t *testing.T) {
	s := New()
	if err := s.initPoller(); err != nil {
		t.Fatal(err)
	}
	defer s.poller.close()
	p := &s.poller
	// A signal (the runtime's preemption) can interrupt the wait, which
	// then rightly says less: seenAtStart.
	saw, err := seenAtStart, error(nil)
	for try := 0; try < 5 && err == nil && saw != seenAtEnd; try++ {
		saw, err = p.wait(s, int64(20*time.Millisecond))
	}
	if err != nil || saw != seenAtEnd {
		t.Errorf("timed wait with nothing coming: %d, %v; want seenAtEnd (%d)", saw, err, seenAtEnd)
	}
	if saw, err := p.wait(s, 0); err != nil || saw != seenAtStart {
		t.Errorf("non-blocking wait with nothing there: %d, %v; want seenAtStart (%d)", saw, err, seenAtStart)
	}
	const n = eventBatch + 2
	for range n {
		var fds [2]int
		if err := unix.Pipe(fds[:]); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fds[0])
		defer unix.Close(fds[1])
		unix.SetNonblock(fds[0], true)
		if _, err := unix.Write(fds[1], []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.register(fds[0], false); err != nil {
			t.Fatal(err)
		}
	}
	if saw, err := p.wait(s, 0); err != nil || saw != seenPartly {
		t.Errorf("wait with %d descriptors readable: %d, %v; want seenPartly (%d)", n, saw, err, seenPartly)
	}
	if saw, err := p.wait(s, 0); err != nil || saw != seenAtStart {
		t.Errorf("wait for the rest: %d, %v; want seenAtStart (%d)", saw, err, seenAtStart)
	}

	// The timers' clock over full polls in a row, each begun with the
	// reading 100 ns after the one before.
	need := ((s.nFDs+1)*eventsPerFD + eventBatch - 1) / eventBatch
	s.polledAt = 50
	for i := 1; i < need; i++ {
		s.polled(int64(100*i), seenPartly)
		if s.polledAt != 50 {
			t.Fatalf("after %d full polls of %d needed: timers' clock %d, want 50 (unchanged)", i, need, s.polledAt)
		}
	}
	s.polled(int64(100*need), seenPartly)
	if s.polledAt != 100 {
		t.Errorf("after %d full polls: timers' clock %d, want 100 (the reading before the first)", need, s.polledAt)
	}
	// The poll that moved it begins the next run: need-1 more.
	for i := need + 1; i < 2*need-1; i++ {
		s.polled(int64(100*i), seenPartly)
		if s.polledAt != 100 {
			t.Fatalf("after %d more full polls: timers' clock %d, want 100", i-need, s.polledAt)
		}
	}
	s.polled(int64(100*(2*need-1)), seenPartly)
	if want := int64(100 * need); s.polledAt != want {
		t.Errorf("after %d more full polls: timers' clock %d, want %d (the reading before the one that moved it)", need-1, s.polledAt, want)
	}
	s.polled(1_000_000, seenAtStart)
	if s.polledAt != 1_000_000 || s.fullPolls != 0 {
		t.Errorf("after a poll that saw all: timers' clock %d (%d full polls in a row), want 1000000 (0)", s.polledAt, s.fullPolls)
	}
}
