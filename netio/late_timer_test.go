//go:build linux

package netio_test

import (
	"io"
	"testing"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// TestServerLateIdleTimer: when the scheduler's thread is held past a
// connection's idle time (here by a Ready call or a handler that sleeps
// 800 ms, as long computation would) and the client's request came in
// time, the request is served: the scheduler judges its timers by the
// clock of its last poll, so the poll that follows the stall readies the
// connection before the timer it makes overdue can end it. A server that
// took its own stall for the client's silence would close it (with
// runTimers reading a fresh clock instead, the task-mode case fails:
// "connection reset by peer"). examples/port's idle timeouts had this
// fault in their own code (18a039b).
//
// In the clock-read cases the call that holds the thread then sleeps on
// the scheduler, which reads the clock: the host loop then finds the idle
// deadline past by that reading before it has polled. The scheduler
// judges its timers by the clock of its last poll that saw all input
// (sched's TestLateTimer), so it polls first and b's request wins; with
// the timers judged by the fresh reading (and no peek in netio, which
// papered over it until then), b is reset in both modes.
func TestServerLateIdleTimer(t *testing.T) {
	const idle = 300 * time.Millisecond
	serve := func(c *netio.Conn) error {
		var req [1]byte
		if _, err := io.ReadFull(c, req[:]); err != nil {
			return err
		}
		if req[0] == 'H' {
			time.Sleep(800 * time.Millisecond) // holds the thread past b's idle time
		}
		if req[0] == 'S' {
			// The same, then a sleep on the scheduler, which reads the
			// clock: the host loop finds b's idle deadline past before
			// it polls, as after a stopped process's interrupted poll.
			time.Sleep(800 * time.Millisecond)
			sched.Sleep(time.Millisecond)
		}
		_, err := c.Write(req[:])
		return err
	}
	for _, mode := range []string{"ready", "ready-clock-read", "task", "task-clock-read"} {
		t.Run(mode, func(t *testing.T) {
			hold := byte('H')
			if mode == "ready-clock-read" || mode == "task-clock-read" {
				hold = 'S'
			}
			srv := &netio.Server{IdleTimeout: idle, Ready: serve}
			if mode == "task" || mode == "task-clock-read" {
				srv = &netio.Server{Handler: func(c *netio.Conn) {
					for {
						c.SetReadDeadline(time.Now().Add(idle))
						if serve(c) != nil {
							return
						}
					}
				}}
			}
			ts := startServer(t, srv)
			a := dialT(t, ts.addr)
			b := dialT(t, ts.addr)
			waitFor(t, 5*time.Second, "both connections accepted", func() bool { return srv.Stats().Active == 2 })
			if _, err := a.Write([]byte{hold}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // a's call holds the thread now
			if _, err := b.Write([]byte("b")); err != nil {
				t.Fatal(err)
			}
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got [1]byte
			if n, err := b.Read(got[:]); n != 1 || got[0] != 'b' || err != nil {
				t.Errorf("b, whose request came 50 ms into its idle time: %d %q, %v; want its echo", n, got[:n], err)
			}
			a.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := a.Read(got[:]); n != 1 || got[0] != hold || err != nil {
				t.Errorf("a: %d %q, %v; want its echo", n, got[:n], err)
			}
		})
	}
}
