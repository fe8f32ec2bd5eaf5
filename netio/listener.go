//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// A Listener is a listening stream socket served by a scheduler. It
// implements net.Listener. Accept parks the calling task until a
// connection arrives; from any other goroutine it blocks only the caller.
// Like a zero net.TCPListener, a zero Listener's methods return
// syscall.EINVAL (Addr nil).
type Listener struct {
	s      *sched.Scheduler
	fd     *sched.FD
	sysfd  int
	net    string
	addr   net.Addr
	unlink string // a Unix socket's path, removed on Close
}

// ListenConfig holds options for listening, as net.ListenConfig does.
type ListenConfig struct {
	// Backlog is the length of the kernel's accept queue; 0 means the
	// system's maximum (somaxconn), as package net uses.
	Backlog int
	// ReusePort sets SO_REUSEPORT, so that several listeners, typically
	// one per scheduler of a sched.Group, share one port and the kernel
	// spreads incoming connections among them.
	ReusePort bool
	// Exclusive registers the listener with EPOLLEXCLUSIVE on Linux
	// (sched.Scheduler.RegisterExclusive): for one listening socket that
	// several schedulers or processes accept from, so that a connection
	// wakes one of them rather than all. It applies to Listen and to
	// ListenConfig.FileListener.
	Exclusive bool
	// Control, if not nil, is called after the socket is created and
	// before it is bound, as with net.ListenConfig.Control.
	Control func(network, address string, c syscall.RawConn) error
}

// Listen listens on the address for network "tcp", "tcp4", "tcp6" or
// "unix", serving its connections on scheduler s. It may be called before
// s runs, from a task of s, or from any other goroutine.
func Listen(s *sched.Scheduler, network, address string) (*Listener, error) {
	mustScheduler(s, "Listen")
	var lc ListenConfig
	return lc.Listen(s, network, address)
}

// Listen is like the package-level Listen with lc's options.
func (lc *ListenConfig) Listen(s *sched.Scheduler, network, address string) (*Listener, error) {
	mustScheduler(s, "ListenConfig.Listen")
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	l, err := lc.listen(s, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: addrFor(network, address), Err: mapErr(err)}
	}
	return l, nil
}

// addrFor makes a best-effort net.Addr for error messages.
func addrFor(network, address string) net.Addr {
	if network == "unix" {
		return &net.UnixAddr{Name: address, Net: network}
	}
	if a, err := net.ResolveTCPAddr(network, address); err == nil {
		return a
	}
	return nil
}

// bindSockaddr resolves the local address a listening socket binds:
// a path for the Unix networks, else an IP address and port, with the
// socket family (dual: an IPv6 socket that also takes IPv4).
func bindSockaddr(network, address string) (fam int, sa unix.Sockaddr, dual bool, err error) {
	if network == "unix" || network == "unixgram" {
		return unix.AF_UNIX, &unix.SockaddrUnix{Name: address}, false, nil
	}
	addrs, zone, err := resolveIP(context.Background(), network, address)
	if err != nil {
		return 0, nil, false, err
	}
	ap := addrs[0]
	var ip net.IP
	if ap.Addr().IsValid() {
		ip = net.IP(ap.Addr().AsSlice())
	}
	fam, dual = family(network, ip)
	sa, err = ipSockaddr(fam, ip, int(ap.Port()), zone)
	return fam, sa, dual, err
}

func (lc *ListenConfig) listen(s *sched.Scheduler, network, address string) (*Listener, error) {
	fam, sa, dual, err := bindSockaddr(network, address)
	if err != nil {
		return nil, err
	}
	fd, err := socket(fam, unix.SOCK_STREAM, 0)
	if err != nil {
		return nil, err
	}
	if err := lc.setup(fd, fam, dual, network, address); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, wrapSyscall("bind", err)
	}
	backlog := lc.Backlog
	if backlog <= 0 {
		backlog = maxListenerBacklog()
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return nil, wrapSyscall("listen", err)
	}
	lsa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, wrapSyscall("getsockname", err)
	}
	f, err := lc.register(s, fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	l := &Listener{s: s, fd: f, sysfd: fd, net: network, addr: sockaddrToAddr(network, lsa)}
	if network == "unix" && address != "" && address[0] != '@' {
		l.unlink = address
	}
	return l, nil
}

// register registers a listening socket with s, exclusively if asked.
func (lc *ListenConfig) register(s *sched.Scheduler, fd int) (*sched.FD, error) {
	if lc != nil && lc.Exclusive {
		return s.RegisterExclusive(fd)
	}
	return s.Register(fd)
}

// setup sets the options of a new listening socket.
func (lc *ListenConfig) setup(fd, fam int, dual bool, network, address string) error {
	if fam != unix.AF_UNIX {
		// Like package net: rebinding a port in TIME_WAIT is allowed.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return wrapSyscall("setsockopt", err)
		}
	}
	if fam == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(!dual)); err != nil {
			return wrapSyscall("setsockopt", err)
		}
	}
	if lc.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return wrapSyscall("setsockopt", err)
		}
	}
	if lc.Control != nil {
		if err := lc.Control(network, address, rawFD(fd)); err != nil {
			return err
		}
	}
	return nil
}

// maxListenerBacklog reads the kernel's limit, as package net does.
func maxListenerBacklog() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return unix.SOMAXCONN
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	if n <= 0 {
		return unix.SOMAXCONN
	}
	return min(n, 1<<16-1)
}

// ok reports whether l is a listener this package made: the methods of a
// zero (or nil) Listener return syscall.EINVAL, as a zero
// net.TCPListener's do (see Conn.ok).
func (l *Listener) ok() bool { return l != nil && l.s != nil }

// Scheduler returns the scheduler l belongs to.
func (l *Listener) Scheduler() *sched.Scheduler { return l.s }

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr {
	if !l.ok() {
		return nil
	}
	return l.addr
}

// Accept waits for and returns the next connection. It implements
// net.Listener; AcceptConn returns the *Conn itself.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptConn()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptConn waits for and returns the next connection.
//
// An error from accept that concerns the system rather than the listener
// — EMFILE, ENFILE, ENOBUFS, ENOMEM — is returned as a *net.OpError
// wrapping the *os.SyscallError: a server should back off and try again
// (Server does), not stop.
func (l *Listener) AcceptConn() (*Conn, error) {
	if !l.ok() {
		return nil, syscall.EINVAL
	}
	if l.s.Current() == nil {
		var c *Conn
		var err error
		if derr := l.s.Do(func() { c, err = l.accept() }); derr != nil {
			return nil, l.opError("accept", derr)
		}
		return c, err
	}
	return l.accept()
}

func (l *Listener) accept() (*Conn, error) {
	fd := l.fd
	for {
		if err := fd.CheckRead(); err != nil {
			return nil, l.opError("accept", err)
		}
		if !fd.Readable() {
			if err := fd.WaitRead(); err != nil {
				return nil, l.opError("accept", err)
			}
		}
		nfd, rsa, e := rawAccept(l.sysfd)
		if e != 0 {
			switch e {
			case syscall.EAGAIN:
				fd.ClearReadable()
				continue
			case syscall.EINTR, syscall.ECONNABORTED:
				// The connection was reset before we took it: not the
				// listener's problem.
				continue
			}
			return nil, l.opError("accept", errnoErr("accept", e))
		}
		if l.net != "unix" {
			// Package net sets no-delay on every TCP connection.
			unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		c, err := newConn(l.s, nfd, l.net, nil, nil)
		if err != nil {
			return nil, l.opError("accept", err)
		}
		if l.net == "unix" {
			c.laddr = l.addr
			if rsa != nil {
				c.raddr = sockaddrToAddr(l.net, rsa)
			}
			return c, nil
		}
		// Addresses are kept raw and made into net.Addrs on demand; a
		// listener bound to one address needs no getsockname to know
		// the local one.
		c.ra = rawFromSockaddr(rsa)
		if la, ok := rawFromAddr(l.addr); ok {
			c.la = la
		} else if lsa, err := unix.Getsockname(nfd); err == nil {
			c.la = rawFromSockaddr(lsa)
		}
		return c, nil
	}
}

// Close stops listening; blocked Accepts return an error matching
// net.ErrClosed. Connections already accepted are not affected. For a
// Unix socket, Close removes the socket file. It may be called from any
// goroutine.
func (l *Listener) Close() error {
	if !l.ok() {
		return syscall.EINVAL
	}
	if err := l.fd.Close(); err != nil {
		return l.opError("close", err)
	}
	// fd.Close succeeds exactly once, so the file is removed once.
	if l.unlink != "" {
		os.Remove(l.unlink)
	}
	return nil
}

// SetDeadline sets the deadline for Accept; the zero time means none.
func (l *Listener) SetDeadline(t time.Time) error {
	if !l.ok() {
		return syscall.EINVAL
	}
	if err := l.fd.SetReadDeadline(t); err != nil {
		return l.opError("set", err)
	}
	return nil
}

// FD returns l's registered descriptor.
func (l *Listener) FD() *sched.FD { return l.fd }

// opError wraps err in a *net.OpError for op on l: "accept", "close" or
// "set", as package net names them.
func (l *Listener) opError(op string, err error) error {
	if _, ok := err.(*net.OpError); ok {
		return err
	}
	return &net.OpError{Op: op, Net: l.net, Addr: l.addr, Err: mapErr(err)}
}

func (l *Listener) String() string { return fmt.Sprintf("listener %s %v", l.net, l.addr) }

var _ net.Listener = (*Listener)(nil)

// rawFD is a syscall.RawConn over a descriptor that is not registered yet
// (ListenConfig.Control and Dialer.Control): nothing can be waited for.
type rawFD int

func (fd rawFD) Control(f func(uintptr)) error { f(uintptr(fd)); return nil }

func (fd rawFD) Read(f func(uintptr) bool) error {
	if !f(uintptr(fd)) {
		return syscall.EAGAIN
	}
	return nil
}

func (fd rawFD) Write(f func(uintptr) bool) error {
	if !f(uintptr(fd)) {
		return syscall.EAGAIN
	}
	return nil
}
