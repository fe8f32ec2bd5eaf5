package netio_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// lineHandler serves one line per request: "slow ..." is answered after
// 200 ms, anything else at once. When Shutdown ends its wait for a next
// request it says goodbye, which only an idle connection gets.
func lineHandler(ended chan<- error) func(c *netio.Conn) {
	return func(c *netio.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				if errors.Is(err, netio.ErrServerClosed) {
					c.Write([]byte("bye\n"))
				}
				ended <- err
				return
			}
			if strings.HasPrefix(line, "slow") {
				sched.Sleep(200 * time.Millisecond)
			}
			if _, err := c.Write([]byte("re: " + line)); err != nil {
				ended <- err
				return
			}
		}
	}
}

// readLine reads one line from c, failing the test after 5 s.
func readLine(t *testing.T, r *bufio.Reader, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %q, %v", line, err)
	}
	return line
}

// Task-mode Shutdown ends the handlers that wait for a next request, as
// net/http closes idle keep-alive connections, and lets the others finish:
// one that is answering a request, and one that has read part of a request
// and waits for the rest.
func TestServerShutdownEndsIdleHandlers(t *testing.T) {
	ended := make(chan error, 3)
	srv := &netio.Server{Handler: lineHandler(ended)}
	ts := startServer(t, srv)

	// Idle: one request answered, then nothing.
	idle := dialT(t, ts.addr)
	idleR := bufio.NewReader(idle)
	idle.Write([]byte("hello\n"))
	if got := readLine(t, idleR, idle); got != "re: hello\n" {
		t.Fatalf("idle client: %q", got)
	}
	// Busy: its reply is 200 ms away when Shutdown begins.
	busy := dialT(t, ts.addr)
	busyR := bufio.NewReader(busy)
	// Partial: half a request sent; the handler waits for the rest.
	partial := dialT(t, ts.addr)
	partialR := bufio.NewReader(partial)
	partial.Write([]byte("hal"))
	busy.Write([]byte("slow one\n"))
	ts.waitTasks(4) // the accept loop and three handlers
	time.Sleep(20 * time.Millisecond)

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()

	// The idle handler ends at once, with a goodbye and the close.
	if got := readLine(t, idleR, idle); got != "bye\n" {
		t.Errorf("idle client got %q, want the goodbye", got)
	}
	expectEOF(t, idle, 5*time.Second)
	select {
	case err := <-ended:
		if !errors.Is(err, netio.ErrServerClosed) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("the idle handler's Read returned %v, want ErrServerClosed (and net.ErrClosed)", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Errorf("the idle handler's Read error %v is not a read *net.OpError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the idle handler did not end")
	}

	// The busy one gets its reply, then is idle and ends too.
	if got := readLine(t, busyR, busy); got != "re: slow one\n" {
		t.Errorf("busy client got %q", got)
	}
	if got := readLine(t, busyR, busy); got != "bye\n" {
		t.Errorf("busy client got %q after its reply, want the goodbye", got)
	}

	// The partial one is still served: Shutdown waits for it.
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was half read", err)
	case <-time.After(100 * time.Millisecond):
	}
	partial.Write([]byte("f\n"))
	if got := readLine(t, partialR, partial); got != "re: half\n" {
		t.Errorf("partial client got %q", got)
	}
	if got := readLine(t, partialR, partial); got != "bye\n" {
		t.Errorf("partial client got %q after its reply, want the goodbye", got)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return once every handler had ended")
	}
	ts.finish(netio.ErrServerClosed)
}

// A request that arrived, unread, when Shutdown began is served: the
// connection is not idle, though its handler was parked in Read.
func TestServerShutdownServesArrivedRequest(t *testing.T) {
	ended := make(chan error, 1)
	gate := make(chan struct{})
	srv := &netio.Server{Handler: func(c *netio.Conn) {
		sched.Offload(func() { <-gate }) // busy while the request arrives
		lineHandler(ended)(c)
	}}
	ts := startServer(t, srv)
	c := dialT(t, ts.addr)
	r := bufio.NewReader(c)
	ts.waitTasks(2)
	c.Write([]byte("late\n"))
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	if got := readLine(t, r, c); got != "re: late\n" {
		t.Errorf("got %q, want the reply to the request that had arrived", got)
	}
	if got := readLine(t, r, c); got != "bye\n" {
		t.Errorf("got %q, want the goodbye", got)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("after the goodbye: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ts.finish(netio.ErrServerClosed)
}
