package netio_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// serveEcho accepts one connection on l in a task and echoes it.
func serveEcho(t testing.TB, s *sched.Scheduler, l *netio.Listener) *sched.Task {
	return s.Go(func() {
		c, err := l.AcceptConn()
		if err != nil {
			t.Errorf("accept: %v", err)
			return
		}
		defer c.Close()
		io.Copy(c, readerOnly{c})
	})
}

// echoRoundTrip writes msg to c and reads the echo.
func echoRoundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo: %q, %v; want %q", buf, err, msg)
	}
}

func TestFileListener(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = unixSocketPath(t)
			}
			nl, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			if ul, ok := nl.(*net.UnixListener); ok {
				ul.SetUnlinkOnClose(false) // the adopted copy keeps serving the path
			}
			f, err := nl.(interface{ File() (*os.File, error) }).File()
			if err != nil {
				t.Fatal(err)
			}
			s := runScheduler(t)
			l, err := netio.FileListener(s, f)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			// The originals go away; the copy keeps listening.
			f.Close()
			nl.Close()
			if l.Addr().Network() != network || l.Addr().String() != nl.Addr().String() {
				t.Errorf("Addr %s %q, want %s %q", l.Addr().Network(), l.Addr(), network, nl.Addr())
			}
			serveEcho(t, s, l)
			c, err := net.Dial(network, l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			echoRoundTrip(t, c, "through an inherited listener")
		})
	}
}

func TestAdoptListener(t *testing.T) {
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	s := runScheduler(t)
	l, err := netio.AdoptListener(s, nl)
	if err != nil {
		t.Fatal(err)
	}
	serveEcho(t, s, l)
	c, err := net.Dial("tcp", nl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echoRoundTrip(t, c, "adopted listener")
	// Closing the copy leaves the original listening.
	l.Close()
	go func() {
		if c, err := nl.Accept(); err == nil {
			c.Close()
		}
	}()
	c2, err := net.Dial("tcp", nl.Addr().String())
	if err != nil {
		t.Fatalf("original after the copy closed: %v", err)
	}
	c2.Close()
}

func TestAdoptConn(t *testing.T) {
	echo := startEcho(t)
	nc, err := net.Dial("tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	s := runScheduler(t)
	c, err := netio.AdoptConn(s, nc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LocalAddr().String() != nc.LocalAddr().String() || c.RemoteAddr().String() != nc.RemoteAddr().String() {
		t.Errorf("addresses %v -> %v, want %v -> %v", c.LocalAddr(), c.RemoteAddr(), nc.LocalAddr(), nc.RemoteAddr())
	}
	// Both work, then the original is closed and the copy goes on.
	echoRoundTrip(t, nc, "original")
	echoRoundTrip(t, c, "adopted")
	nc.Close()
	echoRoundTrip(t, c, "adopted, original closed")
	// From a task too.
	s.Go(func() { echoRoundTrip(t, c, "adopted, from a task") }).Wait()
	// The connection ends only when the last descriptor closes.
	c.CloseWrite()
	if b, err := io.ReadAll(readerOnly{c}); len(b) != 0 || err != nil {
		t.Errorf("after CloseWrite: %q, %v", b, err)
	}
}

func TestFileConnSocketpair(t *testing.T) {
	for _, tt := range []struct {
		network string
		typ     int
	}{{"unix", unix.SOCK_STREAM}, {"unixpacket", unix.SOCK_SEQPACKET}} {
		t.Run(tt.network, func(t *testing.T) {
			fds, err := unix.Socketpair(unix.AF_UNIX, tt.typ, 0)
			if err != nil {
				t.Fatal(err)
			}
			fa, fb := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
			runTasks(t, func(s *sched.Scheduler) {
				a, err := netio.FileConn(s, fa)
				if err != nil {
					t.Fatal(err)
				}
				b, err := netio.FileConn(s, fb)
				if err != nil {
					t.Fatal(err)
				}
				fa.Close()
				fb.Close()
				defer a.Close()
				defer b.Close()
				if got := a.LocalAddr().Network(); got != tt.network {
					t.Errorf("network %q, want %q", got, tt.network)
				}
				a.Write([]byte("one"))
				a.Write([]byte("two"))
				sched.Sleep(0)
				buf := make([]byte, 10)
				n, err := b.Read(buf)
				want := "onetwo" // a stream merges writes
				if tt.typ == unix.SOCK_SEQPACKET {
					want = "one" // a seqpacket socket keeps them apart
				}
				if err != nil || string(buf[:n]) != want {
					t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
				}
			})
		})
	}
}

func TestFilePacketConn(t *testing.T) {
	np, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := np.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	s := runScheduler(t)
	p, err := netio.FilePacketConn(s, f)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f.Close()
	np.Close()
	if p.LocalAddr().String() != np.LocalAddr().String() {
		t.Errorf("LocalAddr %v, want %v", p.LocalAddr(), np.LocalAddr())
	}
	udpEcho(t, s, p)
	c, err := net.Dial("udp", p.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("dns?"))
	buf := make([]byte, 20)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "echo dns?" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
}

// TestAdoptErrors: each adopter refuses what it cannot serve, with the
// standard library's error shapes, and leaks no descriptor.
func TestAdoptErrors(t *testing.T) {
	s := runScheduler(t)
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	nc, err := net.Dial("tcp", nl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	np, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer np.Close()
	regular, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	file := func(v any) *os.File {
		f, err := v.(interface{ File() (*os.File, error) }).File()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	fnl, fnp, fnc := file(nl), file(np), file(nc)

	for _, tt := range []struct {
		name    string
		call    func() (io.Closer, error)
		want    error
		op      string // of the *net.OpError
		syscall string // of the *os.SyscallError inside; "": there must be none
	}{
		// Not what the adopter serves: no system call failed, and none
		// is blamed; the errno sits right in the *net.OpError, as package
		// net puts it (net.FileConn and the like: Op "file", Net
		// "file+net", Err syscall.EINVAL).
		{"FileConn(listener)", func() (io.Closer, error) { return netio.FileConn(s, fnl) }, syscall.EINVAL, "file", ""},
		{"FileConn(udp)", func() (io.Closer, error) { return netio.FileConn(s, fnp) }, syscall.EINVAL, "file", ""},
		{"FileConn(regular file)", func() (io.Closer, error) { return netio.FileConn(s, regular) }, syscall.ENOTSOCK, "file", "getsockopt"},
		{"FileListener(conn)", func() (io.Closer, error) { return netio.FileListener(s, fnc) }, syscall.EINVAL, "file", ""},
		{"FilePacketConn(conn)", func() (io.Closer, error) { return netio.FilePacketConn(s, fnc) }, syscall.EINVAL, "file", ""},
		{"AdoptConn(net.Pipe)", func() (io.Closer, error) { return netio.AdoptConn(s, p1) }, errors.ErrUnsupported, "adopt", ""},
		{"AdoptListener(listener)", func() (io.Closer, error) { return netio.AdoptListener(s, nl) }, nil, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fds := openFDs(t)
			c, err := tt.call()
			if err != nil {
				if n := openFDs(t); n != fds {
					t.Errorf("%d descriptors open after the failure, %d before", n, fds)
				}
			}
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			checkAdoptError(t, err, tt.want, tt.op, tt.syscall)
		})
	}
}

// checkAdoptError checks that err is one *net.OpError of op around
// want: an *os.SyscallError of call around want if call is given, want
// itself (an errno) or an error wrapping it otherwise.
func checkAdoptError(t *testing.T, err, want error, op, call string) {
	t.Helper()
	oe, ok := err.(*net.OpError)
	if !ok || oe.Op != op || !errors.Is(err, want) {
		t.Fatalf("got %v (%#v), want a *net.OpError of %q matching %v", err, err, op, want)
	}
	if op == "file" && oe.Net != "file+net" {
		t.Errorf("Net %q, want file+net, as package net says", oe.Net)
	}
	var se *os.SyscallError
	switch {
	case call != "":
		if !errors.As(err, &se) || se.Syscall != call {
			t.Errorf("got %v, want an *os.SyscallError of %s inside", err, call)
		}
	case errors.As(err, &se):
		t.Errorf("got %v: blames %s, which did not fail", err, se.Syscall)
	default:
		if _, errno := want.(syscall.Errno); errno && oe.Err != want {
			t.Errorf("Err %#v, want %#v itself", oe.Err, want)
		}
	}
}

// openFDs counts the process's open descriptors, where the system lists
// them.
func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}
