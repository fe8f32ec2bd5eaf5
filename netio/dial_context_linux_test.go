//go:build linux

package netio_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// blackhole returns the address of a loopback listener whose accept queue
// is full, so that a new connect to it stays in progress: Linux drops the
// SYNs of a listener that has no room, and the client retransmits for
// minutes. Everything is closed at cleanup.
func blackhole(t *testing.T) string {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(lfd) })
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 0); err != nil { // room for one
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port)
	// Fill the queue: connects until one stays in progress.
	for i := 0; ; i++ {
		if i == 16 {
			t.Skip("could not fill a listener's accept queue (does this kernel drop SYNs when it is full?)")
		}
		c, err := (&net.Dialer{Timeout: 200 * time.Millisecond}).Dial("tcp", addr)
		if err != nil {
			break // in progress for 200 ms: the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

// TestDialContextCancel: cancelling the context ends a connect in
// progress at once, closes its socket, and fails as net.Dialer's
// DialContext does, to the error message.
func TestDialContextCancel(t *testing.T) {
	addr := blackhole(t)
	s := runScheduler(t)
	s.Do(func() {}) // Run has made its poller
	fds := openFDs(t)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	var d netio.Dialer
	c, err := d.DialContext(ctx, s, "tcp", addr) // from a goroutine: through Do
	if err == nil {
		c.Close()
		t.Fatal("DialContext to a full listener succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the cancelled dial took %v", took)
	}
	if got := openFDs(t); got > fds {
		ents, _ := os.ReadDir("/proc/self/fd")
		var links []string
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			links = append(links, e.Name()+"="+l)
		}
		t.Errorf("descriptors %d → %d: the abandoned connect's socket is still open: %v", fds, got, links)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	_, nerr := (&net.Dialer{}).DialContext(ctx2, "tcp", addr)
	if nerr == nil || err.Error() != nerr.Error() {
		t.Errorf("error %q, net's is %q", err, nerr)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, context.Canceled) {
		t.Errorf("error %#v, want a dial *net.OpError matching context.Canceled", err)
	}

	// The same from a task of s.
	var terr error
	s.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		sched.Current().Scheduler().Go(func() {
			sched.Sleep(50 * time.Millisecond)
			cancel()
		})
		_, terr = netio.DialContext(ctx, s, "tcp", addr)
	})
	if terr == nil || terr.Error() != nerr.Error() {
		t.Errorf("from a task: %v, want %v", terr, nerr)
	}
}

// TestDialContextDeadline: the context's deadline bounds the connect, and
// the error is net's "i/o timeout", matching both context.DeadlineExceeded
// and os.ErrDeadlineExceeded.
func TestDialContextDeadline(t *testing.T) {
	addr := blackhole(t)
	s := runScheduler(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := netio.DialContext(ctx, s, "tcp", addr)
	if err == nil {
		t.Fatal("DialContext to a full listener succeeded")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("error %v: want a timeout matching context.DeadlineExceeded and os.ErrDeadlineExceeded", err)
	}
	if !strings.HasSuffix(err.Error(), ": i/o timeout") {
		t.Errorf("error %q, want net's i/o timeout", err)
	}
}

// TestDialContextDone: a dial under a context that has already ended
// fails without connecting; one that never ends works as Dial.
func TestDialContextDone(t *testing.T) {
	s := runScheduler(t)
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c, err := netio.DialContext(ctx, s, "tcp", l.Addr().String()); err == nil || !errors.Is(err, context.Canceled) {
		if c != nil {
			c.Close()
		}
		t.Errorf("DialContext with a cancelled context: %v, want context.Canceled", err)
	}
	c, err := netio.DialContext(context.Background(), s, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
