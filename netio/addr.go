//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// sockaddrToAddr converts a socket address to the net.Addr the standard
// library would report for network net ("tcp", "udp", "unix", ...).
func sockaddrToAddr(network string, sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		ip := net.IP(append([]byte(nil), sa.Addr[:]...))
		if isUDP(network) {
			return &net.UDPAddr{IP: ip, Port: sa.Port}
		}
		return &net.TCPAddr{IP: ip, Port: sa.Port}
	case *unix.SockaddrInet6:
		ip := net.IP(append([]byte(nil), sa.Addr[:]...))
		zone := ""
		if sa.ZoneId != 0 {
			zone = zoneName(int(sa.ZoneId))
		}
		if isUDP(network) {
			return &net.UDPAddr{IP: ip, Port: sa.Port, Zone: zone}
		}
		return &net.TCPAddr{IP: ip, Port: sa.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: unixNet(network)}
	}
	return nil
}

func zoneName(index int) string {
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(index)
}

func isUDP(network string) bool {
	return network == "udp" || network == "udp4" || network == "udp6"
}

func unixNet(network string) string {
	if network == "" {
		return "unix"
	}
	return network
}

// ipSockaddr builds the socket address for ip:port in family.
func ipSockaddr(family int, ip net.IP, port int, zone string) (unix.Sockaddr, error) {
	switch family {
	case unix.AF_INET:
		if len(ip) == 0 {
			ip = net.IPv4zero
		}
		ip4 := ip.To4()
		if ip4 == nil {
			return nil, &net.AddrError{Err: "non-IPv4 address", Addr: ip.String()}
		}
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip4)
		return sa, nil
	case unix.AF_INET6:
		if len(ip) == 0 || ip.Equal(net.IPv4zero) {
			ip = net.IPv6zero
		}
		ip6 := ip.To16()
		if ip6 == nil {
			return nil, &net.AddrError{Err: "non-IPv6 address", Addr: ip.String()}
		}
		sa := &unix.SockaddrInet6{Port: port}
		copy(sa.Addr[:], ip6)
		if zone != "" {
			if ifi, err := net.InterfaceByName(zone); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			} else if n, err := strconv.Atoi(zone); err == nil {
				sa.ZoneId = uint32(n)
			}
		}
		return sa, nil
	}
	return nil, unix.EAFNOSUPPORT
}

// family picks the address family for an IP on network, and whether the
// socket must accept both IPv4 and IPv6 (a wildcard listener on "tcp").
func family(network string, ip net.IP) (fam int, dualStack bool) {
	switch network[len(network)-1] {
	case '4':
		return unix.AF_INET, false
	case '6':
		return unix.AF_INET6, false
	}
	if len(ip) == 0 || ip.IsUnspecified() {
		if supportsIPv6() {
			return unix.AF_INET6, true
		}
		return unix.AF_INET, false
	}
	if ip.To4() != nil {
		return unix.AF_INET, false
	}
	return unix.AF_INET6, false
}

var ipv6Support = func() bool {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
	return unix.Bind(fd, sa) == nil
}()

func supportsIPv6() bool { return ipv6Support }

// resolveIP resolves host:port for an IP network into candidate addresses,
// without blocking the scheduler: literal addresses need no lookup; names
// are looked up on an Offload goroutine when the caller is a task.
func resolveIP(ctx context.Context, network, address string) ([]netip.AddrPort, string, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, "", err
	}
	port, err := resolvePort(network, portStr)
	if err != nil {
		return nil, "", err
	}
	zone := ""
	if i := strings.LastIndexByte(host, '%'); i > 0 {
		host, zone = host[:i], host[i+1:]
	}
	if host == "" {
		return []netip.AddrPort{netip.AddrPortFrom(netip.Addr{}, uint16(port))}, zone, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip, uint16(port))}, zone, nil
	}
	var ips []netip.Addr
	lookup := func() {
		want := "ip"
		switch network[len(network)-1] {
		case '4':
			want = "ip4"
		case '6':
			want = "ip6"
		}
		ips, err = net.DefaultResolver.LookupNetIP(ctx, want, host)
	}
	sched.Offload(lookup) // a plain call outside a task
	if err != nil {
		return nil, "", err
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return out, zone, nil
}

func resolvePort(network, s string) (int, error) {
	if p, err := strconv.Atoi(s); err == nil {
		if p < 0 || p > 65535 {
			return 0, &net.AddrError{Err: "invalid port", Addr: s}
		}
		return p, nil
	}
	var p int
	var err error
	sched.Offload(func() { p, err = net.LookupPort(network, s) })
	return p, err
}

// A rawAddr is an IPv4 or IPv6 socket address as the kernel reported it,
// kept inline in a Conn and made into a net.Addr only when someone asks:
// an accepted connection whose addresses nobody reads costs no address
// objects (a *net.TCPAddr and its IP slice each side, 112 bytes and four
// allocations a connection before).
type rawAddr struct {
	ip   [16]byte // IPv4 in the first 4 bytes
	zone uint32   // IPv6 scope (interface index)
	port uint16
	kind uint8 // 0: none, 4: IPv4, 6: IPv6
}

// rawFromSockaddr keeps an IPv4 or IPv6 socket address; other families
// give the zero rawAddr.
func rawFromSockaddr(sa unix.Sockaddr) rawAddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		a := rawAddr{port: uint16(sa.Port), kind: 4}
		copy(a.ip[:], sa.Addr[:])
		return a
	case *unix.SockaddrInet6:
		return rawAddr{ip: sa.Addr, zone: sa.ZoneId, port: uint16(sa.Port), kind: 6}
	}
	return rawAddr{}
}

// rawFromAddr keeps a bound TCP address, unless it is a wildcard (the
// local address of an accepted connection is then the one the client
// reached, which only getsockname tells).
func rawFromAddr(a net.Addr) (rawAddr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP.IsUnspecified() {
		return rawAddr{}, false
	}
	if ip4 := ta.IP.To4(); ip4 != nil && len(ta.IP) == net.IPv4len {
		r := rawAddr{port: uint16(ta.Port), kind: 4}
		copy(r.ip[:], ip4)
		return r, true
	}
	if len(ta.IP) != net.IPv6len || ta.Zone != "" {
		return rawAddr{}, false // keep it simple: the caller asks the kernel
	}
	r := rawAddr{port: uint16(ta.Port), kind: 6}
	copy(r.ip[:], ta.IP)
	return r, true
}

// netAddr makes the net.Addr of a for a stream network: a new
// *net.TCPAddr, as package net would report it, or nil if a is empty.
func (a *rawAddr) netAddr() net.Addr {
	switch a.kind {
	case 4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.ip[:4]...)), Port: int(a.port)}
	case 6:
		zone := ""
		if a.zone != 0 {
			zone = zoneName(int(a.zone))
		}
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.ip[:]...)), Port: int(a.port), Zone: zone}
	}
	return nil
}
