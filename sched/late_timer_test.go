//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// TestLateTimer: a read deadline D whose input came before D does not fire
// when a task held the thread past D and then read the clock. The
// scheduler must look at its descriptors at or after D before it fires
// the timer, and the input that poll reports wins over the deadline.
//
// A task parks in WaitRead on a pipe with a deadline 200 ms away (or arms
// a read hook with it); a second task writes to the pipe at once, holds
// the thread computing (a spin on the clock, not a sleep) until 50 ms past
// the deadline, then reads the scheduler's clock: a Sleep (which measures
// its duration from a fresh reading) or a Yield with nothing else to run
// (which reads the clock so that a task polling Now sees it move). With
// an idle read hook armed on another pipe ("host"), the parking task does
// not poll itself: the host loop takes over with the clock the task read.
// In "many", 300 tasks wait on 300 pipes: more than one poll's batch
// (128) is readable at once, and the deadlines must wait for the polls
// that report them all. Every reader must get its byte, not
// os.ErrDeadlineExceeded. The order is what is asserted (the writes came
// before the deadline, by the clock); if the machine stalled the writer
// past the deadline, the run says so and proves nothing.
func TestLateTimer(t *testing.T) {
	checkLeaks(t)
	for _, reader := range []string{"wait", "wait-host", "hook", "many"} {
		for _, refresh := range []string{"sleep", "yield"} {
			t.Run(reader+"-"+refresh, func(t *testing.T) {
				lateTimer(t, reader, refresh)
			})
		}
	}
}

func lateTimer(t *testing.T, reader, refresh string) {
	const ahead, past = 200 * time.Millisecond, 50 * time.Millisecond
	n := 1
	if reader == "many" {
		n = 300
	}
	s := sched.New()
	pipes := make([][2]int, n)
	fds := make([]*sched.FD, n)
	for i := range pipes {
		pipes[i] = pipe(t)
		defer unix.Close(pipes[i][1])
		f, err := s.Register(pipes[i][0])
		if err != nil {
			t.Fatal(err)
		}
		fds[i] = f
	}
	var idle *sched.FD
	if reader == "wait-host" {
		q := pipe(t)
		defer unix.Close(q[1])
		var err error
		if idle, err = s.Register(q[0]); err != nil {
			t.Fatal(err)
		}
	}
	var (
		deadline time.Time
		wrote    time.Time // when the last write returned
		got      = make([]string, n)
		errs     = make([]error, n)
		left     = n
	)
	read := func(i int, err error) {
		errs[i] = err
		if err == nil {
			var b [8]byte
			if k, rerr := unix.Read(pipes[i][0], b[:]); k > 0 {
				got[i] = string(b[:k])
			} else {
				errs[i] = rerr
			}
		}
		left--
	}
	writer := func() { // writes, then holds the thread
		for _, p := range pipes {
			if _, err := unix.Write(p[1], []byte("x")); err != nil {
				t.Error(err)
			}
		}
		wrote = time.Now()
		for time.Now().Before(deadline.Add(past)) {
			// computing: the thread is held, the clock not read by the scheduler
		}
		switch refresh {
		case "sleep":
			sched.Sleep(time.Millisecond)
		case "yield":
			sched.Yield()
		}
		// Wait for the readers' verdicts; then nothing is left to wake.
		for left > 0 {
			sched.Sleep(time.Millisecond)
		}
		if idle != nil {
			idle.SetReadHook(nil)
			idle.Close()
		}
		for _, f := range fds {
			f.Close()
		}
	}
	s.Go(func() { // the readers, then the writer: every reader waits before the writes
		if idle != nil {
			idle.SetReadHook(func(error) {})
		}
		deadline = time.Now().Add(ahead)
		for i, f := range fds {
			f.SetReadDeadline(deadline)
			switch {
			case reader == "hook":
				f.SetReadHook(func(err error) { read(i, err) })
			case i < n-1:
				s.Go(func() { read(i, f.WaitRead()) })
			default:
				s.Go(writer) // after the other readers, which park first
				read(i, f.WaitRead())
			}
		}
		if reader == "hook" {
			s.Go(writer)
		}
	})
	mustRun(t, s)
	if !wrote.Before(deadline) {
		t.Skipf("the writes returned %v after the deadline: the machine stalled, the order is not known", wrote.Sub(deadline))
	}
	late := 0
	for i := range n {
		if errs[i] != nil || got[i] != "x" {
			if late++; late <= 3 {
				t.Errorf("reader %d of %d: got %q, %v; want the byte written %v before its deadline", i, n, got[i], errs[i], deadline.Sub(wrote))
			}
		}
	}
	if late > 0 {
		t.Errorf("%d of %d readers did not get the byte written before their deadline", late, n)
	}
}
