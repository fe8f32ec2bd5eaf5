package netio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/netio"
)

var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// v2 builds a version-2 header from its fields, as a proxy would send it
// — or would not: the fields are not checked.
func v2(verCmd, famProto byte, body ...[]byte) []byte {
	b := append([]byte(nil), v2sig...)
	b = append(b, verCmd, famProto, 0, 0)
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint16(b[14:], uint16(len(b)-16))
	return b
}

func tlv(typ byte, v []byte) []byte {
	b := []byte{typ, 0, 0}
	binary.BigEndian.PutUint16(b[1:], uint16(len(v)))
	return append(b, v...)
}

func tcp(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
func udp(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

// ipv4Block is the address block of 192.0.2.1:56324 -> 198.51.100.7:443.
var ipv4Block = []byte{192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb}

// ipv6Block is 2001:db8::1:56324 -> 2001:db8::2:443.
var ipv6Block = func() []byte {
	b := netip.MustParseAddr("2001:db8::1").AsSlice()
	b = append(b, netip.MustParseAddr("2001:db8::2").AsSlice()...)
	return append(b, 0xdc, 0x04, 0x01, 0xbb)
}()

func unixBlock(src, dst string) []byte {
	b := make([]byte, 216)
	copy(b, src)
	copy(b[108:], dst)
	return b
}

// withCRC returns h (a version-2 header ending with a CRC32C TLV) with
// the checksum filled in, plus delta.
func withCRC(h []byte, delta uint32) []byte {
	h = bytes.Clone(h)
	sum := crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(h[len(h)-4:], sum+delta)
	return h
}

var cmpHeader = cmp.Options{
	cmp.Comparer(func(a, b net.IP) bool { return a.Equal(b) }),
}

// Valid headers parse to what they say, whatever follows them.
func TestParseProxyHeader(t *testing.T) {
	ssl := append([]byte{0x07, 0, 0, 0, 0}, tlv(netio.ProxySSLVersion, []byte("TLSv1.3"))...)
	ssl = append(ssl, tlv(netio.ProxySSLCN, []byte("client.example"))...)
	for _, tc := range []struct {
		name string
		in   []byte
		want *netio.ProxyHeader
	}{
		{"v1 TCP4", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"),
			&netio.ProxyHeader{Version: 1, Command: netio.ProxyProxy, Source: tcp("192.0.2.1:56324"), Dest: tcp("198.51.100.7:443")}},
		{"v1 TCP4 widest", []byte("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n"),
			&netio.ProxyHeader{Version: 1, Command: netio.ProxyProxy, Source: tcp("255.255.255.255:65535"), Dest: tcp("255.255.255.255:65535")}},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::1 2001:DB8::2 0 80\r\n"),
			&netio.ProxyHeader{Version: 1, Command: netio.ProxyProxy, Source: tcp("[2001:db8::1]:0"), Dest: tcp("[2001:db8::2]:80")}},
		{"v1 TCP6 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			&netio.ProxyHeader{Version: 1, Command: netio.ProxyProxy,
				Source: tcp("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Dest: tcp("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), &netio.ProxyHeader{Version: 1, Command: netio.ProxyProxy}},
		{"v1 UNKNOWN with addresses", []byte("PROXY UNKNOWN ffff:f::f whatever 1 2\r\n"), &netio.ProxyHeader{Version: 1, Command: netio.ProxyProxy}},
		// "The receiver must ignore anything presented before the CRLF."
		{"v1 UNKNOWN with a lone CR", []byte("PROXY UNKNOWN 0\r0\r\n"), &netio.ProxyHeader{Version: 1, Command: netio.ProxyProxy}},
		{"v2 TCP4", v2(0x21, 0x11, ipv4Block),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy, Source: tcp("192.0.2.1:56324"), Dest: tcp("198.51.100.7:443")}},
		{"v2 UDP4", v2(0x21, 0x12, ipv4Block),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy, Source: udp("192.0.2.1:56324"), Dest: udp("198.51.100.7:443")}},
		{"v2 TCP6", v2(0x21, 0x21, ipv6Block),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy, Source: tcp("[2001:db8::1]:56324"), Dest: tcp("[2001:db8::2]:443")}},
		{"v2 UDP6", v2(0x21, 0x22, ipv6Block),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy, Source: udp("[2001:db8::1]:56324"), Dest: udp("[2001:db8::2]:443")}},
		{"v2 UNIX stream", v2(0x21, 0x31, unixBlock("/run/client.sock", "/run/srv.sock")),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy,
				Source: &net.UnixAddr{Name: "/run/client.sock", Net: "unix"}, Dest: &net.UnixAddr{Name: "/run/srv.sock", Net: "unix"}}},
		{"v2 UNIX datagram, abstract", v2(0x21, 0x32, unixBlock("\x00abstract", "/run/srv.sock")),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy,
				Source: &net.UnixAddr{Name: "@abstract", Net: "unixgram"}, Dest: &net.UnixAddr{Name: "/run/srv.sock", Net: "unixgram"}}},
		{"v2 LOCAL", v2(0x20, 0x00), &netio.ProxyHeader{Version: 2, Command: netio.ProxyLocal}},
		// The receiver must skip what the length says, and discard the
		// address block of a LOCAL command whatever it holds.
		{"v2 LOCAL with an address block", v2(0x20, 0x11, ipv4Block, tlv(0xe0, []byte("x"))),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyLocal}},
		{"v2 PROXY UNSPEC", v2(0x21, 0x00, []byte("ignored")), &netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy}},
		{"v2 TLVs", v2(0x21, 0x11, ipv4Block,
			tlv(netio.ProxyTLVALPN, []byte("h2")),
			tlv(netio.ProxyTLVNoop, make([]byte, 5)),
			tlv(netio.ProxyTLVAuthority, []byte("www.example")),
			tlv(netio.ProxyTLVUniqueID, bytes.Repeat([]byte{9}, 128)),
			tlv(netio.ProxyTLVSSL, ssl),
			tlv(0xe0, nil)),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy, Source: tcp("192.0.2.1:56324"), Dest: tcp("198.51.100.7:443"),
				TLVs: []netio.ProxyTLV{
					{Type: netio.ProxyTLVALPN, Value: []byte("h2")},
					{Type: netio.ProxyTLVAuthority, Value: []byte("www.example")},
					{Type: netio.ProxyTLVUniqueID, Value: bytes.Repeat([]byte{9}, 128)},
					{Type: netio.ProxyTLVSSL, Value: ssl},
					{Type: 0xe0, Value: []byte{}},
				}}},
		{"v2 CRC32C", withCRC(v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVCRC32C, make([]byte, 4))), 0),
			&netio.ProxyHeader{Version: 2, Command: netio.ProxyProxy, Source: tcp("192.0.2.1:56324"), Dest: tcp("198.51.100.7:443"),
				TLVs: []netio.ProxyTLV{{Type: netio.ProxyTLVCRC32C,
					Value: withCRC(v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVCRC32C, make([]byte, 4))), 0)[16+12+3:]}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append(bytes.Clone(tc.in), "GET / HTTP/1.1\r\n"...)
			h, n, need, err := netio.ParseProxyHeader(in)
			if err != nil || n != len(tc.in) || need != 0 {
				t.Fatalf("got n %d, need %d, err %v; want n %d", n, need, err, len(tc.in))
			}
			if diff := cmp.Diff(tc.want, h, cmpHeader); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			// Every proper prefix is a valid start that asks for more:
			// a header that arrives in pieces is waited for, not refused.
			for i := range len(tc.in) {
				h, _, need, err := netio.ParseProxyHeader(tc.in[:i])
				if h != nil || err != nil || need <= i {
					t.Fatalf("prefix of %d bytes: header %v, need %d, err %v; want a need beyond it", i, h, need, err)
				}
			}
		})
	}
}

// The accessors of the registered TLVs check what they return.
func TestProxyHeaderTLVAccessors(t *testing.T) {
	ssl := append([]byte{0x03, 0, 0, 0, 0}, tlv(netio.ProxySSLVersion, []byte("TLSv1.3"))...)
	in := v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVAuthority, []byte("api.example")),
		tlv(netio.ProxyTLVUniqueID, []byte{1, 2, 3}), tlv(netio.ProxyTLVSSL, ssl))
	h, _, _, err := netio.ParseProxyHeader(in)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := h.Authority(); !ok || a != "api.example" {
		t.Errorf("Authority() = %q, %v", a, ok)
	}
	if id, ok := h.UniqueID(); !ok || !bytes.Equal(id, []byte{1, 2, 3}) {
		t.Errorf("UniqueID() = %v, %v", id, ok)
	}
	s, ok := h.SSL()
	if !ok || !s.Connected() || !s.Verified() {
		t.Fatalf("SSL() = %+v, %v; want connected and verified", s, ok)
	}
	if diff := cmp.Diff([]netio.ProxyTLV{{Type: netio.ProxySSLVersion, Value: []byte("TLSv1.3")}}, s.Sub); diff != "" {
		t.Errorf("SSL sub-TLVs (-want +got):\n%s", diff)
	}
	// An authority with control characters is not handed out as one.
	h, _, _, err = netio.ParseProxyHeader(v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVAuthority, []byte("evil\r\nX-Admin: 1"))))
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := h.Authority(); ok {
		t.Errorf("Authority() = %q, want none for a value with CRLF", a)
	}
	if raw, ok := h.TLV(netio.ProxyTLVAuthority); !ok || string(raw) != "evil\r\nX-Admin: 1" {
		t.Errorf("TLV(AUTHORITY) = %q, %v; the raw value stays available", raw, ok)
	}
}

// Malformed headers are refused, as early as the input shows it.
func TestParseProxyHeaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"HTTP instead", []byte("GET / HTTP/1.1\r\n")},
		{"TLS instead", []byte{0x16, 0x03, 0x01}},
		{"one wrong byte", []byte("G")},
		{"lower case", []byte("proxy TCP4 192.0.2.1 198.51.100.7 1 2\r\n")},
		{"v1 no space", []byte("PROXYTCP4")},
		{"v1 bare LF", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 1 2\n")},
		{"v1 CR inside", []byte("PROXY TCP4\r 192.0.2.1 198.51.100.7 1 2\r\n")},
		{"v1 too long", []byte("PROXY UNKNOWN " + strings.Repeat("x", 100))},
		{"v1 protocol", []byte("PROXY TCP5 192.0.2.1 198.51.100.7 1 2\r\n")},
		{"v1 UNKNOWN glued", []byte("PROXY UNKNOWNX\r\n")},
		{"v1 missing field", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 1\r\n")},
		{"v1 extra field", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 3\r\n")},
		{"v1 double space", []byte("PROXY TCP4 192.0.2.1  198.51.100.7 1 2\r\n")},
		{"v1 trailing space", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 1 2 \r\n")},
		{"v1 leading zero octet", []byte("PROXY TCP4 192.0.2.01 198.51.100.7 1 2\r\n")},
		{"v1 leading zero port", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 01 2\r\n")},
		{"v1 port too big", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 65536 2\r\n")},
		{"v1 port sign", []byte("PROXY TCP4 192.0.2.1 198.51.100.7 +1 2\r\n")},
		{"v1 TCP4 with IPv6", []byte("PROXY TCP4 2001:db8::1 198.51.100.7 1 2\r\n")},
		{"v1 TCP6 with IPv4", []byte("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n")},
		{"v1 TCP6 with embedded IPv4", []byte("PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1 2\r\n")},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n")},
		{"v2 version 1", v2(0x11, 0x11, ipv4Block)},
		{"v2 version 3", v2(0x31, 0x11, ipv4Block)},
		{"v2 command 2", v2(0x22, 0x11, ipv4Block)},
		{"v2 family 4", v2(0x21, 0x41, ipv4Block)},
		{"v2 protocol 3", v2(0x21, 0x13, ipv4Block)},
		{"v2 family without protocol", v2(0x21, 0x10, ipv4Block)},
		{"v2 LOCAL family 4", v2(0x20, 0x41)},
		{"v2 block shorter than IPv4", v2(0x21, 0x11, ipv4Block[:11])},
		{"v2 block shorter than IPv6", v2(0x21, 0x21, ipv4Block)},
		{"v2 block shorter than UNIX", v2(0x21, 0x31, make([]byte, 215))},
		{"v2 TLV header truncated", v2(0x21, 0x11, ipv4Block, []byte{0xe0, 0})},
		{"v2 TLV value overflows", v2(0x21, 0x11, ipv4Block, []byte{0xe0, 0, 5, 1, 2})},
		{"v2 TLV length 0xffff", v2(0x21, 0x11, ipv4Block, []byte{0xe0, 0xff, 0xff})},
		{"v2 UNIQUE_ID too long", v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVUniqueID, make([]byte, 129)))},
		{"v2 SSL too short", v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVSSL, []byte{1, 0, 0}))},
		{"v2 SSL sub-TLV overflows", v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVSSL, []byte{1, 0, 0, 0, 0, 0x21, 0, 9, 'x'}))},
		{"v2 CRC32C wrong", withCRC(v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVCRC32C, make([]byte, 4))), 1)},
		{"v2 CRC32C short", v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVCRC32C, make([]byte, 3)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, n, need, err := netio.ParseProxyHeader(tc.in)
			if !errors.Is(err, netio.ErrBadProxyHeader) {
				t.Fatalf("got header %+v, n %d, need %d, err %v; want ErrBadProxyHeader", h, n, need, err)
			}
		})
	}
}

// What AppendV1 and AppendV2 write parses back to the same header.
func TestProxyHeaderRoundTrip(t *testing.T) {
	for _, h := range []*netio.ProxyHeader{
		{Command: netio.ProxyProxy, Source: tcp("192.0.2.1:56324"), Dest: tcp("198.51.100.7:443")},
		{Command: netio.ProxyProxy, Source: tcp("[2001:db8::1]:1"), Dest: tcp("[2001:db8::2]:65535")},
		{Command: netio.ProxyLocal},
	} {
		for _, version := range []int{1, 2} {
			var b []byte
			var err error
			if version == 1 {
				b, err = h.AppendV1([]byte("x"))
			} else {
				b, err = h.AppendV2([]byte("x"))
			}
			if err != nil {
				t.Fatalf("v%d %v: %v", version, h, err)
			}
			got, n, _, err := netio.ParseProxyHeader(b[1:])
			if err != nil || n != len(b)-1 {
				t.Fatalf("v%d %q: n %d, err %v", version, b, n, err)
			}
			want := *h
			want.Version = version
			if version == 1 && h.Command == netio.ProxyLocal {
				want.Command = netio.ProxyProxy // UNKNOWN: no addresses, same meaning
			}
			if diff := cmp.Diff(&want, got, cmpHeader); diff != "" {
				t.Errorf("v%d round trip (-want +got):\n%s", version, diff)
			}
		}
	}
	// Version 2 only: UDP, UNIX, mixed families, TLVs.
	for _, h := range []*netio.ProxyHeader{
		{Command: netio.ProxyProxy, Source: udp("192.0.2.1:53"), Dest: udp("198.51.100.7:53")},
		{Command: netio.ProxyProxy, Source: &net.UnixAddr{Name: "@a", Net: "unix"}, Dest: &net.UnixAddr{Name: "/b", Net: "unix"},
			TLVs: []netio.ProxyTLV{{Type: netio.ProxyTLVAuthority, Value: []byte("example")}}},
	} {
		b, err := h.AppendV2(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _, _, err := netio.ParseProxyHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		want := *h
		want.Version = 2
		if diff := cmp.Diff(&want, got, cmpHeader); diff != "" {
			t.Errorf("v2 round trip (-want +got):\n%s", diff)
		}
	}
	// An IPv4 client behind an IPv6 front end: both sent as IPv6.
	mixed := &netio.ProxyHeader{Command: netio.ProxyProxy, Source: tcp("192.0.2.1:1"), Dest: tcp("[2001:db8::2]:2")}
	b, err := mixed.AppendV2(nil)
	if err != nil || b[13] != 0x21 {
		t.Errorf("mixed families: %x, %v; want family byte 0x21", b, err)
	}
	// What version 1 cannot say.
	if _, err := (&netio.ProxyHeader{Command: netio.ProxyProxy, Source: udp("192.0.2.1:1"), Dest: udp("192.0.2.2:2")}).AppendV1(nil); err == nil {
		t.Error("AppendV1 of UDP addresses succeeded")
	}
	if _, err := (&netio.ProxyHeader{Command: 7}).AppendV2(nil); err == nil {
		t.Error("AppendV2 of command 7 succeeded")
	}
}
