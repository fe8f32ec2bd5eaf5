package netio_test

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// TestFileListenerExclusive shares one listening socket between the two
// schedulers of a group, each registered with Exclusive (EPOLLEXCLUSIVE
// on Linux), as a process pool's shared-socket mode does across
// processes: every connection is accepted exactly once, by one of them.
func TestFileListenerExclusive(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	f, err := nl.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	g := sched.NewGroup(2)
	lc := netio.ListenConfig{Exclusive: true}
	var ls []*netio.Listener
	for i := range g.Len() {
		l, err := lc.FileListener(g.Scheduler(i), f)
		if err != nil {
			t.Fatalf("FileListener with Exclusive: %v", err)
		}
		ls = append(ls, l)
	}
	const n = 200
	var accepted [2]atomic.Int64
	var total atomic.Int64
	for i, l := range ls {
		g.Scheduler(i).Go(func() {
			for {
				c, err := l.AcceptConn()
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("accept: %v", err)
					}
					return
				}
				accepted[i].Add(1)
				c.Close()
				if total.Add(1) == n {
					// Each listener is closed by its own scheduler.
					for j, l := range ls {
						g.Scheduler(j).Go(func() { l.Close() })
					}
				}
			}
		})
	}
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	for range n {
		c, err := net.DialTimeout("tcp", nl.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		g.Stop()
		t.Fatalf("accepted %d and %d of %d connections within 10s", accepted[0].Load(), accepted[1].Load(), n)
	}
	if got := accepted[0].Load() + accepted[1].Load(); got != n {
		t.Errorf("accepted %d connections, want %d", got, n)
	}
	t.Logf("scheduler 0 accepted %d, scheduler 1 %d", accepted[0].Load(), accepted[1].Load())
}

// TestListenerCloseDuringWakeUp closes a listener from another goroutine
// while connections arrive: the close can land after an edge woke the
// accepting task and before the task runs. Accept must then report
// net.ErrClosed, never accept(2)'s EBADF on a descriptor that is gone (or,
// worse, reused).
func TestListenerCloseDuringWakeUp(t *testing.T) {
	for range 300 {
		s := sched.New()
		l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var acceptErr error
		s.Go(func() {
			for {
				c, err := l.AcceptConn()
				if err != nil {
					acceptErr = err
					return
				}
				c.Close()
			}
		})
		done := make(chan error, 1)
		go func() { done <- s.Run() }()
		for range 3 {
			if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
				c.Close()
			}
		}
		l.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !errors.Is(acceptErr, net.ErrClosed) {
			t.Fatalf("accept after Close: %v, want an error matching net.ErrClosed", acceptErr)
		}
	}
}
