//go:build linux

package netio

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSockaddr is a datagram's peer in the kernel's own layout, so that
// receiving and sending pass it straight to raw system calls with no
// conversion and no allocation.
type rawSockaddr struct {
	any unix.RawSockaddrAny
	len uint32
}

// recvFrom receives one datagram. The socket is non-blocking: raw.
func recvFrom(fd int, b []byte, from *rawSockaddr) (int, syscall.Errno) {
	var ptr unsafe.Pointer
	if len(b) > 0 {
		ptr = unsafe.Pointer(&b[0])
	}
	from.len = unix.SizeofSockaddrAny
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(ptr), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&from.any)), uintptr(unsafe.Pointer(&from.len)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// sendTo sends one datagram, with MSG_NOSIGNAL as rawWrite does.
func sendTo(fd int, b []byte, to *rawSockaddr) (int, syscall.Errno) {
	var ptr unsafe.Pointer
	if len(b) > 0 {
		ptr = unsafe.Pointer(&b[0])
	}
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(ptr), uintptr(len(b)), unix.MSG_NOSIGNAL,
		uintptr(unsafe.Pointer(&to.any)), uintptr(to.len))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// setAddrPort sets r to ap for a socket of family: an IPv4 address goes
// to an IPv6 socket as IPv4-mapped.
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
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.any))
		sa.Family = unix.AF_INET
		putPort(&sa.Port, ap.Port())
		sa.Addr = ip.As4()
		r.len = unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.any))
		sa.Family = unix.AF_INET6
		putPort(&sa.Port, ap.Port())
		sa.Addr = ip.As16()
		sa.Scope_id = zoneIndex(ip.Zone())
		r.len = unix.SizeofSockaddrInet6
	default:
		return syscall.EAFNOSUPPORT
	}
	return nil
}

// setUnix sets r to a unixgram path; a leading '@' names an abstract
// socket, as in package net.
func (r *rawSockaddr) setUnix(name string) error {
	sa := (*unix.RawSockaddrUnix)(unsafe.Pointer(&r.any))
	path := (*[len(sa.Path)]byte)(unsafe.Pointer(&sa.Path))
	n := len(name)
	if n == 0 {
		return errMissingAddress
	}
	if n >= len(path) {
		return syscall.EINVAL
	}
	sa.Family = unix.AF_UNIX
	copy(path[:], name)
	r.len = uint32(2 + n + 1)
	if name[0] == '@' {
		path[0] = 0
		r.len-- // an abstract name has no trailing NUL
	}
	return nil
}

// addr returns r as the net.Addr package net would report.
func (r *rawSockaddr) addr(network string) net.Addr {
	sa, err := anyToSockaddr(&r.any)
	if err != nil {
		return nil
	}
	if u, ok := sa.(*unix.SockaddrUnix); ok {
		return unixSenderAddr(network, u)
	}
	return sockaddrToAddr(network, sa)
}

// addrPort returns r as a netip.AddrPort, or the zero one for a
// non-IP address.
func (r *rawSockaddr) addrPort() netip.AddrPort {
	switch r.any.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.any))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.any))
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			ip = ip.WithZone(zoneName(int(sa.Scope_id)))
		}
		return netip.AddrPortFrom(ip, getPort(&sa.Port))
	}
	return netip.AddrPort{}
}
