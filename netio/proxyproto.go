package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"strconv"
	"unicode/utf8"
)

// The PROXY protocol (HAProxy's doc/proxy-protocol.txt): a header that a
// load balancer (HAProxy's send-proxy and send-proxy-v2, nginx's
// proxy_protocol, AWS NLB, Envoy...) sends before anything else on each
// connection it opens to a server, carrying the addresses of the client
// connection it relays. This file is the wire format: parsing, with every
// length checked against what was received, and encoding. Reading the
// header from a connection, and who may send one, is proxyproto_conn.go.

// ErrBadProxyHeader is the error (wrapped with the reason) for input that
// is not a valid PROXY protocol header: a connection that sends its
// protocol's first bytes without the header, a malformed or truncated
// header, a version-2 header whose CRC32c does not match.
var ErrBadProxyHeader = errors.New("netio: bad PROXY protocol header")

// A ProxyCommand says what a version-2 header announces.
type ProxyCommand uint8

const (
	// ProxyLocal: the proxy opened the connection on its own behalf, as
	// for a health check; the connection's own addresses stand.
	ProxyLocal ProxyCommand = 0
	// ProxyProxy: the connection relays a client's; the header carries
	// the client connection's addresses.
	ProxyProxy ProxyCommand = 1
)

func (c ProxyCommand) String() string {
	switch c {
	case ProxyLocal:
		return "LOCAL"
	case ProxyProxy:
		return "PROXY"
	}
	return "ProxyCommand(" + strconv.Itoa(int(c)) + ")"
}

// Registered version-2 TLV types (proxy-protocol.txt §2.2). Types
// 0xE0-0xEF are for applications, 0xF0-0xF7 for experiments.
const (
	ProxyTLVALPN      = 0x01 // the ALPN protocol the client negotiated
	ProxyTLVAuthority = 0x02 // the host name the client asked for (TLS SNI), UTF-8
	ProxyTLVCRC32C    = 0x03 // CRC32c of the whole header; checked by the parser
	ProxyTLVNoop      = 0x04 // padding; dropped by the parser
	ProxyTLVUniqueID  = 0x05 // an opaque connection ID of up to 128 bytes
	ProxyTLVSSL       = 0x20 // TLS details of the client connection (see ProxyHeader.SSL)
	ProxyTLVNetNS     = 0x30 // the network namespace's name, US-ASCII
)

// Sub-types inside a ProxyTLVSSL value.
const (
	ProxySSLVersion = 0x21 // TLS version, US-ASCII ("TLSv1.3")
	ProxySSLCN      = 0x22 // Common Name of the client certificate, UTF-8
	ProxySSLCipher  = 0x23 // cipher name, US-ASCII
	ProxySSLSigAlg  = 0x24 // signature algorithm of the server certificate, US-ASCII
	ProxySSLKeyAlg  = 0x25 // key algorithm of the server certificate, US-ASCII
)

// A ProxyTLV is one type-length-value extension of a version-2 header.
// The parser checks only its framing (and the registered types whose
// format the specification fixes: CRC32C, UNIQUE_ID, SSL); what the value
// says comes from the proxy and is for the application to judge.
type ProxyTLV struct {
	Type  byte
	Value []byte
}

// A ProxyHeader is a parsed PROXY protocol header, or one to send.
//
// Source and Dest are the addresses of the connection the proxy relays —
// the client's, and the one the client connected to — as
// *net.TCPAddr, *net.UDPAddr or *net.UnixAddr. Both are nil when the
// header carries none (a LOCAL command, version 1's UNKNOWN, the UNSPEC
// family): the connection's own addresses stand then.
type ProxyHeader struct {
	Version      int // 1 or 2
	Command      ProxyCommand
	Source, Dest net.Addr
	TLVs         []ProxyTLV // version 2 only, in order, without NOOPs

	// Proxy is the connection's real remote address (the proxy's), when
	// the header was read from a connection; it is not on the wire.
	Proxy net.Addr
}

// Header sizes.
const (
	proxyV1Max     = 107 // longest version-1 line, CRLF included
	proxyV2Fixed   = 16  // signature, version and command, family, length
	proxyUnixName  = 108 // an AF_UNIX address in a version-2 header
	proxyUniqueMax = 128 // longest PP2_TYPE_UNIQUE_ID value
)

var (
	proxyV1Sig = []byte("PROXY ")
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

func badProxy(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadProxyHeader}, args...)...)
}

// parseProxyHeader parses the PROXY header at the start of b. It returns
// the header and its length in bytes; or, when b is a valid but
// incomplete start of a header, need > len(b): the length the header
// will have (for version 2, once its fixed part is in) or len(b)+1; or an
// error wrapping ErrBadProxyHeader as soon as b cannot be the start of a
// header. It never reads past b and never retains b.
func parseProxyHeader(b []byte) (h *ProxyHeader, n, need int, err error) {
	if len(b) == 0 {
		return nil, 0, 1, nil
	}
	switch b[0] {
	case proxyV2Sig[0]:
		return parseProxyV2(b)
	case proxyV1Sig[0]:
		return parseProxyV1(b)
	}
	return nil, 0, 0, badProxy("no PROXY header (first byte %#02x)", b[0])
}

// parseProxyV1 parses a version-1 line: "PROXY TCP4 src dst sport dport\r\n".
func parseProxyV1(b []byte) (*ProxyHeader, int, int, error) {
	if m := min(len(b), len(proxyV1Sig)); !bytes.Equal(b[:m], proxyV1Sig[:m]) {
		return nil, 0, 0, badProxy("no PROXY header (version 1 signature expected)")
	}
	end := bytes.IndexByte(b[:min(len(b), proxyV1Max)], '\n')
	if end < 0 {
		if len(b) >= proxyV1Max {
			return nil, 0, 0, badProxy("version 1 line longer than %d bytes", proxyV1Max)
		}
		return nil, 0, len(b) + 1, nil
	}
	if end < len(proxyV1Sig)+1 || b[end-1] != '\r' {
		return nil, 0, 0, badProxy("version 1 line not ended by CRLF")
	}
	line := b[len(proxyV1Sig) : end-1]
	n := end + 1
	h := &ProxyHeader{Version: 1, Command: ProxyProxy}
	proto, rest, _ := bytes.Cut(line, []byte(" "))
	switch string(proto) {
	case "UNKNOWN":
		// The receiver must ignore the rest of the line.
		return h, n, 0, nil
	case "TCP4", "TCP6":
	default:
		return nil, 0, 0, badProxy("version 1 protocol %q", clip(proto))
	}
	f := bytes.Split(rest, []byte(" "))
	if len(f) != 4 {
		return nil, 0, 0, badProxy("version 1 %s line with %d fields, want 4", proto, len(f))
	}
	v6 := proto[3] == '6'
	src, err1 := parseProxyV1Addr(f[0], v6)
	dst, err2 := parseProxyV1Addr(f[1], v6)
	sport, err3 := parseProxyV1Port(f[2])
	dport, err4 := parseProxyV1Port(f[3])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, 0, 0, err
	}
	h.Source = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, sport))
	h.Dest = net.TCPAddrFromAddrPort(netip.AddrPortFrom(dst, dport))
	return h, n, 0, nil
}

// parseProxyV1Addr parses an address in the canonical form the line's
// family requires: dotted quad without leading zeros for TCP4 (as netip
// requires too), hexadecimal groups for TCP6 — no embedded IPv4, no zone.
func parseProxyV1Addr(b []byte, v6 bool) (netip.Addr, error) {
	if v6 && bytes.ContainsAny(b, ".%") || !v6 && bytes.ContainsAny(b, ":%") {
		return netip.Addr{}, badProxy("version 1 address %q not in its family's canonical form", clip(b))
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Is6() != v6 {
		return netip.Addr{}, badProxy("version 1 address %q", clip(b))
	}
	return a, nil
}

// parseProxyV1Port parses a decimal port without leading zeros.
func parseProxyV1Port(b []byte) (uint16, error) {
	if len(b) == 0 || len(b) > 5 || len(b) > 1 && b[0] == '0' {
		return 0, badProxy("version 1 port %q", clip(b))
	}
	p := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, badProxy("version 1 port %q", clip(b))
		}
		p = p*10 + int(c-'0')
	}
	if p > 65535 {
		return 0, badProxy("version 1 port %q", clip(b))
	}
	return uint16(p), nil
}

// clip shortens what a peer sent to at most 40 bytes, for an error.
func clip(b []byte) []byte {
	return b[:min(len(b), 40)]
}

// parseProxyV2 parses a version-2 binary header.
func parseProxyV2(b []byte) (*ProxyHeader, int, int, error) {
	if m := min(len(b), len(proxyV2Sig)); !bytes.Equal(b[:m], proxyV2Sig[:m]) {
		return nil, 0, 0, badProxy("no PROXY header (version 2 signature expected)")
	}
	if len(b) > len(proxyV2Sig) && b[12]>>4 != 2 {
		return nil, 0, 0, badProxy("version %d", b[12]>>4)
	}
	if len(b) < proxyV2Fixed {
		return nil, 0, len(b) + 1, nil
	}
	cmd := ProxyCommand(b[12] & 0xf)
	if cmd != ProxyLocal && cmd != ProxyProxy {
		return nil, 0, 0, badProxy("version 2 command %#x", uint8(cmd))
	}
	famProto := b[13]
	var alen int
	switch famProto {
	case 0x00: // UNSPEC
	case 0x11, 0x12: // TCP, UDP over IPv4
		alen = 2*4 + 2*2
	case 0x21, 0x22: // TCP, UDP over IPv6
		alen = 2*16 + 2*2
	case 0x31, 0x32: // UNIX stream, datagram
		alen = 2 * proxyUnixName
	default:
		return nil, 0, 0, badProxy("version 2 family and protocol %#02x", famProto)
	}
	n := proxyV2Fixed + int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < n {
		return nil, 0, n, nil
	}
	h := &ProxyHeader{Version: 2, Command: cmd}
	if cmd == ProxyLocal || famProto == 0x00 {
		// The receiver must discard the address block of a LOCAL
		// command, family included, whatever it holds; an UNSPEC one has
		// no known layout, so TLVs cannot be told from addresses in it.
		return h, n, 0, nil
	}
	body := b[proxyV2Fixed:n]
	if len(body) < alen {
		return nil, 0, 0, badProxy("version 2 address block of %d bytes, family %#02x needs %d", len(body), famProto, alen)
	}
	switch famProto {
	case 0x11, 0x12, 0x21, 0x22:
		ipLen := (alen - 4) / 2
		src, _ := netip.AddrFromSlice(body[:ipLen])
		dst, _ := netip.AddrFromSlice(body[ipLen : 2*ipLen])
		sp := binary.BigEndian.Uint16(body[2*ipLen:])
		dp := binary.BigEndian.Uint16(body[2*ipLen+2:])
		s, d := netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
		if famProto&0xf == 2 {
			h.Source, h.Dest = net.UDPAddrFromAddrPort(s), net.UDPAddrFromAddrPort(d)
		} else {
			h.Source, h.Dest = net.TCPAddrFromAddrPort(s), net.TCPAddrFromAddrPort(d)
		}
	case 0x31, 0x32:
		network := "unix"
		if famProto == 0x32 {
			network = "unixgram"
		}
		h.Source = &net.UnixAddr{Name: proxyUnixPath(body[:proxyUnixName]), Net: network}
		h.Dest = &net.UnixAddr{Name: proxyUnixPath(body[proxyUnixName:alen]), Net: network}
	}
	tlvs, err := parseProxyTLVs(b[:n], proxyV2Fixed+alen)
	if err != nil {
		return nil, 0, 0, err
	}
	h.TLVs = tlvs
	return h, n, 0, nil
}

// proxyUnixPath decodes a NUL-padded sun_path: a name in Linux's abstract
// namespace (a leading NUL) reads "@name", as package net writes it.
func proxyUnixPath(b []byte) string {
	if len(b) > 0 && b[0] == 0 {
		return "@" + string(bytes.TrimRight(b[1:], "\x00"))
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// parseProxyTLVs parses the TLVs of header hdr that start at off: every
// length within what the header's own length declares, the CRC32c (if
// any) verified. The values are copies.
func parseProxyTLVs(hdr []byte, off int) ([]ProxyTLV, error) {
	var tlvs []ProxyTLV
	crcAt := -1
	for p := off; p < len(hdr); {
		if len(hdr)-p < 3 {
			return nil, badProxy("version 2 TLV truncated: %d bytes left", len(hdr)-p)
		}
		typ, vlen := hdr[p], int(binary.BigEndian.Uint16(hdr[p+1:]))
		v := p + 3
		if vlen > len(hdr)-v {
			return nil, badProxy("version 2 TLV %#02x of %d bytes, %d left", typ, vlen, len(hdr)-v)
		}
		val := hdr[v : v+vlen]
		p = v + vlen
		switch typ {
		case ProxyTLVNoop:
			continue
		case ProxyTLVCRC32C:
			if vlen != 4 || crcAt >= 0 {
				return nil, badProxy("version 2 CRC32C TLV of %d bytes (or repeated)", vlen)
			}
			crcAt = v
		case ProxyTLVUniqueID:
			if vlen > proxyUniqueMax {
				return nil, badProxy("version 2 UNIQUE_ID TLV of %d bytes, at most %d allowed", vlen, proxyUniqueMax)
			}
		case ProxyTLVSSL:
			if _, err := parseProxySSL(val); err != nil {
				return nil, err
			}
		}
		tlvs = append(tlvs, ProxyTLV{Type: typ, Value: bytes.Clone(val)})
	}
	if crcAt >= 0 {
		want := binary.BigEndian.Uint32(hdr[crcAt:])
		crc := crc32.Update(0, castagnoli, hdr[:crcAt])
		crc = crc32.Update(crc, castagnoli, []byte{0, 0, 0, 0})
		crc = crc32.Update(crc, castagnoli, hdr[crcAt+4:])
		if crc != want {
			return nil, badProxy("version 2 CRC32c %#08x, header sums to %#08x", want, crc)
		}
	}
	return tlvs, nil
}

// TLV returns the value of the first TLV of type typ, and whether there
// is one.
func (h *ProxyHeader) TLV(typ byte) ([]byte, bool) {
	for _, t := range h.TLVs {
		if t.Type == typ {
			return t.Value, true
		}
	}
	return nil, false
}

// Authority returns the host name the client asked for (PP2_TYPE_AUTHORITY,
// the TLS SNI when the proxy terminated TLS), if the header has one that
// is valid UTF-8 without control characters. It is what the proxy says
// the client said: a claim to check, like a Host header.
func (h *ProxyHeader) Authority() (string, bool) {
	v, ok := h.TLV(ProxyTLVAuthority)
	if !ok || !printableText(v) {
		return "", false
	}
	return string(v), true
}

// UniqueID returns the proxy's identifier for the connection
// (PP2_TYPE_UNIQUE_ID), if any: up to 128 opaque bytes.
func (h *ProxyHeader) UniqueID() ([]byte, bool) { return h.TLV(ProxyTLVUniqueID) }

// printableText reports whether b is non-empty UTF-8 with no control
// characters.
func printableText(b []byte) bool {
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return false
		}
	}
	return true
}

// A ProxySSL is the PP2_TYPE_SSL TLV: what the proxy says about the TLS
// connection it terminated.
type ProxySSL struct {
	Client uint8  // PP2_CLIENT_SSL 0x01, PP2_CLIENT_CERT_CONN 0x02, PP2_CLIENT_CERT_SESS 0x04
	Verify uint32 // 0 if the client presented a certificate that was verified
	Sub    []ProxyTLV
}

// Connected reports whether the client connected over TLS.
func (s *ProxySSL) Connected() bool { return s.Client&0x01 != 0 }

// Verified reports whether the client presented a certificate on this
// connection and the proxy verified it.
func (s *ProxySSL) Verified() bool { return s.Client&0x02 != 0 && s.Verify == 0 }

// SSL returns the header's SSL TLV, parsed, if it has one.
func (h *ProxyHeader) SSL() (*ProxySSL, bool) {
	v, ok := h.TLV(ProxyTLVSSL)
	if !ok {
		return nil, false
	}
	s, err := parseProxySSL(v)
	return s, err == nil
}

func parseProxySSL(v []byte) (*ProxySSL, error) {
	if len(v) < 5 {
		return nil, badProxy("version 2 SSL TLV of %d bytes, at least 5 needed", len(v))
	}
	s := &ProxySSL{Client: v[0], Verify: binary.BigEndian.Uint32(v[1:5])}
	for p := 5; p < len(v); {
		if len(v)-p < 3 {
			return nil, badProxy("version 2 SSL sub-TLV truncated")
		}
		typ, vlen := v[p], int(binary.BigEndian.Uint16(v[p+1:]))
		if vlen > len(v)-p-3 {
			return nil, badProxy("version 2 SSL sub-TLV %#02x of %d bytes, %d left", typ, vlen, len(v)-p-3)
		}
		s.Sub = append(s.Sub, ProxyTLV{Type: typ, Value: v[p+3 : p+3+vlen]})
		p += 3 + vlen
	}
	return s, nil
}

// AppendV1 appends h as a version-1 line: TCP over IPv4 or IPv6, or
// UNKNOWN when h has no addresses (LOCAL). Other families have no
// version-1 form.
func (h *ProxyHeader) AppendV1(b []byte) ([]byte, error) {
	if h.Command == ProxyLocal || h.Source == nil && h.Dest == nil {
		return append(b, "PROXY UNKNOWN\r\n"...), nil
	}
	_, tcp1 := h.Source.(*net.TCPAddr)
	_, tcp2 := h.Dest.(*net.TCPAddr)
	src, ok1 := tcpAddrPort(h.Source)
	dst, ok2 := tcpAddrPort(h.Dest)
	if !tcp1 || !tcp2 || !ok1 || !ok2 {
		return b, fmt.Errorf("netio: PROXY version 1 carries TCP addresses only, not %v -> %v", h.Source, h.Dest)
	}
	src, dst = unmapPair(src, dst)
	proto := "TCP4"
	if src.Addr().Is6() {
		proto = "TCP6"
	}
	b = append(b, "PROXY "...)
	b = append(b, proto...)
	b = append(b, ' ')
	b = appendV1Addr(b, src.Addr())
	b = append(b, ' ')
	b = appendV1Addr(b, dst.Addr())
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, "\r\n"...), nil
}

// appendV1Addr writes an address as version 1 wants it: IPv6 in
// hexadecimal groups only, so an IPv4-mapped one is written out in full
// rather than with its usual dotted tail.
func appendV1Addr(b []byte, a netip.Addr) []byte {
	if a.Is4In6() {
		return append(b, a.StringExpanded()...)
	}
	return a.AppendTo(b)
}

// AppendV2 appends h as a version-2 header, its TLVs included. A LOCAL
// command is sent without addresses, as the specification advises.
func (h *ProxyHeader) AppendV2(b []byte) ([]byte, error) {
	if h.Command != ProxyLocal && h.Command != ProxyProxy {
		return b, fmt.Errorf("netio: PROXY command %v", h.Command)
	}
	start := len(b)
	b = append(b, proxyV2Sig...)
	b = append(b, 0x20|byte(h.Command), 0, 0, 0)
	if h.Command != ProxyLocal && (h.Source != nil || h.Dest != nil) {
		var err error
		if b, err = appendProxyV2Addrs(b, start, h.Source, h.Dest); err != nil {
			return b[:start], err
		}
	}
	for _, t := range h.TLVs {
		if len(t.Value) > 0xffff {
			return b[:start], fmt.Errorf("netio: PROXY TLV %#02x of %d bytes", t.Type, len(t.Value))
		}
		b = append(b, t.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	n := len(b) - start - proxyV2Fixed
	if n > 0xffff {
		return b[:start], fmt.Errorf("netio: PROXY version 2 header of %d bytes", n)
	}
	binary.BigEndian.PutUint16(b[start+14:], uint16(n))
	return b, nil
}

// appendProxyV2Addrs appends the address block and sets the family byte.
func appendProxyV2Addrs(b []byte, start int, src, dst net.Addr) ([]byte, error) {
	if su, ok := src.(*net.UnixAddr); ok {
		du, ok := dst.(*net.UnixAddr)
		if !ok || len(su.Name) > proxyUnixName || len(du.Name) > proxyUnixName {
			return b, fmt.Errorf("netio: PROXY addresses %v -> %v", src, dst)
		}
		b[start+13] = 0x31
		if su.Net == "unixgram" {
			b[start+13] = 0x32
		}
		b = appendUnixName(b, su.Name)
		return appendUnixName(b, du.Name), nil
	}
	s, ok1 := tcpAddrPort(src)
	d, ok2 := tcpAddrPort(dst)
	_, udp := src.(*net.UDPAddr)
	if !ok1 || !ok2 {
		return b, fmt.Errorf("netio: PROXY addresses %v -> %v", src, dst)
	}
	s, d = unmapPair(s, d)
	fam := byte(0x10)
	if s.Addr().Is6() {
		fam = 0x20
	}
	proto := byte(0x1)
	if udp {
		proto = 0x2
	}
	b[start+13] = fam | proto
	b = append(b, s.Addr().AsSlice()...)
	b = append(b, d.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, s.Port())
	return binary.BigEndian.AppendUint16(b, d.Port()), nil
}

func appendUnixName(b []byte, name string) []byte {
	var a [proxyUnixName]byte
	if len(name) > 0 && name[0] == '@' {
		copy(a[1:], name[1:]) // the abstract namespace
	} else {
		copy(a[:], name)
	}
	return append(b, a[:]...)
}

// tcpAddrPort returns the address and port of a TCP or UDP address.
func tcpAddrPort(a net.Addr) (netip.AddrPort, bool) {
	var ip net.IP
	var port int
	switch a := a.(type) {
	case *net.TCPAddr:
		if a == nil {
			return netip.AddrPort{}, false
		}
		ip, port = a.IP, a.Port
	case *net.UDPAddr:
		if a == nil {
			return netip.AddrPort{}, false
		}
		ip, port = a.IP, a.Port
	default:
		return netip.AddrPort{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok || port < 0 || port > 65535 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr.WithZone(""), uint16(port)), true
}

// unmapPair puts two addresses in one family: both IPv4 when they can
// be, else both IPv6 (an IPv4 address mapped).
func unmapPair(s, d netip.AddrPort) (netip.AddrPort, netip.AddrPort) {
	sa, da := s.Addr().Unmap(), d.Addr().Unmap()
	if sa.Is4() != da.Is4() {
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	return netip.AddrPortFrom(sa, s.Port()), netip.AddrPortFrom(da, d.Port())
}
