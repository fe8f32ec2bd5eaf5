package netio_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/syncbuf"
	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// A testServer is a Server on its own scheduler, listening on loopback,
// run on a goroutine. Its cleanup shuts it down and checks that nothing is
// left behind: no task, timer or registered descriptor in the scheduler,
// no descriptor in the process.
type testServer struct {
	t      testing.TB
	s      *sched.Scheduler
	srv    *netio.Server
	l      *netio.Listener
	addr   string
	served chan error // Serve's result
	ran    chan error // Run's result
	fds    int        // the process's descriptors before the server
	done   bool
}

func startServer(t testing.TB, srv *netio.Server, opts ...sched.Option) *testServer {
	t.Helper()
	ts := &testServer{t: t, srv: srv, fds: processFDs(t), served: make(chan error, 1), ran: make(chan error, 1)}
	ts.s = sched.New(opts...)
	l, err := netio.Listen(ts.s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.l, ts.addr = l, l.Addr().String()
	ts.s.Go(func() { ts.served <- srv.Serve(l) })
	go func() { ts.ran <- ts.s.Run() }()
	// Cleanups run last first: the clients a test dials after this close
	// before the server stops, and the process's descriptors are counted
	// once both are done.
	t.Cleanup(func() { checkProcessFDs(t, ts.fds) })
	t.Cleanup(ts.stop)
	ts.waitTasks(1) // the accept loop runs
	return ts
}

// stop shuts the server down gracefully and checks what is left.
func (ts *testServer) stop() {
	if ts.done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		ts.t.Errorf("Shutdown: %v", err)
	}
	ts.finish(netio.ErrServerClosed)
}

// finish waits for Serve to return want and Run to return, and checks that
// nothing is left behind.
func (ts *testServer) finish(want error) {
	t := ts.t
	t.Helper()
	ts.done = true
	select {
	case err := <-ts.served:
		if !errors.Is(err, want) {
			t.Errorf("Serve returned %v, want %v", err, want)
		}
	case <-time.After(10 * time.Second):
		ts.s.Dump(os.Stderr)
		t.Fatalf("Serve did not return")
	}
	select {
	case err := <-ts.ran:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		ts.s.Dump(os.Stderr)
		t.Fatalf("Run did not return")
	}
	checkSchedEmpty(t, ts.s)
}

// checkSchedEmpty checks a scheduler that has finished: no task, timer or
// descriptor left.
func checkSchedEmpty(t testing.TB, s *sched.Scheduler) {
	t.Helper()
	if st := s.Stats(); st.Tasks != 0 || st.Timers != 0 || st.FDs != 0 {
		t.Errorf("%v left tasks %d, timers %d, fds %d", s, st.Tasks, st.Timers, st.FDs)
	}
}

// waitFor polls cond every millisecond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitIdle waits until the server's scheduler runs only want tasks and no
// connection, and returns its stats.
func (ts *testServer) waitTasks(want int) sched.Stats {
	ts.t.Helper()
	var st sched.Stats
	waitFor(ts.t, 5*time.Second, fmt.Sprintf("%d task(s)", want), func() bool {
		st = ts.s.Stats()
		return st.Tasks == want
	})
	return st
}

var warmNet sync.Once

// processFDs counts the process's open descriptors, once the Go runtime's
// own poller (which never closes) exists.
func processFDs(t testing.TB) int {
	t.Helper()
	warmNet.Do(func() {
		if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
			l.Close()
		}
	})
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1 // not Linux: not checked
	}
	return len(ents) - 1 // the directory being read
}

// checkProcessFDs waits briefly for the process's descriptors to come back
// to base: clients close theirs on other goroutines.
func checkProcessFDs(t testing.TB, base int) {
	t.Helper()
	if base < 0 {
		return
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := processFDs(t)
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("descriptors: %d, want at most %d", n, base)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoTask is a task-mode echo handler that passes a half-close on.
func echoTask(c *netio.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err == io.EOF {
				c.CloseWrite()
			}
			return
		}
	}
}

// echoReady is the ready-mode echo: one read, one write per call.
func echoReady(c *netio.Conn) error {
	buf := make([]byte, 16<<10)
	n, err := c.Read(buf)
	if err != nil {
		if err == io.EOF {
			c.CloseWrite()
		}
		return err
	}
	_, err = c.Write(buf[:n])
	return err
}

// modes are the two ways to serve the same echo.
var modes = []struct {
	name string
	srv  func() *netio.Server
}{
	{"task", func() *netio.Server { return &netio.Server{Handler: echoTask} }},
	{"ready", func() *netio.Server { return &netio.Server{Ready: echoReady} }},
}

func dialT(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads its echo.
func roundTrip(c net.Conn, msg []byte) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo differs: sent %d bytes, got %q...", len(msg), got[:min(len(got), 16)])
	}
	return nil
}

// expectEOF checks that the server closes c within d without sending
// anything more: a read returns io.EOF (or a reset).
func expectEOF(t testing.TB, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := c.Read(b[:])
	if n != 0 || (err != io.EOF && !errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("read on a connection the server closed: %d, %v; want EOF", n, err)
	}
}

// syncbuf.Buffer is a bytes.Buffer for a Logger written from a scheduler
// thread and read by the test.

// Echo in both modes with many concurrent plain-Go clients, byte-exact.
func TestServerEcho(t *testing.T) {
	const clients, msgs = 250, 10
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ts := startServer(t, m.srv())
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					rng := rand.New(rand.NewPCG(uint64(i), 1))
					for range msgs {
						msg := make([]byte, 1+rng.IntN(8<<10))
						for j := range msg {
							msg[j] = byte(rng.Uint32())
						}
						if err := roundTrip(c, msg); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if st := ts.srv.Stats(); st.Accepted != clients {
				t.Errorf("Stats().Accepted = %d, want %d", st.Accepted, clients)
			}
		})
	}
}

// Serve's shortcut serves in task mode.
func TestServeShortcut(t *testing.T) {
	// Keep-alive: Run must not end before the goroutine's Serve arrives.
	s := sched.New(sched.WithKeepAlive())
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- netio.Serve(l, echoTask) }() // from a plain goroutine: Serve blocks
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	c := dialT(t, l.Addr().String())
	if err := roundTrip(c, []byte("shortcut")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	l.Close() // not a Shutdown: Serve reports the closed listener
	if err := <-served; !errors.Is(err, net.ErrClosed) || errors.Is(err, netio.ErrServerClosed) {
		t.Errorf("Serve after the listener closed: %v", err)
	}
	s.Stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	checkSchedEmpty(t, s)
}

func TestServerValidate(t *testing.T) {
	for _, srv := range []*netio.Server{
		{},
		{Handler: echoTask, Ready: echoReady},
		{Handler: echoTask, MaxConns: -1},
	} {
		s := sched.New()
		l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(l); err == nil || errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve with %+v: %v, want a configuration error", srv, err)
		}
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		checkSchedEmpty(t, s) // Serve closed the listener
	}
}

// A panicking handler is logged with its stack and remote address, its
// connection closed; the other sessions finish and accepting goes on.
func TestServerPanicIsolation(t *testing.T) {
	const good, bad, rounds = 40, 10, 10
	check := func(b []byte) {
		if bytes.HasPrefix(b, []byte("panic")) {
			panic(fmt.Sprintf("boom on %q", b))
		}
	}
	for _, mode := range []string{"task", "ready"} {
		t.Run(mode, func(t *testing.T) {
			var logs syncbuf.Buffer
			srv := &netio.Server{Logger: log.New(&logs, "", 0)}
			if mode == "task" {
				srv.Handler = func(c *netio.Conn) {
					buf := make([]byte, 64)
					for {
						n, err := c.Read(buf)
						if err != nil {
							return
						}
						check(buf[:n])
						c.Write(buf[:n])
					}
				}
			} else {
				srv.Ready = func(c *netio.Conn) error {
					buf := make([]byte, 64)
					n, err := c.Read(buf)
					if err != nil {
						return err
					}
					check(buf[:n])
					_, err = c.Write(buf[:n])
					return err
				}
			}
			ts := startServer(t, srv)
			var wg sync.WaitGroup
			errs := make(chan error, good+bad)
			for i := range good + bad {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					for r := range rounds {
						if i < bad && r == rounds/2 {
							c.Write([]byte("panic " + strconv.Itoa(i)))
							c.SetReadDeadline(time.Now().Add(5 * time.Second))
							if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
								errs <- fmt.Errorf("panicking session: read %d, %v; want EOF", n, err)
							}
							return
						}
						if err := roundTrip(c, []byte(fmt.Sprintf("hello %d %d", i, r))); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// Accepting goes on.
			if err := roundTrip(dialT(t, ts.addr), []byte("after")); err != nil {
				t.Error(err)
			}
			if st := ts.srv.Stats(); st.Panics != bad {
				t.Errorf("Stats().Panics = %d, want %d", st.Panics, bad)
			}
			out := logs.String()
			for _, want := range []string{`boom on "panic 3"`, "goroutine ", "server_test.go", "panic serving 127.0.0.1:"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// Graceful shutdown, task mode: the listener closes first, the session in
// flight finishes, nothing is left.
func TestServerShutdownGraceful(t *testing.T) {
	got := make(chan struct{})
	srv := &netio.Server{Handler: func(c *netio.Conn) {
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		close(got)
		sched.Sleep(300 * time.Millisecond) // a slow reply
		c.Write(append([]byte("reply to "), buf[:n]...))
	}}
	ts := startServer(t, srv)
	c := dialT(t, ts.addr)
	c.Write([]byte("slow"))
	<-got
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	// The listener closes first: new dials are refused while the
	// session is still running.
	waitFor(t, 2*time.Second, "dials to be refused", func() bool {
		d, err := net.Dial("tcp", ts.addr)
		if err == nil {
			d.Close()
			return false
		}
		switch {
		case errors.Is(err, syscall.ECONNRESET):
			return false // queued as the listener closed
		case !errors.Is(err, syscall.ECONNREFUSED):
			t.Fatalf("dial during shutdown: %v", err)
		}
		return true
	})
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned before the session finished: %v", err)
	default:
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, err := io.ReadAll(c)
	if err != nil || string(reply) != "reply to slow" {
		t.Errorf("in-flight session: %q, %v", reply, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ts.finish(netio.ErrServerClosed)
}

// Shutdown called from a task of the server's own scheduler: a handler
// asks for it, in a task of its own so as not to wait for itself. It waits
// for the session in flight, which then waits idle for its next request
// and is ended.
func TestServerShutdownFromTask(t *testing.T) {
	shut := make(chan error, 1)
	held, release := make(chan struct{}), make(chan struct{})
	var srv *netio.Server
	srv = &netio.Server{Handler: func(c *netio.Conn) {
		buf := make([]byte, 16)
		n, _ := c.Read(buf)
		switch string(buf[:n]) {
		case "quit":
			c.Scheduler().Go(func() { shut <- srv.Shutdown(context.Background()) })
			c.Write([]byte("bye"))
			return
		case "hold":
			sched.Offload(func() { close(held); <-release }) // in flight
			c.Write([]byte("released"))
		}
		echoTask(c)
	}}
	ts := startServer(t, srv)
	other := dialT(t, ts.addr)
	other.Write([]byte("hold"))
	<-held
	c := dialT(t, ts.addr)
	c.Write([]byte("quit"))
	if b, err := io.ReadAll(c); err != nil || string(b) != "bye" {
		t.Fatalf("quit: %q, %v", b, err)
	}
	// The other session is in flight: Shutdown waits for it.
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned with a session in flight: %v", err)
	default:
	}
	close(release)
	other.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(other); err != nil || string(b) != "released" {
		t.Errorf("in-flight session: %q, %v; want its reply, then the close", b, err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown from a task did not return")
	}
	ts.finish(netio.ErrServerClosed)
}

// A Unix socket listener: served, then removed at shutdown.
func TestServerUnix(t *testing.T) {
	path := t.TempDir() + "/srv.sock"
	s := sched.New()
	l, err := netio.Listen(s, "unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &netio.Server{Ready: echoReady}
	served := make(chan error, 1)
	s.Go(func() { served <- srv.Serve(l) })
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, []byte("over a unix socket")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, netio.ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	checkSchedEmpty(t, s)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after shutdown: %v", err)
	}
}

// Graceful shutdown, ready mode: idle connections close at once, a busy
// one finishes its Ready call.
//
// The busy call lasts until the test has seen every idle connection
// closed, not for a time: "at once" was once a bound of 300 ms from the
// Shutdown call, which a loaded machine can exceed; a Shutdown that
// waited for the busy call before closing the idle ones never closes
// them here (expectEOF fails).
func TestServerShutdownReady(t *testing.T) {
	busy := make(chan struct{})
	var release atomic.Bool
	defer release.Store(true)
	srv := &netio.Server{Ready: func(c *netio.Conn) error {
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if string(buf[:n]) == "slow" {
			close(busy)
			for end := time.Now().Add(10 * time.Second); !release.Load() && time.Now().Before(end); {
				sched.Sleep(5 * time.Millisecond)
			}
		}
		_, err = c.Write(buf[:n])
		return err
	}}
	ts := startServer(t, srv)
	idle := make([]net.Conn, 20)
	for i := range idle {
		idle[i] = dialT(t, ts.addr)
		if err := roundTrip(idle[i], []byte("hi")); err != nil {
			t.Fatal(err)
		}
	}
	slow := dialT(t, ts.addr)
	slow.Write([]byte("slow"))
	<-busy
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	for _, c := range idle {
		expectEOF(t, c, 2*time.Second) // while the busy call goes on
	}
	if t.Failed() {
		t.FailNow() // Shutdown would wait for them
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a Ready call was busy", err)
	default:
	}
	release.Store(true)
	slow.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, err := io.ReadAll(slow)
	if err != nil || string(reply) != "slow" {
		t.Errorf("busy session: %q, %v", reply, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ts.finish(netio.ErrServerClosed)
}

// An expired context force-closes what is left, and Shutdown says so.
func TestServerShutdownForced(t *testing.T) {
	for _, mode := range []string{"task", "ready"} {
		t.Run(mode, func(t *testing.T) {
			started := make(chan struct{}, 1)
			// Stuck reading the rest of a request: not idle, so
			// Shutdown waits for it.
			block := func(c *netio.Conn) error {
				c.Read(make([]byte, 1))
				started <- struct{}{}
				_, err := c.Read(make([]byte, 1)) // never satisfied
				return err
			}
			srv := &netio.Server{Handler: func(c *netio.Conn) { block(c) }}
			if mode == "ready" {
				srv = &netio.Server{Ready: block}
			}
			ts := startServer(t, srv)
			c := dialT(t, ts.addr)
			c.Write([]byte("x"))
			<-started
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("forced Shutdown took %v", d)
			}
			expectEOF(t, c, 2*time.Second)
			ts.finish(netio.ErrServerClosed)
		})
	}
}

// Close ends everything at once, from any goroutine.
func TestServerClose(t *testing.T) {
	for _, mode := range []string{"task", "ready"} {
		t.Run(mode, func(t *testing.T) {
			srv := &netio.Server{Handler: echoTask}
			if mode == "ready" {
				srv = &netio.Server{Ready: echoReady}
			}
			ts := startServer(t, srv)
			cs := make([]net.Conn, 10)
			for i := range cs {
				cs[i] = dialT(t, ts.addr)
				if err := roundTrip(cs[i], []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			if err := srv.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			for _, c := range cs {
				expectEOF(t, c, 2*time.Second)
			}
			if _, err := net.Dial("tcp", ts.addr); err == nil {
				t.Errorf("dial after Close succeeded")
			}
			ts.finish(netio.ErrServerClosed)
			if err := srv.Serve(ts.l); !errors.Is(err, netio.ErrServerClosed) {
				t.Errorf("Serve after Close: %v", err)
			}
		})
	}
}

// Closing the listener (not the server) ends Serve with the listener's
// error; ready-mode connections, which hold no task, go on being served.
func TestServerListenerClosedReady(t *testing.T) {
	srv := &netio.Server{Ready: echoReady}
	ts := startServer(t, srv)
	c := dialT(t, ts.addr)
	if err := roundTrip(c, []byte("before")); err != nil {
		t.Fatal(err)
	}
	ts.l.Close()
	select {
	case err := <-ts.served:
		if !errors.Is(err, net.ErrClosed) || errors.Is(err, netio.ErrServerClosed) {
			t.Errorf("Serve = %v, want the listener's closed error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	ts.served <- netio.ErrServerClosed // for finish
	for i := range 3 {
		time.Sleep(20 * time.Millisecond)
		if err := roundTrip(c, []byte("after "+strconv.Itoa(i))); err != nil {
			t.Fatalf("idle connection after the listener closed: %v", err)
		}
	}
	c.Close()
	ts.done = true
	// The last connection gone, the scheduler has nothing left to run.
	select {
	case err := <-ts.ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		ts.s.Dump(os.Stderr)
		t.Fatal("Run did not return after the last connection ended")
	}
	checkSchedEmpty(t, ts.s)
}

// Scheduler.Stop ends the server too, leaving nothing behind.
func TestServerSchedulerStop(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ts := startServer(t, m.srv())
			for range 5 {
				if err := roundTrip(dialT(t, ts.addr), []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			ts.s.Stop()
			ts.finish(sched.ErrInterrupted)
		})
	}
}

// Churned connections leave fds, tasks and timers at baseline.
func TestServerChurnLeaks(t *testing.T) {
	n := churnConns
	if testing.Short() {
		n = 1000
	}
	const workers = 100
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			srv := m.srv()
			srv.IdleTimeout = time.Minute // exercise the idle timers too
			srv.ReadTimeout = time.Minute
			srv.WriteTimeout = time.Minute
			ts := startServer(t, srv)
			base := ts.s.Stats()
			fds := processFDs(t)
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= int64(n); i = next.Add(1) {
						c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
						if err != nil {
							errs <- err
							return
						}
						err = roundTrip(c, []byte("churn "+strconv.FormatInt(i, 10)))
						c.Close()
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "connections to end", func() bool { return srv.Stats().Active == 0 })
			st := ts.waitTasks(base.Tasks)
			if st.FDs != base.FDs || st.Timers != base.Timers {
				t.Errorf("after %d connections: fds %d, timers %d; before: fds %d, timers %d", n, st.FDs, st.Timers, base.FDs, base.Timers)
			}
			if got := srv.Stats().Accepted; got != uint64(n) {
				t.Errorf("accepted %d, want %d", got, n)
			}
			checkProcessFDs(t, fds)
		})
	}
}

// A storm of concurrent connects: under the limit none is lost, above it
// the excess is refused promptly and the served ones keep working.
func TestServerStorm(t *testing.T) {
	const clients = stormConns
	for _, tc := range []struct {
		max, served int
	}{
		{clients, clients},
		{clients / 4, clients / 4},
	} {
		t.Run("max"+strconv.Itoa(tc.max), func(t *testing.T) {
			srv := &netio.Server{Handler: echoTask, MaxConns: tc.max}
			ts := startServer(t, srv)
			var served, refused atomic.Int64
			var slowest atomic.Int64 // ns from connect to refusal
			release := make(chan struct{})
			var reported, wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := range clients {
				wg.Add(1)
				reported.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.DialTimeout("tcp", ts.addr, 10*time.Second)
					if err != nil {
						reported.Done()
						errs <- fmt.Errorf("dial: %v", err)
						return
					}
					defer c.Close()
					start := time.Now()
					msg := []byte("storm " + strconv.Itoa(i))
					if err := roundTrip(c, msg); err != nil {
						d := time.Since(start)
						for v := slowest.Load(); int64(d) > v && !slowest.CompareAndSwap(v, int64(d)); v = slowest.Load() {
						}
						if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
							refused.Add(1)
						} else {
							errs <- fmt.Errorf("refused connection: %v", err)
						}
						reported.Done()
						return
					}
					served.Add(1)
					reported.Done()
					<-release // hold the connection until every client is counted
					if err := roundTrip(c, msg); err != nil {
						errs <- fmt.Errorf("served connection after the storm: %v", err)
					}
				}()
			}
			reported.Wait()
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if served.Load() != int64(tc.served) || refused.Load() != int64(clients-tc.served) {
				t.Errorf("served %d, refused %d; want %d, %d", served.Load(), refused.Load(), tc.served, clients-tc.served)
			}
			if d := time.Duration(slowest.Load()); d > 5*time.Second {
				t.Errorf("slowest refusal took %v", d)
			}
			if st := srv.Stats(); st.Refused != uint64(clients-tc.served) {
				t.Errorf("Stats().Refused = %d, want %d", st.Refused, clients-tc.served)
			}
		})
	}
}

// Ready mode: pipelined requests that arrive while Ready runs are all
// answered, in order, and the connection then idles with no task.
func TestServerReadyPipelined(t *testing.T) {
	const reqLen = 8
	srv := &netio.Server{Ready: func(c *netio.Conn) error {
		var req [reqLen]byte
		if _, err := io.ReadFull(c, req[:]); err != nil {
			return err
		}
		sched.Sleep(time.Millisecond) // blocking work while more arrives
		_, err := c.Write(bytes.ToUpper(req[:]))
		return err
	}}
	ts := startServer(t, srv)
	base := ts.s.Stats()
	for _, tc := range []struct {
		name  string
		write func(c net.Conn, reqs []byte)
	}{
		{"one write", func(c net.Conn, reqs []byte) { c.Write(reqs) }},
		{"first then the rest", func(c net.Conn, reqs []byte) {
			c.Write(reqs[:reqLen])
			time.Sleep(500 * time.Microsecond)
			c.Write(reqs[reqLen:])
		}},
		{"byte by byte", func(c net.Conn, reqs []byte) {
			for i := range reqs {
				c.Write(reqs[i : i+1])
			}
		}},
		{"uneven pieces", func(c net.Conn, reqs []byte) {
			for len(reqs) > 0 {
				n := min(len(reqs), 13)
				c.Write(reqs[:n])
				reqs = reqs[n:]
				time.Sleep(100 * time.Microsecond)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialT(t, ts.addr)
			var reqs []byte
			for i := range 100 {
				reqs = fmt.Appendf(reqs, "req%05d", i)
			}
			go tc.write(c, reqs)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, len(reqs))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if want := bytes.ToUpper(reqs); !bytes.Equal(got, want) {
				t.Fatalf("replies differ:\n got %q\nwant %q", got, want)
			}
			// Idle again: no task holds the connection.
			ts.waitTasks(base.Tasks)
			c.Write([]byte("abcdefgh"))
			if _, err := io.ReadFull(c, got[:reqLen]); err != nil || string(got[:reqLen]) != "ABCDEFGH" {
				t.Fatalf("after the pipeline: %q, %v", got[:reqLen], err)
			}
		})
	}
}

// Ready mode at many idle connections: no task but the accept loop, few
// worker goroutines. The clients live in a child process, which has its
// own descriptor limit.
func TestServerReadyIdleConns(t *testing.T) {
	n := idleConns
	if testing.Short() {
		n = 1000
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	srv := &netio.Server{Ready: echoReady}
	ts := startServer(t, srv)
	base := ts.s.Stats()
	child := startChild(t, "hold", "NETIO_ADDR="+ts.addr, "NETIO_N="+strconv.Itoa(n))
	if r := child.next(); r.Dialed != n {
		t.Fatalf("child dialed %d of %d: %s", r.Dialed, n, r.Err)
	}
	waitFor(t, 10*time.Second, "every connection served", func() bool { return srv.Stats().Active == n })
	st := ts.waitTasks(base.Tasks)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("%d idle connections: %d task(s), %d workers (%d idle), %d timers; heap in use +%d B per connection",
		n, st.Tasks, st.Workers, st.Idle, st.Timers, (int64(after.HeapInuse)-int64(before.HeapInuse))/int64(n))
	if st.Workers > 200 {
		t.Errorf("%d worker goroutines for %d idle connections", st.Workers, n)
	}
	child.send("ping")
	if r := child.next(); r.Pong != n {
		t.Fatalf("child: %d of %d round trips: %s", r.Pong, n, r.Err)
	}
	st = ts.waitTasks(base.Tasks)
	if st.Workers > 200 {
		t.Errorf("%d worker goroutines after a round trip on each connection", st.Workers)
	}
	child.close()
	waitFor(t, 10*time.Second, "connections to end", func() bool { return srv.Stats().Active == 0 })
}

// Serving on a Group: one SO_REUSEPORT listener per scheduler, each
// serving its own connections.
func TestServerGroup(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testServerGroup(t, m.srv()) })
	}
}

func testServerGroup(t *testing.T, srv *netio.Server) {
	const clients = 200
	fds := processFDs(t)
	g := sched.NewGroup(2)
	ls, err := netio.ListenGroup(g, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Addr().String() != ls[1].Addr().String() {
		t.Fatalf("listeners: %v", ls)
	}
	var per [2]atomic.Int64
	srv.ConnState = func(c *netio.Conn, st netio.ConnState) {
		if st == netio.StateNew {
			i := 0
			if c.Scheduler() == g.Scheduler(1) {
				i = 1
			}
			per[i].Add(1)
		}
	}
	served := make(chan error, 1)
	g.Go(func() { served <- srv.ServeGroup(ls) })
	ran := make(chan error, 1)
	go func() { ran <- g.Run() }()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", ls[0].Addr().String(), 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for r := range 5 {
				if err := roundTrip(c, []byte(fmt.Sprintf("group %d %d", i, r))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("connections per scheduler: %d, %d", per[0].Load(), per[1].Load())
	if per[0].Load() == 0 || per[1].Load() == 0 || per[0].Load()+per[1].Load() != clients {
		t.Errorf("connections per scheduler: %d, %d; want both > 0, %d in all", per[0].Load(), per[1].Load(), clients)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, netio.ErrServerClosed) {
		t.Errorf("ServeGroup = %v", err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the group did not stop")
	}
	for i := range g.Len() {
		checkSchedEmpty(t, g.Scheduler(i))
	}
	checkProcessFDs(t, fds)
}

// childReport is a line of JSON from a child process.
type childReport struct {
	Addr         string  `json:",omitempty"`
	Err          string  `json:",omitempty"`
	Dialed       int     `json:",omitempty"`
	Pong         int     `json:",omitempty"`
	T            float64 // seconds since the child started
	CPU          float64 // seconds of CPU the child used
	Accepted     uint64
	AcceptErrors uint64
	Active       int
	LogLines     int
	ServeErr     string `json:",omitempty"`
	Final        bool   `json:",omitempty"`
}

// A child is this test binary run again as a helper process
// (TestServerChild), talking JSON lines on its stdout.
type child struct {
	t     testing.TB
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan childReport
	wait  chan error
}

func startChild(t testing.TB, role string, env ...string) *child {
	t.Helper()
	// Under an emulator (go test -exec qemu-aarch64-static, with no
	// binfmt_misc registration) the test binary cannot be exec'd itself:
	// COOP_TEST_EXEC names the emulator to run it with.
	argv := []string{os.Args[0], "-test.run=^TestServerChild$", "-test.count=1"}
	if emu := os.Getenv("COOP_TEST_EXEC"); emu != "" {
		argv = append([]string{emu}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), append(env, "NETIO_CHILD="+role)...)
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &child{t: t, cmd: cmd, in: in, lines: make(chan childReport, 16), wait: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r childReport
			if b := sc.Bytes(); len(b) > 0 && b[0] == '{' {
				if err := json.Unmarshal(b, &r); err == nil {
					ch.lines <- r
				}
			}
		}
		close(ch.lines)
		ch.wait <- cmd.Wait()
	}()
	t.Cleanup(func() {
		ch.close()
		select {
		case err := <-ch.wait:
			if err != nil {
				t.Errorf("child %s: %v\n%s", role, err, stderr.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("child %s did not exit\n%s", role, stderr.String())
		}
	})
	return ch
}

func (ch *child) send(cmd string) {
	if _, err := io.WriteString(ch.in, cmd+"\n"); err != nil {
		ch.t.Fatalf("to child: %v", err)
	}
}

func (ch *child) close() { ch.in.Close() }

// next returns the child's next report.
func (ch *child) next() childReport {
	ch.t.Helper()
	select {
	case r, ok := <-ch.lines:
		if !ok {
			ch.t.Fatal("child exited early")
		}
		return r
	case <-time.After(60 * time.Second):
		ch.t.Fatal("no report from child")
	}
	return childReport{}
}

// TestServerChild is the body of the child processes; it is skipped in a
// normal run.
func TestServerChild(t *testing.T) {
	role := os.Getenv("NETIO_CHILD")
	if role == "" {
		t.Skip("helper process for other tests")
	}
	// Exit on our own if the parent goes away.
	time.AfterFunc(90*time.Second, func() { os.Exit(3) })
	out := json.NewEncoder(os.Stdout)
	switch role {
	case "hold":
		holdChild(out)
	case "emfile":
		emfileChild(out)
	}
	os.Exit(0)
}

// holdChild dials NETIO_N connections to NETIO_ADDR, echoes once on each
// and holds them: "ping" echoes once more on each, end of input closes
// them all.
func holdChild(out *json.Encoder) {
	n, _ := strconv.Atoi(os.Getenv("NETIO_N"))
	addr := os.Getenv("NETIO_ADDR")
	conns := make([]net.Conn, n)
	each := func(fn func(i int) error) (int, error) {
		var ok atomic.Int64
		var first atomic.Value
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					if err := fn(i); err != nil {
						first.CompareAndSwap(nil, err.Error())
						return
					}
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if s, _ := first.Load().(string); s != "" {
			return int(ok.Load()), errors.New(s)
		}
		return int(ok.Load()), nil
	}
	errString := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	dialed, err := each(func(i int) error {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		conns[i] = c
		return roundTrip(c, []byte("hold "+strconv.Itoa(i)))
	})
	out.Encode(childReport{Dialed: dialed, Err: errString(err)})
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "ping" {
			pong, err := each(func(i int) error { return roundTrip(conns[i], []byte("ping "+strconv.Itoa(i))) })
			out.Encode(childReport{Pong: pong, Err: errString(err)})
		}
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

func TestRegisterOnShutdown(t *testing.T) {
	s := sched.New(sched.WithKeepAlive())
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var handlers sync.Map // *sched.Task -> struct{}
	srv := &netio.Server{Handler: func(c *netio.Conn) {
		handlers.Store(sched.Current(), struct{}{})
		defer handlers.Delete(sched.Current())
		// Busy with something other than a Read of its connection (a
		// long poll, a subscription): Shutdown cannot tell it is idle.
		if err := sched.Sleep(time.Hour); errors.Is(err, sched.ErrInterrupted) {
			c.Write([]byte("BYE shutdown\n"))
		}
	}}
	srv.RegisterOnShutdown(func() {
		handlers.Range(func(k, _ any) bool {
			k.(*sched.Task).Interrupt()
			return true
		})
	})
	served := make(chan error, 1)
	s.Go(func() { served <- srv.Serve(l) })
	go s.Run()
	defer s.Stop()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		n := 0
		handlers.Range(func(any, any) bool { n++; return true })
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("handler did not start")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	got, _ := io.ReadAll(c)
	if string(got) != "BYE shutdown\n" {
		t.Errorf("idle client got %q, want the goodbye", got)
	}
	if err := <-served; !errors.Is(err, netio.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// Ready mode: connections that become readable together, while the
// thread is held, are all served from the one poll that finds them, each
// by a task of its own. The first connection's Ready call holds the
// thread while every other client writes (so the next poll queues them
// all at once), then blocks until the last connection's Ready call has
// run: a connection left in the shard's queue without a task, or one
// that waits for the blocked call to end, gets no reply.
func TestServerReadyBurstServed(t *testing.T) {
	for _, withCtx := range []bool{false, true} {
		t.Run(fmt.Sprintf("context=%v", withCtx), func(t *testing.T) {
			const conns = 200
			const reqLen = 8
			holding := make(chan struct{}, 1)
			release := sched.NewChan[struct{}](1)
			srv := &netio.Server{Ready: func(c *netio.Conn) error {
				var req [reqLen]byte
				if _, err := io.ReadFull(c, req[:]); err != nil {
					return err
				}
				switch req[0] {
				case 'H': // hold the thread while the others write, then wait for 'R'
					holding <- struct{}{}
					time.Sleep(50 * time.Millisecond)
					if _, err := release.Recv(); err != nil {
						return err
					}
				case 'R':
					release.TrySend(struct{}{})
				}
				_, err := c.Write(bytes.ToLower(req[:]))
				return err
			}}
			if withCtx {
				// A connection with a context runs its own function (session.run).
				srv.ConnContext = func(ctx context.Context, c *netio.Conn) context.Context { return ctx }
			}
			ts := startServer(t, srv)
			base := ts.s.Stats()
			cs := make([]net.Conn, conns)
			for i := range cs {
				cs[i] = dialT(t, ts.addr)
			}
			waitFor(t, 10*time.Second, "every connection accepted", func() bool { return srv.Stats().Active == conns })
			for round := range 3 {
				reqs := make([][]byte, conns)
				for i := range cs {
					kind := byte('x')
					switch i {
					case 0:
						kind = 'H'
					case conns - 1:
						kind = 'R'
					}
					reqs[i] = fmt.Appendf(nil, "%c%03d%04d", kind, round, i)
				}
				if _, err := cs[0].Write(reqs[0]); err != nil {
					t.Fatal(err)
				}
				select {
				case <-holding:
				case <-time.After(10 * time.Second):
					t.Fatal("the first request's Ready call did not run")
				}
				for i := 1; i < conns; i++ {
					if _, err := cs[i].Write(reqs[i]); err != nil {
						t.Fatal(err)
					}
				}
				for i, c := range cs {
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					got := make([]byte, reqLen)
					if _, err := io.ReadFull(c, got); err != nil {
						t.Fatalf("round %d: connection %d of %d: no reply: %v", round, i, conns, err)
					}
					if want := bytes.ToLower(reqs[i]); !bytes.Equal(got, want) {
						t.Fatalf("round %d: connection %d: reply %q, want %q", round, i, got, want)
					}
				}
				// Every connection idle again: no task left but the accept loop.
				ts.waitTasks(base.Tasks)
			}
		})
	}
}
