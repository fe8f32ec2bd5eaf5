package netio_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// runScheduler starts a keep-alive scheduler on its own goroutine, for
// tests whose code runs partly in plain goroutines, and stops it, checking
// Run's result, at cleanup.
func runScheduler(t testing.TB) *sched.Scheduler {
	t.Helper()
	s := sched.New(sched.WithKeepAlive())
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// runTasks runs fn in a task of a fresh scheduler and returns when every
// task it started has finished.
func runTasks(t testing.TB, fn func(s *sched.Scheduler)) {
	t.Helper()
	s := sched.New()
	s.Go(func() { fn(s) })
	if err := s.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// unixSocketPath returns a socket path in a fresh directory, short enough
// for sun_path.
func unixSocketPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "netio")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// coopPipe makes pipes whose both ends are coop Conns on s, dialed and
// accepted from plain goroutines (the Scheduler.Do path).
func coopPipe(s *sched.Scheduler, network string, address func() string) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		l, err := netio.Listen(s, network, address())
		if err != nil {
			return nil, nil, nil, err
		}
		defer l.Close()
		type accepted struct {
			c   net.Conn
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			c, err := l.Accept()
			ch <- accepted{c, err}
		}()
		d, err := netio.Dial(s, network, l.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		a := <-ch
		if a.err != nil {
			d.Close()
			return nil, nil, nil, a.err
		}
		return d, a.c, func() { d.Close(); a.c.Close() }, nil
	}
}

// mixedPipe makes pipes with a coop Conn at one end and a net.Conn at the
// other: c1 is coop if coopFirst.
func mixedPipe(s *sched.Scheduler, coopFirst bool) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer l.Close()
		ch := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			ch <- c
		}()
		cc, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		nc := <-ch
		if nc == nil {
			cc.Close()
			return nil, nil, nil, errors.New("accept failed")
		}
		stop = func() { cc.Close(); nc.Close() }
		if coopFirst {
			return cc, nc, stop, nil
		}
		return nc, cc, stop, nil
	}
}

func TestNettestConn(t *testing.T) {
	s := runScheduler(t)
	t.Run("TCP", func(t *testing.T) {
		nettest.TestConn(t, coopPipe(s, "tcp", func() string { return "127.0.0.1:0" }))
	})
	t.Run("Unix", func(t *testing.T) {
		nettest.TestConn(t, coopPipe(s, "unix", func() string { return unixSocketPath(t) }))
	})
	t.Run("CoopToNet", func(t *testing.T) { nettest.TestConn(t, mixedPipe(s, true)) })
	t.Run("NetToCoop", func(t *testing.T) { nettest.TestConn(t, mixedPipe(s, false)) })
}

// TestConnFromOtherScheduler drives both ends of a pipe from a task of
// another scheduler: every call crosses threads through Do.
func TestConnFromOtherScheduler(t *testing.T) {
	s := runScheduler(t)
	other := runScheduler(t)
	mp := coopPipe(s, "tcp", func() string { return "127.0.0.1:0" })
	// A ping-pong driven by a task of another scheduler.
	c1, c2, stop, err := mp()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	errc := make(chan error, 1)
	other.Go(func() {
		errc <- func() error {
			for i := range 100 {
				msg := fmt.Sprintf("ping %d\n", i)
				if _, err := c1.Write([]byte(msg)); err != nil {
					return err
				}
				buf := make([]byte, len(msg))
				if _, err := io.ReadFull(c2, buf); err != nil {
					return err
				}
				if string(buf) != msg {
					return fmt.Errorf("got %q, want %q", buf, msg)
				}
			}
			return nil
		}()
	})
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestBufioLines runs a line protocol through bufio on both sides: the
// server in tasks, the client a plain net.Conn.
func TestBufioLines(t *testing.T) {
	s := runScheduler(t)
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s.Go(func() {
		c, err := l.AcceptConn()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		r, w := bufio.NewReader(c), bufio.NewWriter(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				if err != io.EOF {
					t.Error(err)
				}
				return
			}
			fmt.Fprintf(w, "%d %s", len(line)-1, strings.ToUpper(line))
			if r.Buffered() == 0 { // flush once per batch of pipelined lines
				if err := w.Flush(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 1000
	go func() {
		w := bufio.NewWriter(c)
		for i := range n {
			fmt.Fprintf(w, "line %d\n", i)
		}
		w.Flush()
		c.(*net.TCPConn).CloseWrite()
	}()
	r := bufio.NewReader(c)
	for i := range n {
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		body := fmt.Sprintf("LINE %d", i)
		if want := fmt.Sprintf("%d %s\n", len(body), body); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after the last line: %v, want EOF", err)
	}
}

// TestConnErrorsAfterClose checks the errors the added methods return on
// a closed Conn.
func TestConnErrorsAfterClose(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer b.Close()
		var sysfd int
		if rc, err := a.SyscallConn(); err != nil {
			t.Fatal(err)
		} else if err := rc.Control(func(fd uintptr) { sysfd = int(fd) }); err != nil {
			t.Fatal(err)
		}
		a.Close()
		// Take a's old descriptor number for another socket (the lowest
		// free numbers go first): a setter that does not check for Close
		// would set its option on that socket.
		other := -1
		for range 64 {
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			if fd == sysfd {
				other = fd
				break
			}
		}
		setters := []struct {
			name string
			set  func() error
		}{
			{"SetLinger", func() error { return a.SetLinger(0) }},
			{"SetNoDelay", func() error { return a.SetNoDelay(false) }},
			{"SetKeepAlive", func() error { return a.SetKeepAlive(true) }},
			{"SetReadBuffer", func() error { return a.SetReadBuffer(4096) }},
			{"SetWriteBuffer", func() error { return a.SetWriteBuffer(4096) }},
			{"CloseRead", a.CloseRead},
			{"CloseWrite", a.CloseWrite},
		}
		for _, st := range setters {
			err := st.set()
			var oe *net.OpError
			if !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) {
				t.Errorf("%s after Close: %v, want a *net.OpError matching net.ErrClosed", st.name, err)
			}
		}
		if other < 0 {
			t.Errorf("descriptor %d was not reused", sysfd)
		} else {
			if l, err := unix.GetsockoptLinger(other, unix.SOL_SOCKET, unix.SO_LINGER); err != nil || l.Onoff != 0 {
				t.Errorf("SO_LINGER of the socket that took the closed Conn's descriptor: %+v, %v; want off", l, err)
			}
		}
		bufs := net.Buffers{[]byte("x")}
		if _, err := a.WriteBuffers(&bufs); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WriteBuffers after Close: %v, want net.ErrClosed", err)
		}
		if _, err := a.ReadFrom(strings.NewReader("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close: %v, want net.ErrClosed", err)
		}
		rc, err := a.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Control after Close: %v, want net.ErrClosed", err)
		}
	})
}

// A Listener's errors name the operation that failed, as package net's
// do: "close" for a second Close, "accept" for Accept; and "set" for
// SetDeadline on a closed listener, as net's Conns say (net's listeners
// return the bare error there).
func TestListenerErrorsAfterClose(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nl.Close()
	runTasks(t, func(s *sched.Scheduler) {
		l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			op        string
			got, want error
		}{
			{"close", l.Close(), nl.Close()},
			{"set", l.SetDeadline(time.Time{}), &net.OpError{Op: "set", Err: nl.(*net.TCPListener).SetDeadline(time.Time{})}},
			{"accept", func() error { _, err := l.Accept(); return err }(), func() error { _, err := nl.Accept(); return err }()},
		} {
			var oe, noe *net.OpError
			if !errors.As(c.want, &noe) || noe.Op != c.op {
				t.Fatalf("package net's error for %s: %v", c.op, c.want)
			}
			if !errors.As(c.got, &oe) || oe.Op != c.op || oe.Net != "tcp" || oe.Addr == nil || !errors.Is(c.got, net.ErrClosed) {
				t.Errorf("%s on a closed Listener: %v; want a *net.OpError with Op %q matching net.ErrClosed, as net's %v", c.op, c.got, c.op, c.want)
			}
		}
	})
}

// tcpPairOn returns both ends of a loopback TCP connection as Conns of s;
// it must run in a task of s.
func tcpPairOn(t testing.TB, s *sched.Scheduler) (*netio.Conn, *netio.Conn) {
	t.Helper()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var b *netio.Conn
	var aerr error
	acc := s.Go(func() { b, aerr = l.AcceptConn() })
	a, err := netio.Dial(s, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := acc.Wait(); err != nil || aerr != nil {
		t.Fatal(err, aerr)
	}
	return a, b
}

// wantTimeout fails unless err is a timeout as net reports it.
func wantTimeout(t testing.TB, err error) {
	t.Helper()
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout matching os.ErrDeadlineExceeded", err)
	}
}

var _ = time.Second

// Writes parked midway (a peer that reads slowly) do not interleave: each
// Write's bytes arrive contiguous.
func TestConcurrentWritesDoNotInterleave(t *testing.T) {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const writers, size = 4, 1 << 20 // each Write fills the socket buffers many times
	got := make(chan []byte, 1)
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	s.Go(func() {
		c, err := l.AcceptConn()
		l.Close()
		if err != nil {
			t.Error(err)
			return
		}
		var wg sched.WaitGroup
		for i := range writers {
			wg.Go(func() {
				if _, err := c.Write(bytes.Repeat([]byte{byte('a' + i)}, size)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		c.Close()
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	b := <-got
	if len(b) != writers*size {
		t.Fatalf("read %d bytes, want %d", len(b), writers*size)
	}
	for off := 0; off < len(b); off += size {
		run := b[off : off+size]
		if bytes.Count(run, run[:1]) != size {
			t.Fatalf("bytes of different Writes interleave in [%d, %d)", off, off+size)
		}
	}
}

func TestTryWrite(t *testing.T) {
	s := sched.New()
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Error(err)
		}
		peer <- c // it reads nothing until told
	}()
	s.Go(func() {
		defer l.Close()
		c, err := l.AcceptConn()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		total := 0
		for range 64 { // far more than the socket buffers hold
			n, err := c.TryWrite(buf)
			if err != nil {
				t.Fatalf("TryWrite: %v", err)
			}
			total += n
			if n < len(buf) {
				break // full: TryWrite did not wait
			}
		}
		if total == 0 || total >= 64<<20 {
			t.Errorf("TryWrite wrote %d bytes before the buffer was full", total)
		}
		if n, err := c.TryWrite(buf); n != 0 || err != nil {
			t.Errorf("TryWrite on a full buffer: %d, %v; want 0, nil", n, err)
		}
		pc := <-peer
		go io.Copy(io.Discard, pc) // now the peer reads
		if _, err := c.Write(buf[:1000]); err != nil {
			t.Errorf("Write after TryWrite: %v", err)
		}
		pc.Close()
	})
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
}

// TryWrite from a descriptor hook, on the scheduler's thread outside any
// task (how a hand-written state machine answers), writes at once rather
// than handing itself to the thread with Do, which a hook cannot call;
// on a closed connection it fails as a task's would.
func TestTryWriteFromHook(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer b.Close()
		var n int
		var werr, cerr error
		ran := false
		a.FD().SetReadHook(func(err error) {
			ran = true
			if err != nil {
				werr = err
				return
			}
			n, werr = a.TryWrite([]byte("answered from a hook"))
			a.Close()
			_, cerr = a.TryWrite([]byte("x"))
		})
		if _, err := b.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		got, err := io.ReadFull(b, buf[:len("answered from a hook")])
		if err != nil || string(buf[:got]) != "answered from a hook" {
			t.Errorf("peer read %q, %v", buf[:got], err)
		}
		if !ran {
			t.Fatal("the peer read an answer, but the hook did not run")
		}
		if n != len("answered from a hook") || werr != nil {
			t.Errorf("TryWrite from the hook: %d, %v", n, werr)
		}
		if !errors.Is(cerr, net.ErrClosed) {
			t.Errorf("TryWrite after Close: %v, want net.ErrClosed", cerr)
		}
		var oe *net.OpError
		if !errors.As(cerr, &oe) || oe.Op != "write" {
			t.Errorf("TryWrite after Close: %#v, want a *net.OpError for write", cerr)
		}
	})
}
