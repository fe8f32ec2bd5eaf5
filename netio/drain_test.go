package netio_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/netio"
)

// drainEcho is an echo that behaves as a keep-alive protocol should
// behind a load balancer: once the server drains, the next reply is the
// last ("bye: " before it) and the connection closes.
type drainEcho struct{ srv *netio.Server }

// reply answers one read; it reports whether the session goes on.
func (d drainEcho) reply(c *netio.Conn) (bool, error) {
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return false, err
	}
	if d.srv.Draining() {
		_, err = c.Write(append([]byte("bye: "), buf[:n]...))
		return false, err
	}
	_, err = c.Write(buf[:n])
	return err == nil, err
}

func (d drainEcho) task(c *netio.Conn) {
	for {
		if more, _ := d.reply(c); !more {
			return
		}
	}
}

func (d drainEcho) ready(c *netio.Conn) error {
	more, err := d.reply(c)
	if err == nil && !more {
		err = io.EOF // close: the last reply went out
	}
	return err
}

func drainServer(mode string) *netio.Server {
	srv := &netio.Server{}
	d := drainEcho{srv}
	if mode == "task" {
		srv.Handler = d.task
	} else {
		srv.Ready = d.ready
	}
	return srv
}

// ask writes msg on c and reads the whole answer up to the server's close
// (want a close) or len(want) bytes (no close).
func ask(t testing.TB, c net.Conn, msg, want string, closes bool) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	var got []byte
	var err error
	if closes {
		got, err = io.ReadAll(c)
	} else {
		got = make([]byte, len(want))
		_, err = io.ReadFull(c, got)
	}
	if err != nil || string(got) != want {
		t.Fatalf("sent %q: got %q, %v; want %q (close: %v)", msg, got, err, want, closes)
	}
}

// Drain keeps serving for its delay with Draining true, new connections
// included, then shuts down: sessions that check Draining close after
// their next reply, and dials are refused once the delay is over.
func TestServerDrain(t *testing.T) {
	for _, mode := range []string{"task", "ready"} {
		t.Run(mode, func(t *testing.T) {
			srv := drainServer(mode)
			ts := startServer(t, srv)
			before := dialT(t, ts.addr)
			ask(t, before, "one", "one", false)
			if srv.Draining() {
				t.Fatal("Draining before Drain")
			}
			const delay = 300 * time.Millisecond
			start := time.Now()
			drained := make(chan error, 1)
			go func() { drained <- srv.Drain(context.Background(), delay) }()
			waitFor(t, 2*time.Second, "Draining", srv.Draining)
			// An open keep-alive session: its next reply is its last.
			ask(t, before, "two", "bye: two", true)
			// A new connection during the delay is still served.
			during := dialT(t, ts.addr)
			ask(t, during, "three", "bye: three", true)
			if err := <-drained; err != nil {
				t.Errorf("Drain: %v", err)
			}
			if took := time.Since(start); took < delay {
				t.Errorf("Drain returned after %v, before its delay of %v", took, delay)
			}
			if c, err := net.Dial("tcp", ts.addr); err == nil {
				c.Close()
				t.Error("dial after Drain succeeded")
			} else if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("dial after Drain: %v, want ECONNREFUSED", err)
			}
			ts.finish(netio.ErrServerClosed)
			if !srv.Draining() {
				t.Error("Draining false after Drain")
			}
		})
	}
}

// A context that ends during the delay cuts the drain short: the
// shutdown begins at once and closes what remains.
func TestServerDrainCanceled(t *testing.T) {
	for _, mode := range []string{"task", "ready"} {
		t.Run(mode, func(t *testing.T) {
			srv := drainServer(mode)
			ts := startServer(t, srv)
			idle := dialT(t, ts.addr)
			ask(t, idle, "one", "one", false)
			ctx, cancel := context.WithCancel(context.Background())
			drained := make(chan error, 1)
			go func() { drained <- srv.Drain(ctx, time.Hour) }()
			waitFor(t, 2*time.Second, "Draining", srv.Draining)
			cancel()
			select {
			case err := <-drained:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Drain: %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Drain did not return after its context was canceled")
			}
			expectEOF(t, idle, 5*time.Second)
			ts.finish(netio.ErrServerClosed)
		})
	}
}

// Shutdown and Close drain too, without a delay.
func TestServerDrainingAtShutdown(t *testing.T) {
	for _, stop := range []string{"Shutdown", "Close"} {
		t.Run(stop, func(t *testing.T) {
			srv := drainServer("task")
			ts := startServer(t, srv)
			if srv.Draining() {
				t.Fatal("Draining before Shutdown")
			}
			if stop == "Shutdown" {
				ts.stop()
			} else {
				srv.Close()
				ts.finish(netio.ErrServerClosed)
			}
			if !srv.Draining() {
				t.Errorf("Draining false after %s", stop)
			}
		})
	}
}

// Drain from a task of the server's scheduler parks the task, not the
// thread: the server keeps serving during the delay.
func TestServerDrainFromTask(t *testing.T) {
	srv := drainServer("task")
	ts := startServer(t, srv)
	drained := make(chan error, 1)
	ts.s.Go(func() { drained <- srv.Drain(context.Background(), 200*time.Millisecond) })
	waitFor(t, 2*time.Second, "Draining", srv.Draining)
	c := dialT(t, ts.addr)
	ask(t, c, "x", "bye: x", true)
	select {
	case err := <-drained:
		if err != nil {
			t.Errorf("Drain: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Drain from a task did not return")
	}
	ts.finish(netio.ErrServerClosed)
}
