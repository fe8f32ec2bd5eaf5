//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawSockaddr is a datagram's peer. Here the portable x/sys calls carry
// it (darwin and openbsd make system calls through libc).
type rawSockaddr struct {
	sa unix.Sockaddr
}

func recvFrom(fd int, b []byte, from *rawSockaddr) (int, syscall.Errno) {
	n, sa, err := unix.Recvfrom(fd, b, 0)
	if err != nil {
		return 0, errnoOf(err)
	}
	from.sa = sa
	return n, 0
}

func sendTo(fd int, b []byte, to *rawSockaddr) (int, syscall.Errno) {
	if err := unix.Sendto(fd, b, 0, to.sa); err != nil {
		return 0, errnoOf(err)
	}
	return len(b), 0
}

func (r *rawSockaddr) setAddrPort(family int, ap netip.AddrPort) error {
	ip := ap.Addr()
	if !ip.IsValid() {
		return errMissingAddress
	}
	switch family {
	case unix.AF_INET:
		ip = ip.Unmap()
		if !ip.Is4() {
			return &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
		}
		r.sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.As4()}
	case unix.AF_INET6:
		r.sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16(), ZoneId: zoneIndex(ip.Zone())}
	default:
		return syscall.EAFNOSUPPORT
	}
	return nil
}

func (r *rawSockaddr) setUnix(name string) error {
	if name == "" {
		return errMissingAddress
	}
	r.sa = &unix.SockaddrUnix{Name: name}
	return nil
}

func (r *rawSockaddr) addr(network string) net.Addr {
	if u, ok := r.sa.(*unix.SockaddrUnix); ok {
		return unixSenderAddr(network, u)
	}
	if r.sa == nil {
		return nil
	}
	return sockaddrToAddr(network, r.sa)
}

func (r *rawSockaddr) addrPort() netip.AddrPort {
	switch sa := r.sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			ip = ip.WithZone(zoneName(int(sa.ZoneId)))
		}
		return netip.AddrPortFrom(ip, uint16(sa.Port))
	}
	return netip.AddrPort{}
}
