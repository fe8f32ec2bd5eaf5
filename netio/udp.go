//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// A PacketConn is a datagram socket (UDP or unixgram) served by a
// scheduler: a DNS- or memcached-style server reads a request with
// ReadFrom and answers with WriteTo. It implements net.PacketConn and, like
// Conn, is safe for concurrent use by multiple goroutines: from a task of
// its scheduler a call that would block parks the task; from anywhere
// else it goes through Scheduler.Do and blocks only the caller.
//
// Readiness is remembered as for a Conn, with one difference: a read that
// returns less than the buffer says nothing about the queue behind it (a
// datagram is read whole), so only a receive that returns EAGAIN makes the
// next one wait for an edge.
//
// Like a zero net.UDPConn, a zero PacketConn's methods return
// syscall.EINVAL (LocalAddr nil).
type PacketConn struct {
	s        *sched.Scheduler
	fd       *sched.FD
	sysfd    int
	family   int // AF_INET, AF_INET6 or AF_UNIX
	net      string
	laddr    net.Addr
	unlink   string // a unixgram socket's path, removed on Close
	unlinked atomic.Bool
}

// ListenPacket binds a datagram socket to address on network "udp",
// "udp4", "udp6" or "unixgram" and serves it on scheduler s. Like Listen,
// it may be called before s runs, from a task of s, or from any other
// goroutine. A "udp" socket on a wildcard address takes IPv4 and IPv6; a
// "unixgram" socket bound to a path removes it on Close (an empty address
// binds an abstract name of the kernel's choice, on Linux).
func ListenPacket(s *sched.Scheduler, network, address string) (*PacketConn, error) {
	mustScheduler(s, "ListenPacket")
	switch network {
	case "udp", "udp4", "udp6", "unixgram":
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	p, err := listenPacket(s, network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: packetAddrFor(network, address), Err: mapErr(err)}
	}
	return p, nil
}

// packetAddrFor makes a best-effort net.Addr for error messages.
func packetAddrFor(network, address string) net.Addr {
	if network == "unixgram" {
		return &net.UnixAddr{Name: address, Net: network}
	}
	if a, err := net.ResolveUDPAddr(network, address); err == nil {
		return a
	}
	return nil
}

func listenPacket(s *sched.Scheduler, network, address string) (*PacketConn, error) {
	fam, sa, dual, err := bindSockaddr(network, address)
	if err != nil {
		return nil, err
	}
	fd, err := socket(fam, unix.SOCK_DGRAM, 0)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*PacketConn, error) {
		unix.Close(fd)
		return nil, err
	}
	if fam == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(!dual)); err != nil {
			return fail(wrapSyscall("setsockopt", err))
		}
	}
	if fam != unix.AF_UNIX {
		// As package net does for every datagram socket.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
			return fail(wrapSyscall("setsockopt", err))
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(wrapSyscall("bind", err))
	}
	lsa, err := unix.Getsockname(fd)
	if err != nil {
		return fail(wrapSyscall("getsockname", err))
	}
	p, err := newPacketConn(s, fd, fam, network, sockaddrToAddr(network, lsa))
	if err != nil {
		return nil, err
	}
	if network == "unixgram" && address != "" && address[0] != '@' {
		p.unlink = address
	}
	return p, nil
}

// newPacketConn registers the non-blocking datagram socket fd with s; it
// closes fd if it cannot. It may run on any goroutine: the socket's
// readiness is left to the first edges, which registration brings at once.
func newPacketConn(s *sched.Scheduler, fd, fam int, network string, laddr net.Addr) (*PacketConn, error) {
	f, err := s.Register(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &PacketConn{s: s, fd: f, sysfd: fd, family: fam, net: network, laddr: laddr}, nil
}

// ok reports whether p is a socket this package made: the methods of a
// zero (or nil) PacketConn return syscall.EINVAL, as a zero net.UDPConn's
// do (see Conn.ok).
func (p *PacketConn) ok() bool { return p != nil && p.s != nil }

// Scheduler returns the scheduler p belongs to.
func (p *PacketConn) Scheduler() *sched.Scheduler { return p.s }

// FD returns p's registered descriptor.
func (p *PacketConn) FD() *sched.FD { return p.fd }

func (p *PacketConn) onThread() bool {
	return p.s.Current() != nil
}

// ReadFrom reads one datagram into b and returns its length and sender.
// A datagram longer than b is truncated, the rest discarded. It implements
// net.PacketConn.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if !p.ok() {
		return 0, nil, syscall.EINVAL
	}
	if !p.onThread() {
		return p.readFromDo(b)
	}
	var from rawSockaddr
	n, err := p.recv(b, &from)
	if err != nil {
		return 0, nil, err
	}
	return n, from.addr(p.net), nil
}

func (p *PacketConn) readFromDo(b []byte) (n int, a net.Addr, err error) {
	if derr := p.s.Do(func() { n, a, err = p.ReadFrom(b) }); derr != nil {
		return 0, nil, p.opError("read", nil, derr)
	}
	return n, a, err
}

// ReadFromUDPAddrPort is ReadFrom for UDP, returning the sender as a
// netip.AddrPort: it allocates nothing. On a dual-stack socket an IPv4
// sender comes as an IPv4-mapped IPv6 address (see netip.Addr.Unmap), as
// with net.UDPConn.
func (p *PacketConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	if !p.ok() {
		return 0, netip.AddrPort{}, syscall.EINVAL
	}
	if !p.onThread() {
		return p.readFromUDPAddrPortDo(b)
	}
	var from rawSockaddr
	n, err := p.recv(b, &from)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	return n, from.addrPort(), nil
}

// readFromUDPAddrPortDo is ReadFromUDPAddrPort off the scheduler thread,
// apart so that its closure's allocations stay off the fast path.
func (p *PacketConn) readFromUDPAddrPortDo(b []byte) (n int, ap netip.AddrPort, err error) {
	if derr := p.s.Do(func() { n, ap, err = p.ReadFromUDPAddrPort(b) }); derr != nil {
		return 0, netip.AddrPort{}, p.opError("read", nil, derr)
	}
	return n, ap, err
}

// recv receives one datagram into b and its sender into from, waiting for
// one as needed. It runs on the scheduler thread.
func (p *PacketConn) recv(b []byte, from *rawSockaddr) (int, error) {
	fd := p.fd
	for {
		if err := fd.CheckRead(); err != nil {
			return 0, p.opError("read", nil, err)
		}
		if !fd.Readable() {
			if err := fd.WaitRead(); err != nil {
				return 0, p.opError("read", nil, err)
			}
		}
		n, e := recvFrom(p.sysfd, b, from)
		switch e {
		case 0:
			return n, nil
		case syscall.EAGAIN:
			// An error edge (an ICMP error on a connected socket) is
			// spent once a receive has reported it: unlike a stream's
			// hang-up it must not keep the socket readable.
			fd.ClearHangup()
		case syscall.EINTR:
		default:
			return 0, p.opError("read", nil, errnoErr("recvfrom", e))
		}
	}
}

// WriteTo sends b as one datagram to addr, a *net.UDPAddr or, for
// unixgram, a *net.UnixAddr. It implements net.PacketConn.
func (p *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if !p.ok() {
		return 0, syscall.EINVAL
	}
	var to rawSockaddr
	var err error
	switch a := addr.(type) {
	case *net.UDPAddr:
		if a == nil || p.family == unix.AF_UNIX {
			err = syscall.EINVAL
			break
		}
		err = to.setAddrPort(p.family, a.AddrPort())
	case *net.UnixAddr:
		if a == nil || p.family != unix.AF_UNIX {
			err = syscall.EINVAL
			break
		}
		err = to.setUnix(a.Name)
	case nil:
		err = errMissingAddress
	default:
		err = syscall.EINVAL
	}
	if err == nil {
		var n int
		if n, err = p.send(b, &to); err == nil {
			return n, nil
		}
	}
	return 0, p.opError("write", addr, err)
}

// WriteToUDPAddrPort is WriteTo for UDP with a netip.AddrPort: it
// allocates nothing (but for an error). An IPv4 address may be sent to
// from a dual-stack socket.
func (p *PacketConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if !p.ok() {
		return 0, syscall.EINVAL
	}
	var to rawSockaddr
	var err error
	if p.family == unix.AF_UNIX {
		err = syscall.EINVAL
	} else {
		err = to.setAddrPort(p.family, addr)
	}
	if err == nil {
		var n int
		if n, err = p.send(b, &to); err == nil {
			return n, nil
		}
	}
	return 0, p.opError("write", net.UDPAddrFromAddrPort(addr), err)
}

var errMissingAddress = errors.New("missing address")

// send sends one datagram to to, on the scheduler thread, waiting while
// the send buffer is full. The caller wraps its errors.
func (p *PacketConn) send(b []byte, to *rawSockaddr) (int, error) {
	if !p.onThread() {
		return p.sendDo(b, *to)
	}
	return p.sendOnThread(b, to)
}

// sendDo is send off the scheduler thread; to is a copy, so that the
// closure's allocations stay off the fast path.
func (p *PacketConn) sendDo(b []byte, to rawSockaddr) (n int, err error) {
	if derr := p.s.Do(func() { n, err = p.sendOnThread(b, &to) }); derr != nil {
		return 0, derr
	}
	return n, err
}

func (p *PacketConn) sendOnThread(b []byte, to *rawSockaddr) (int, error) {
	fd := p.fd
	for {
		if err := fd.CheckWrite(); err != nil {
			return 0, err
		}
		if !fd.Writable() {
			if err := fd.WaitWrite(); err != nil {
				return 0, err
			}
		}
		n, e := sendTo(p.sysfd, b, to)
		switch e {
		case 0:
			return n, nil
		case syscall.EAGAIN:
			fd.ClearWritable()
		case syscall.EINTR:
		default:
			return 0, errnoErr("sendto", e)
		}
	}
}

// Close closes the socket; blocked calls return an error matching
// net.ErrClosed. A unixgram socket's file is removed. It may be called
// from any goroutine.
func (p *PacketConn) Close() error {
	if !p.ok() {
		return syscall.EINVAL
	}
	if err := p.fd.Close(); err != nil {
		return p.opError("close", nil, err)
	}
	if p.unlink != "" && p.unlinked.CompareAndSwap(false, true) {
		os.Remove(p.unlink)
	}
	return nil
}

// LocalAddr returns the local address: a *net.UDPAddr or *net.UnixAddr.
func (p *PacketConn) LocalAddr() net.Addr {
	if !p.ok() {
		return nil
	}
	return p.laddr
}

// SetDeadline sets the read and write deadlines; see net.Conn.
func (p *PacketConn) SetDeadline(t time.Time) error {
	if !p.ok() {
		return syscall.EINVAL
	}
	return p.opError("set", nil, p.fd.SetDeadline(t))
}

// SetReadDeadline sets the deadline for ReadFrom.
func (p *PacketConn) SetReadDeadline(t time.Time) error {
	if !p.ok() {
		return syscall.EINVAL
	}
	return p.opError("set", nil, p.fd.SetReadDeadline(t))
}

// SetWriteDeadline sets the deadline for WriteTo.
func (p *PacketConn) SetWriteDeadline(t time.Time) error {
	if !p.ok() {
		return syscall.EINVAL
	}
	return p.opError("set", nil, p.fd.SetWriteDeadline(t))
}

// SetReadBuffer sets the socket's receive buffer size: a busy UDP server
// wants a big one, or datagrams are dropped while it is behind.
func (p *PacketConn) SetReadBuffer(bytes int) error {
	return p.setsockopt(unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
}

// SetWriteBuffer sets the socket's send buffer size.
func (p *PacketConn) SetWriteBuffer(bytes int) error {
	return p.setsockopt(unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
}

func (p *PacketConn) setsockopt(level, opt, value int) error {
	if !p.ok() {
		return syscall.EINVAL
	}
	var err error
	set := func() {
		if cerr := p.fd.CheckRead(); errors.Is(cerr, sched.ErrClosed) {
			err = cerr
			return
		}
		err = wrapSyscall("setsockopt", unix.SetsockoptInt(p.sysfd, level, opt, value))
	}
	if p.onThread() {
		set()
	} else if derr := p.s.Do(set); derr != nil {
		err = derr
	}
	return p.opError("set", nil, err)
}

// SyscallConn returns a raw connection to p's socket; see Conn.SyscallConn.
func (p *PacketConn) SyscallConn() (syscall.RawConn, error) {
	if !p.ok() {
		return nil, syscall.EINVAL
	}
	return &rawConn{s: p.s, fd: p.fd, sysfd: p.sysfd, net: p.net, laddr: p.laddr, datagram: true}, nil
}

// opError wraps err in a *net.OpError for op on p, to or from addr.
func (p *PacketConn) opError(op string, addr net.Addr, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*net.OpError); ok {
		return err
	}
	src := p.laddr
	if op == "close" || op == "set" {
		src = nil
	}
	return opError(op, p.net, src, addr, err)
}

var _ net.PacketConn = (*PacketConn)(nil)

// zoneIndex returns the interface index an IPv6 zone names.
func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n := uint32(0)
	for _, c := range []byte(zone) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + uint32(c-'0')
	}
	return n
}

// unixSenderAddr is the net.Addr of a unixgram sender: nil for an unbound
// one, as package net reports it.
func unixSenderAddr(network string, sa *unix.SockaddrUnix) net.Addr {
	if sa.Name == "" {
		return nil
	}
	return sockaddrToAddr(network, sa)
}
