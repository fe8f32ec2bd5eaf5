//go:build linux

package netio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// anyToSockaddr decodes the address accept4 filled in, so that accepting
// costs no getpeername call.
func anyToSockaddr(rsa *unix.RawSockaddrAny) (unix.Sockaddr, error) {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		pp := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		sa := &unix.SockaddrInet4{Addr: pp.Addr}
		p := (*[2]byte)(unsafe.Pointer(&pp.Port))
		sa.Port = int(p[0])<<8 + int(p[1])
		return sa, nil
	case unix.AF_INET6:
		pp := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		sa := &unix.SockaddrInet6{Addr: pp.Addr, ZoneId: pp.Scope_id}
		p := (*[2]byte)(unsafe.Pointer(&pp.Port))
		sa.Port = int(p[0])<<8 + int(p[1])
		return sa, nil
	case unix.AF_UNIX:
		pp := (*unix.RawSockaddrUnix)(unsafe.Pointer(rsa))
		n := 0
		for n < len(pp.Path) && pp.Path[n] != 0 {
			n++
		}
		// An abstract socket starts with a NUL byte, shown as '@'.
		if n == 0 && pp.Path[0] == 0 && pp.Path[1] != 0 {
			n = 1
			for n < len(pp.Path) && pp.Path[n] != 0 {
				n++
			}
		}
		b := make([]byte, n)
		for i := range n {
			b[i] = byte(pp.Path[i])
		}
		if n > 0 && b[0] == 0 {
			b[0] = '@'
		}
		return &unix.SockaddrUnix{Name: string(b)}, nil
	}
	return nil, unix.EAFNOSUPPORT
}
