package netio_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

func TestSyscallConn(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer a.Close()
		defer b.Close()
		var sc syscall.Conn = a // the interface package net's users look for
		rc, err := sc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		// Control: a socket option through the raw descriptor.
		var nodelay int
		var cerr error
		if err := rc.Control(func(fd uintptr) {
			nodelay, cerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
		}); err != nil || cerr != nil || nodelay == 0 {
			t.Fatalf("Control: %v, %v, TCP_NODELAY=%d", err, cerr, nodelay)
		}

		// Read: f is called, finds nothing, and is called again once data
		// has come.
		brc, _ := b.SyscallConn()
		calls := 0
		s.Go(func() {
			sched.Sleep(10 * time.Millisecond)
			a.Write([]byte("raw"))
		})
		buf := make([]byte, 10)
		var n int
		err = brc.Read(func(fd uintptr) bool {
			calls++
			var e error
			n, e = unix.Read(int(fd), buf)
			return e != unix.EAGAIN
		})
		if err != nil || string(buf[:n]) != "raw" || calls != 2 {
			t.Fatalf("Read: %v, %q after %d calls; want \"raw\" after 2", err, buf[:n], calls)
		}

		// Write.
		if err := rc.Write(func(fd uintptr) bool {
			_, e := unix.Write(int(fd), []byte("back"))
			return e != unix.EAGAIN
		}); err != nil {
			t.Fatal(err)
		}
		if n, err := b.Read(buf); err != nil || string(buf[:n]) != "back" {
			t.Fatalf("after raw Write: %q, %v", buf[:n], err)
		}

		// Read honors the read deadline.
		b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		err = brc.Read(func(uintptr) bool { return false })
		wantTimeout(t, err)
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "raw-read" {
			t.Errorf("error %#v, want a *net.OpError for raw-read", err)
		}
	})
}

// TestSyscallConnCloseWakes: Close from a plain goroutine wakes a raw Read
// blocked in a task.
func TestSyscallConnCloseWakes(t *testing.T) {
	s := runScheduler(t)
	var a, b *netio.Conn
	s.Go(func() { a, b = tcpPairOn(t, s) }).Wait()
	defer a.Close()
	rc, _ := b.SyscallConn()
	errc := make(chan error, 1)
	s.Go(func() { errc <- rc.Read(func(uintptr) bool { return false }) })
	time.Sleep(20 * time.Millisecond)
	b.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("raw Read after Close: %v, want net.ErrClosed", err)
	}
	if err := rc.Write(func(uintptr) bool { return true }); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("raw Write after Close: %v, want net.ErrClosed", err)
	}
}

// TestSyscallConnHangupNoSpin: after the peer hangs up a stream stays
// readable, so an f that keeps returning false must not keep the thread:
// the read deadline still fires.
func TestSyscallConnHangupNoSpin(t *testing.T) {
	hang := time.AfterFunc(10*time.Second, func() { panic("TestSyscallConnHangupNoSpin: the scheduler thread is stuck") })
	defer hang.Stop()
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer b.Close()
		a.Close()
		buf := make([]byte, 1)
		if _, err := b.Read(buf); err == nil {
			t.Fatal("read after the peer closed: no error")
		}
		rc, _ := b.SyscallConn()
		b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		wantTimeout(t, rc.Read(func(uintptr) bool { return false }))
	})
}
