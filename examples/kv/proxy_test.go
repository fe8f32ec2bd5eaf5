package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
	"github.com/coopgo/coop/netio"
)

// clientInfo sends a PROXY header (if any) and CLIENT INFO on a new
// connection and returns the reply's fields.
func clientInfo(t *testing.T, addr string, header []byte) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(append(header, "*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n"...)); err != nil {
		return "", err
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	return string(buf[:n]), err
}

// -proxy-protocol: the address in the header is the client's, for CLIENT
// INFO (and the logs); a trusted source without a header is closed.
func TestProxyProtocol(t *testing.T) {
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		h := &netio.ProxyHeader{Command: netio.ProxyProxy,
			Source: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("203.0.113.7:4242")),
			Dest:   net.TCPAddrFromAddrPort(netip.MustParseAddrPort("198.51.100.1:6379"))}
		for _, v := range []int{1, 2} {
			var hdr []byte
			var err error
			if v == 1 {
				hdr, err = h.AppendV1(nil)
			} else {
				hdr, err = h.AppendV2(nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := clientInfo(t, s.Addr, hdr)
			if err != nil || !strings.Contains(got, " addr=203.0.113.7:4242 laddr=198.51.100.1:6379 ") {
				t.Errorf("v%d: CLIENT INFO %q, %v", v, got, err)
			}
		}
		if got, err := clientInfo(t, s.Addr, nil); err == nil {
			t.Errorf("no header: %q, want the connection closed", got)
		}
	}, "-proxy-protocol")
}

// HAProxy in TCP mode with send-proxy-v2 in front of kv, redis-cli
// through it: kv sees redis-cli's connection to HAProxy, whose local
// address is HAProxy's frontend, not kv's own.
func TestHAProxySendProxyV2(t *testing.T) {
	exampletest.Need(t, "haproxy", "redis-cli")
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		front := exampletest.FreeAddr(t)
		cfg := fmt.Sprintf(`global
	maxconn 100
defaults
	mode tcp
	timeout connect 2s
	timeout client 10s
	timeout server 10s
frontend fe
	bind %s
	default_backend kv
backend kv
	server kv1 %s send-proxy-v2
`, front, s.Addr)
		path := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		exampletest.StartAt(t, front, "haproxy", "-db", "-f", path)
		out := cli(t, front, "CLIENT", "INFO")
		m := regexp.MustCompile(` addr=(\S+) laddr=(\S+) `).FindStringSubmatch(out)
		if m == nil || m[2] != front || !strings.HasPrefix(m[1], "127.0.0.1:") {
			t.Errorf("CLIENT INFO through HAProxy: %q; want laddr=%s (HAProxy's frontend) and redis-cli's address", out, front)
		}
		if got := cli(t, front, "SET", "k", "v"); got != "OK" {
			t.Errorf("SET through HAProxy: %q", got)
		}
	}, "-proxy-protocol")
}
