package netio_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/netio"
)

// FuzzParseProxyHeader feeds the parser arbitrary input (seeds in
// testdata/fuzz/FuzzParseProxyHeader, plus the valid headers below) and
// checks what the connection reader relies on: no panic; a header's
// length within the input; the same header from exactly its own bytes;
// every proper prefix of a header waited for, never refused; an error
// never undone by more input; and what the encoders write parsing back
// to the same header.
//
//	go test -fuzz FuzzParseProxyHeader -run '^$' ./netio
func FuzzParseProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVAuthority, []byte("example"))))
	f.Add(v2(0x21, 0x21, ipv6Block, tlv(netio.ProxyTLVSSL, []byte{1, 0, 0, 0, 0, 0x21, 0, 1, 'x'})))
	f.Add(v2(0x21, 0x31, unixBlock("/a", "\x00b")))
	f.Add(withCRC(v2(0x21, 0x11, ipv4Block, tlv(netio.ProxyTLVCRC32C, make([]byte, 4))), 0))
	f.Add(v2(0x20, 0x00))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, need, err := netio.ParseProxyHeader(b)
		if err != nil {
			if h != nil || !errors.Is(err, netio.ErrBadProxyHeader) {
				t.Fatalf("error %v with header %v, or not ErrBadProxyHeader", err, h)
			}
			if _, _, _, err2 := netio.ParseProxyHeader(append(bytes.Clone(b), 0, '\r', '\n')); err2 == nil {
				t.Fatalf("refused %q (%v), accepted it with more input", b, err)
			}
			return
		}
		if h == nil {
			if need <= len(b) || need > 16+0xffff {
				t.Fatalf("incomplete %q: need %d", b, need)
			}
			return
		}
		if n <= 0 || n > len(b) || need != 0 {
			t.Fatalf("header of %d bytes (need %d) in %d", n, need, len(b))
		}
		h2, n2, _, err := netio.ParseProxyHeader(b[:n])
		if err != nil || n2 != n {
			t.Fatalf("its own %d bytes: n %d, err %v", n, n2, err)
		}
		if diff := cmp.Diff(h, h2, cmpHeader); diff != "" {
			t.Fatalf("its own bytes parse differently (-whole +own):\n%s", diff)
		}
		for _, i := range prefixes(n) {
			if p, _, need, err := netio.ParseProxyHeader(b[:i]); p != nil || err != nil || need <= i {
				t.Fatalf("prefix %d of a %d-byte header: %v, need %d, %v", i, n, p, need, err)
			}
		}
		if _, crc := h.TLV(netio.ProxyTLVCRC32C); crc {
			return // re-encoding changes the bytes the checksum covers
		}
		var enc []byte
		if h.Version == 1 {
			enc, err = h.AppendV1(nil)
		} else {
			enc, err = h.AppendV2(nil)
		}
		if err != nil {
			t.Fatalf("encoding %+v: %v", h, err)
		}
		h3, _, _, err := netio.ParseProxyHeader(enc)
		if err != nil {
			t.Fatalf("re-encoded %q: %v", enc, err)
		}
		if diff := cmp.Diff(h, h3, cmpHeader); diff != "" {
			t.Fatalf("round trip (-parsed +re-encoded):\n%s", diff)
		}
	})
}

// prefixes lists the proper prefix lengths to check for a header of n
// bytes: all of them for short headers, the ends for long ones.
func prefixes(n int) []int {
	var ps []int
	for i := range n {
		if n <= 300 || i < 40 || i > n-40 {
			ps = append(ps, i)
		}
	}
	return ps
}
