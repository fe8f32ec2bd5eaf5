//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched

import "testing"

// TestOneWriteUntilTheSleepEnds replays, step by step on the scheduler
// thread, the sleep in which TestOneWakeupPerBurst saw two wake-ups
// written beside busy loops: a sender wakes the sleep, the poller drains
// the wake-up, and another sender posts before the sleep is over (its
// load of sleeping was in flight across the drain, or came just after
// it). The scheduler is awake by then and will look at its inbox: the
// second sender must write nothing. Then a new sleep is woken again.
func TestOneWriteUntilTheSleepEnds(t *testing.T) {
	s := New(WithKeepAlive())
	errc := make(chan error, 1)
	go func() { errc <- s.Run() }()
	post := func() { // from another goroutine, as a sender does
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Go(func() {})
		}()
		<-done // blocks the thread: it stays where the step left it
	}
	var got [3]uint64
	// The task waits for the Go that started it to return: the wake-up
	// that Go may have written is counted by then, before w0.
	start, finished := make(chan struct{}), make(chan struct{})
	s.Go(func() {
		defer close(finished)
		<-start
		w0 := s.wakeups.Load()
		s.sleeping.Swap(sleepAsleep) // as wait does before its poll
		post()
		got[0] = s.wakeups.Load() - w0
		if _, err := s.poller.wait(s, 0); err != nil { // drains the wake-up
			t.Error(err)
		}
		post() // the sleep is not over yet (wait clears sleeping after its poll)
		got[1] = s.wakeups.Load() - w0
		s.sleeping.Store(sleepAwake)

		s.sleeping.Swap(sleepAsleep) // the next sleep
		post()
		got[2] = s.wakeups.Load() - w0
		if _, err := s.poller.wait(s, 0); err != nil {
			t.Error(err)
		}
		s.sleeping.Store(sleepAwake)
	})
	close(start)
	<-finished
	s.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if want := [3]uint64{1, 1, 2}; got != want {
		t.Errorf("wake-ups written after the first sleep's first post, its drain and second post, and the next sleep's post: %v, want %v", got, want)
	}
}
