//go:build linux

package loadgen

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dialOne returns a client with one connection, checked, to a loopback
// server whose sessions run handle, and that connection, in the running
// state of mode; the client is not running (as when it drains): a reply
// sends no new request.
func dialOne(t *testing.T, mode Mode, handle func(net.Conn)) (*client, *conn) {
	t.Helper()
	cl, err := Dial(Config{Mode: Session, Addr: Serve(t, handle), Conns: 1, StallTimeout: 100 * time.Millisecond, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	c := cl.c
	c.cfg.Mode, c.conns[0].state = mode, stRunning
	return c, c.conns[0]
}

// waitUnread waits until n bytes have arrived on k's socket, unread.
func waitUnread(t *testing.T, k *conn, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		got, err := unix.IoctlGetInt(k.fd, unix.SIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes of replies in the socket after 5 s, want %d", got, n)
		}
	}
}

func echoAll(c net.Conn) { io.Copy(c, c) }

// silent answers the check's request, then nothing.
func silent(c net.Conn) {
	buf := make([]byte, 64)
	io.ReadFull(c, buf)
	c.Write(buf)
	io.Copy(io.Discard, c)
}

// TestAwayIsNotAStall: a client that was itself away for longer than the
// stall timeout (descheduled on a busy machine, or stopped with the rest of
// its process by a garbage collection) finds the replies that came
// meanwhile waiting in its socket, and takes them before it calls the
// server stalled. Under load, TestIntervalsNeverShort failed with
// "draining outstanding requests: no reply for 500ms: the server stalled"
// while the replies sat unread. A server that sent nothing is still
// reported at once.
func TestAwayIsNotAStall(t *testing.T) {
	t.Run("replies waiting", func(t *testing.T) {
		c, k := dialOne(t, Closed, echoAll)
		if err := c.sendRequest(k); err != nil {
			t.Fatal(err)
		}
		waitUnread(t, k, 64)
		c.lastDone = c.now() - 2*int64(c.cfg.StallTimeout) // the client was away
		if err := c.drain(); err != nil {
			t.Fatalf("drain with the reply waiting in the socket: %v", err)
		}
		if k.done != k.sent {
			t.Fatalf("%d replies of %d taken", k.done, k.sent)
		}
	})
	t.Run("silent server", func(t *testing.T) {
		c, k := dialOne(t, Closed, silent)
		if err := c.sendRequest(k); err != nil {
			t.Fatal(err)
		}
		c.lastDone = c.now() - 2*int64(c.cfg.StallTimeout)
		start := time.Now()
		if err := c.drain(); err == nil || !strings.Contains(err.Error(), "stalled") {
			t.Fatalf("drain with no reply coming: err = %v, want a stall", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("took %v to report a stall already %v old", d, 2*c.cfg.StallTimeout)
		}
	})
}

// TestAwayIsNotOverCapacity: in open mode, a client that comes back from
// being away with more requests in flight than a second's worth takes the
// replies waiting in its socket before it calls the server over capacity
// (TestIntervalsNeverShort failed under load with "2001 requests
// outstanding at 2000/s: ... (over capacity)"). A server that answers
// nothing is still over capacity.
func TestAwayIsNotOverCapacity(t *testing.T) {
	const rate = 1000 // the limit: 1,000 in flight
	for _, tc := range []struct {
		name    string
		handle  func(net.Conn)
		replies bool
	}{
		{"replies waiting", echoAll, true},
		{"silent server", silent, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, k := dialOne(t, Open, tc.handle)
			c.cfg.Rate = rate
			// 1,001 requests fell due while the client was away: the
			// limit is reached, not passed.
			now := c.now()
			c.t0, c.period = now-int64(time.Second), 1e9/rate
			if _, err := c.sendDue(now); err != nil {
				t.Fatal(err)
			}
			if c.inFlight != rate+1 {
				t.Fatalf("%d in flight, want %d", c.inFlight, rate+1)
			}
			if tc.replies {
				waitUnread(t, k, (rate+1)*64)
			}
			_, err := c.sendDue(now + int64(time.Millisecond))
			switch {
			case tc.replies && err != nil:
				t.Fatalf("with every reply waiting in the socket: %v", err)
			case tc.replies && c.inFlight != 1:
				t.Errorf("%d in flight after taking the replies and sending one more, want 1", c.inFlight)
			case !tc.replies && (err == nil || !strings.Contains(err.Error(), "over capacity")):
				t.Errorf("with no reply coming: err = %v, want over capacity", err)
			}
		})
	}
}
