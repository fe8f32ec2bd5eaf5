//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// Adopting descriptors made elsewhere: sockets inherited from a parent or
// passed by systemd's socket activation (FileConn, FileListener,
// FilePacketConn on an *os.File), and connections or listeners of the
// standard library (AdoptConn, AdoptListener, AdoptPacketConn).
//
// Each takes a duplicate of the descriptor (fcntl F_DUPFD_CLOEXEC, through
// SyscallConn().Control: never os.File.Fd, which would switch the file to
// blocking mode), so the caller keeps the original and must close it; the
// copy and the original can be closed independently, and the socket lives
// until both are. The duplicate is put in non-blocking mode. That mode
// belongs to the socket, not to the descriptor, so the original is
// non-blocking from then on too: leave its I/O to the adopted value. The
// socket's type and family (SO_TYPE, getsockname) say what it is: TCP, UDP
// or a Unix socket of the matching kind.
//
// Like Listen, these may be called before s runs, from a task of s, or from
// any other goroutine. The adopted value starts with no readiness known:
// the poller's first edges, which come at once, say what is.

// FileConn returns a Conn for a copy of f, a connected stream socket
// (TCP, Unix stream or seqpacket).
func FileConn(s *sched.Scheduler, f *os.File) (*Conn, error) {
	mustScheduler(s, "FileConn")
	sysfd, err := dupFile(f)
	if err != nil {
		return nil, fileError(f, err)
	}
	c, err := adoptConn(s, sysfd)
	if err != nil {
		return nil, fileError(f, err)
	}
	return c, nil
}

// FileListener returns a Listener for a copy of f, a listening TCP or Unix
// stream socket. Closing the Listener does not remove a Unix socket's file:
// whoever bound it owns it.
func FileListener(s *sched.Scheduler, f *os.File) (*Listener, error) {
	mustScheduler(s, "FileListener")
	sysfd, err := dupFile(f)
	if err != nil {
		return nil, fileError(f, err)
	}
	l, err := adoptListener(s, sysfd, nil)
	if err != nil {
		return nil, fileError(f, err)
	}
	return l, nil
}

// FileListener is the package-level FileListener with lc's options; of
// them, only Exclusive applies to a socket that is already listening.
func (lc *ListenConfig) FileListener(s *sched.Scheduler, f *os.File) (*Listener, error) {
	mustScheduler(s, "ListenConfig.FileListener")
	sysfd, err := dupFile(f)
	if err != nil {
		return nil, fileError(f, err)
	}
	l, err := adoptListener(s, sysfd, lc)
	if err != nil {
		return nil, fileError(f, err)
	}
	return l, nil
}

// FilePacketConn returns a PacketConn for a copy of f, a UDP or unixgram
// socket.
func FilePacketConn(s *sched.Scheduler, f *os.File) (*PacketConn, error) {
	mustScheduler(s, "FilePacketConn")
	sysfd, err := dupFile(f)
	if err != nil {
		return nil, fileError(f, err)
	}
	p, err := adoptPacketConn(s, sysfd)
	if err != nil {
		return nil, fileError(f, err)
	}
	return p, nil
}

// AdoptConn returns a Conn for a copy of c's socket. c must be a
// syscall.Conn, as *net.TCPConn and *net.UnixConn are (a *tls.Conn is
// not); it stays open, and the caller closes it.
func AdoptConn(s *sched.Scheduler, c net.Conn) (*Conn, error) {
	mustScheduler(s, "AdoptConn")
	sysfd, err := dupConn(c)
	if err != nil {
		return nil, adoptError(c, err)
	}
	nc, err := adoptConn(s, sysfd)
	if err != nil {
		return nil, adoptError(c, err)
	}
	return nc, nil
}

// AdoptListener returns a Listener for a copy of l's socket, which must be
// a syscall.Conn (*net.TCPListener, *net.UnixListener). l stays open, and
// the caller closes it; a Unix listener's file stays too, as with
// FileListener.
func AdoptListener(s *sched.Scheduler, l net.Listener) (*Listener, error) {
	mustScheduler(s, "AdoptListener")
	sysfd, err := dupConn(l)
	if err != nil {
		return nil, adoptError(l, err)
	}
	nl, err := adoptListener(s, sysfd, nil)
	if err != nil {
		return nil, adoptError(l, err)
	}
	return nl, nil
}

// AdoptPacketConn returns a PacketConn for a copy of c's socket, which
// must be a syscall.Conn (*net.UDPConn, *net.UnixConn). c stays open.
func AdoptPacketConn(s *sched.Scheduler, c net.PacketConn) (*PacketConn, error) {
	mustScheduler(s, "AdoptPacketConn")
	sysfd, err := dupConn(c)
	if err != nil {
		return nil, adoptError(c, err)
	}
	p, err := adoptPacketConn(s, sysfd)
	if err != nil {
		return nil, adoptError(c, err)
	}
	return p, nil
}

// fileAddr is the address of an adopted file in errors, as in package net.
type fileAddr string

func (fileAddr) Network() string  { return "file+net" }
func (f fileAddr) String() string { return string(f) }

// fileError wraps the error of making a socket from f. A nil f, which
// os.File's methods report as os.ErrInvalid, has no name.
func fileError(f *os.File, err error) error {
	name := ""
	if f != nil {
		name = f.Name()
	}
	return &net.OpError{Op: "file", Net: "file+net", Addr: fileAddr(name), Err: mapErr(err)}
}

// adoptError wraps the error of adopting v, a net.Conn, net.Listener or
// net.PacketConn, named by its address; a nil v has none.
func adoptError(v any, err error) error {
	var addr net.Addr
	switch v := v.(type) {
	case net.Conn:
		addr = v.LocalAddr()
	case net.PacketConn:
		addr = v.LocalAddr()
	case net.Listener:
		addr = v.Addr()
	}
	network := ""
	if addr != nil {
		network = addr.Network()
	}
	return &net.OpError{Op: "adopt", Net: network, Addr: addr, Err: mapErr(err)}
}

// dupFile duplicates f's descriptor.
func dupFile(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, err
	}
	return dupRaw(rc)
}

// dupConn duplicates the descriptor of a standard library connection or
// listener.
func dupConn(v any) (int, error) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("netio: %T has no descriptor (not a syscall.Conn): %w", v, errors.ErrUnsupported)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	return dupRaw(rc)
}

// dupRaw duplicates rc's descriptor, close-on-exec and non-blocking.
func dupRaw(rc syscall.RawConn) (int, error) {
	nfd := -1
	var derr error
	err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, wrapSyscall("fcntl", derr)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, wrapSyscall("setnonblock", err)
	}
	return nfd, nil
}

// sockInfo is what an adopted socket turns out to be.
type sockInfo struct {
	network   string // tcp, udp, unix, unixgram, unixpacket
	family    int
	sotype    int
	listening bool
	lsa       unix.Sockaddr
}

// inspect reads the socket's type, family, local address, and whether it
// listens.
func inspect(fd int) (sockInfo, error) {
	var si sockInfo
	var err error
	if si.sotype, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return si, wrapSyscall("getsockopt", err) // ENOTSOCK for a non-socket
	}
	if si.lsa, err = unix.Getsockname(fd); err != nil {
		return si, wrapSyscall("getsockname", err)
	}
	switch si.lsa.(type) {
	case *unix.SockaddrInet4:
		si.family = unix.AF_INET
	case *unix.SockaddrInet6:
		si.family = unix.AF_INET6
	case *unix.SockaddrUnix:
		si.family = unix.AF_UNIX
	default:
		// A family netio does not serve. getsockname succeeded: no system
		// call is blamed, and the errno is package net's for the case.
		return si, syscall.EPROTONOSUPPORT
	}
	inet := si.family != unix.AF_UNIX
	switch {
	case si.sotype == unix.SOCK_STREAM && inet:
		si.network = "tcp"
	case si.sotype == unix.SOCK_DGRAM && inet:
		si.network = "udp"
	case si.sotype == unix.SOCK_STREAM:
		si.network = "unix"
	case si.sotype == unix.SOCK_DGRAM:
		si.network = "unixgram"
	case si.sotype == unix.SOCK_SEQPACKET:
		si.network = "unixpacket"
	default:
		return si, syscall.EPROTONOSUPPORT // as for an unknown family
	}
	// Where the system cannot say, take the caller's word for it.
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil {
		si.listening = v != 0
	}
	return si, nil
}

// adoptConn makes a Conn of the connected stream socket sysfd, closing
// sysfd on failure.
func adoptConn(s *sched.Scheduler, sysfd int) (*Conn, error) {
	si, err := inspect(sysfd)
	if err == nil && (si.sotype == unix.SOCK_DGRAM || si.listening) {
		err = syscall.EINVAL // not a connection; package net's errno for what it cannot adopt
	}
	if err != nil {
		unix.Close(sysfd)
		return nil, err
	}
	if si.network == "tcp" {
		// As for every TCP connection netio and package net make.
		unix.SetsockoptInt(sysfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	var raddr net.Addr
	if rsa, err := unix.Getpeername(sysfd); err == nil {
		raddr = sockaddrToAddr(si.network, rsa)
	}
	fd, err := s.Register(sysfd)
	if err != nil {
		unix.Close(sysfd)
		return nil, err
	}
	// Not connFrom: its MarkWritable is for the scheduler thread, and this
	// may run on any goroutine.
	return &Conn{s: s, fd: fd, sysfd: sysfd, net: si.network, laddr: sockaddrToAddr(si.network, si.lsa), raddr: raddr,
		stream: si.sotype == unix.SOCK_STREAM}, nil
}

// adoptListener makes a Listener of the listening socket sysfd, closing
// sysfd on failure.
func adoptListener(s *sched.Scheduler, sysfd int, lc *ListenConfig) (*Listener, error) {
	si, err := inspect(sysfd)
	if err == nil && (si.sotype != unix.SOCK_STREAM || !si.listening) {
		err = syscall.EINVAL // not a listening stream socket, as in adoptConn
	}
	if err != nil {
		unix.Close(sysfd)
		return nil, err
	}
	fd, err := lc.register(s, sysfd)
	if err != nil {
		unix.Close(sysfd)
		return nil, err
	}
	return &Listener{s: s, fd: fd, sysfd: sysfd, net: si.network, addr: sockaddrToAddr(si.network, si.lsa)}, nil
}

// adoptPacketConn makes a PacketConn of the datagram socket sysfd,
// closing sysfd on failure.
func adoptPacketConn(s *sched.Scheduler, sysfd int) (*PacketConn, error) {
	si, err := inspect(sysfd)
	if err == nil && si.sotype != unix.SOCK_DGRAM {
		err = syscall.EINVAL // not a datagram socket, as in adoptConn
	}
	if err != nil {
		unix.Close(sysfd)
		return nil, err
	}
	return newPacketConn(s, sysfd, si.family, si.network, sockaddrToAddr(si.network, si.lsa))
}
