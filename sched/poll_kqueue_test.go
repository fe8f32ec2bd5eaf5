//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package sched

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func mustKqueuePoller(t *testing.T) *poller {
	t.Helper()
	p := new(poller)
	if err := p.init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// waitReturns reports whether a wait without limit returns within d.
func waitReturns(p *poller, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		p.wait(&Scheduler{}, -1)
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		p.wake() // release the goroutine
		<-done
		return false
	}
}

func TestKqueueWake(t *testing.T) {
	p := mustKqueuePoller(t)
	for i := range 1000 {
		p.wake()
		p.wake() // coalesced with the first
		if !waitReturns(p, 5*time.Second) {
			t.Fatalf("round %d: wait did not return after wake", i)
		}
		if p.woken.Load() {
			t.Fatalf("round %d: wake flag still set after the wake-up was consumed", i)
		}
	}
	// A wake-up consumed by a non-blocking poll leaves nothing behind.
	p.wake()
	if _, err := p.wait(&Scheduler{}, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	saw, err := p.wait(&Scheduler{}, int64(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if saw != seenAtEnd {
		t.Errorf("a timed wait in which nothing came says it saw %d, want seenAtEnd (%d)", saw, seenAtEnd)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("timed wait returned after %v, want about 50ms", d)
	}
}

func TestKqueueAddDel(t *testing.T) {
	p := mustKqueuePoller(t)
	var fds [2]int
	if err := unix.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	if err := p.add(fds[0], 7); err != nil {
		t.Fatalf("add: %v", err)
	}
	if got := p.seqs[fds[0]]; got != 7 {
		t.Errorf("seqs[%d] = %d, want 7", fds[0], got)
	}
	if err := p.del(fds[0]); err != nil {
		t.Errorf("del: %v", err)
	}
	if err := p.del(fds[0]); err != nil {
		t.Errorf("second del: %v, want nil (ENOENT ignored)", err)
	}
	if err := p.add(-1, 1); !errors.Is(err, unix.EBADF) {
		t.Errorf("add(-1): %v, want EBADF", err)
	}
}
