//go:build linux

package models

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Backlog is every model's listen backlog (net and gnet use the kernel's
// somaxconn, 4096 on the machines we use; the raw models pass the same).
const Backlog = 4096

// listenFD returns a listening IPv4 TCP socket on addr, non-blocking or
// blocking, and the address it is bound to. With reusePort the socket sets
// SO_REUSEPORT before it binds, so that other such sockets may bind the same
// address and the kernel spreads incoming connections over all of them.
func listenFD(addr string, nonblock, reusePort bool) (int, string, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return -1, "", fmt.Errorf("listen %q: need an IPv4 ip:port", addr)
	}
	flags := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	if nonblock {
		flags |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(unix.AF_INET, flags, 0)
	if err != nil {
		return -1, "", os.NewSyscallError("socket", err)
	}
	fail := func(op string, err error) (int, string, error) {
		unix.Close(fd)
		return -1, "", &net.OpError{Op: "listen", Net: "tcp4", Addr: net.TCPAddrFromAddrPort(ap), Err: os.NewSyscallError(op, err)}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, Backlog); err != nil {
		return fail("listen", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	in4 := sa.(*unix.SockaddrInet4)
	return fd, netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)).String(), nil
}

// sessionErrors counts unexpected session errors; only the first few are
// printed, so that a broken model shows why without flooding the output.
var sessionErrors atomic.Int64

// endSession reports how a session ended. The client closes with a reset,
// so EOF, ECONNRESET and EPIPE are the normal ends; anything else is
// printed on stderr, which the harness shows.
func endSession(model string, err error) {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return
	}
	if n := sessionErrors.Add(1); n <= 5 {
		fmt.Fprintf(os.Stderr, "%s: session error: %v\n", model, err)
	}
}

// isTemporaryAccept reports accept errors after which a server must keep
// serving: out of descriptors or memory, or a connection aborted before it
// was accepted. A server must never stop on one of these.
func isTemporaryAccept(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EINTR)
}
