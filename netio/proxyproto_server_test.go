package netio_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/syncbuf"
	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// whoami answers each line with the addresses the server sees and the
// PROXY command, if a header was read: "remote local command line".
func whoami(c *netio.Conn, line string) string {
	cmd := "-"
	if h := c.ProxyHeader(); h != nil {
		cmd = fmt.Sprintf("v%d-%v", h.Version, h.Command)
	}
	return fmt.Sprintf("%v %v %s %s", c.RemoteAddr(), c.LocalAddr(), cmd, line)
}

func whoamiTask(c *netio.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(c, whoami(c, line)); err != nil {
			return
		}
	}
}

// whoamiReady serves one line per readable edge (the test's clients send
// one line at a time and wait for the answer).
func whoamiReady(c *netio.Conn) error {
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	_, err = io.WriteString(c, whoami(c, string(buf[:n])))
	return err
}

var proxyModes = []struct {
	name string
	srv  func(p *netio.ProxyProtocol) *netio.Server
}{
	{"task", func(p *netio.ProxyProtocol) *netio.Server {
		return &netio.Server{Handler: whoamiTask, ProxyProtocol: p, Logger: quietLogger()}
	}},
	{"ready", func(p *netio.ProxyProtocol) *netio.Server {
		return &netio.Server{Ready: whoamiReady, ProxyProtocol: p, Logger: quietLogger()}
	}},
}

// exchange sends what (in one write), reads one line and returns it.
func exchange(t testing.TB, c net.Conn, r *bufio.Reader, what []byte) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(what); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return line
}

func mustV1(t testing.TB, h *netio.ProxyHeader) []byte {
	b, err := h.AppendV1(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustV2(t testing.TB, h *netio.ProxyHeader) []byte {
	b, err := h.AppendV2(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var client4 = &netio.ProxyHeader{Command: netio.ProxyProxy, Source: tcp("203.0.113.7:4242"), Dest: tcp("198.51.100.1:80")}
var client6 = &netio.ProxyHeader{Command: netio.ProxyProxy, Source: tcp("[2001:db8::7]:4242"), Dest: tcp("[2001:db8::1]:443")}

// A trusted proxy's header sets the addresses the handler sees, in both
// modes, whether the header comes with the first request, alone, or one
// byte at a time.
func TestServerProxyProtocol(t *testing.T) {
	for _, m := range proxyModes {
		t.Run(m.name, func(t *testing.T) {
			srv := m.srv(&netio.ProxyProtocol{Trusted: loopback})
			ts := startServer(t, srv)
			for _, tc := range []struct {
				name    string
				header  []byte
				split   bool // header and request in separate writes
				trickle bool
				want    string
			}{
				{"v1 with request", mustV1(t, client4), false, false, "203.0.113.7:4242 198.51.100.1:80 v1-PROXY"},
				{"v2 with request", mustV2(t, client4), false, false, "203.0.113.7:4242 198.51.100.1:80 v2-PROXY"},
				{"v2 IPv6 alone first", mustV2(t, client6), true, false, "[2001:db8::7]:4242 [2001:db8::1]:443 v2-PROXY"},
				{"v1 trickled", mustV1(t, client6), true, true, "[2001:db8::7]:4242 [2001:db8::1]:443 v1-PROXY"},
				{"v2 trickled", mustV2(t, client4), true, true, "203.0.113.7:4242 198.51.100.1:80 v2-PROXY"},
				{"v2 large TLV", mustV2(t, &netio.ProxyHeader{Command: netio.ProxyProxy, Source: client4.Source, Dest: client4.Dest,
					TLVs: []netio.ProxyTLV{{Type: 0xe0, Value: make([]byte, 3000)}}}), false, false, "203.0.113.7:4242 198.51.100.1:80 v2-PROXY"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := dialT(t, ts.addr)
					r := bufio.NewReader(c)
					first := append(append([]byte(nil), tc.header...), "hello\n"...)
					if tc.split {
						if tc.trickle {
							for i := range tc.header {
								if _, err := c.Write(tc.header[i : i+1]); err != nil {
									t.Fatal(err)
								}
								time.Sleep(time.Millisecond)
							}
						} else if _, err := c.Write(tc.header); err != nil {
							t.Fatal(err)
						}
						time.Sleep(20 * time.Millisecond) // the header alone reaches the server
						first = []byte("hello\n")
					}
					if got, want := exchange(t, c, r, first), tc.want+" hello\n"; got != want {
						t.Errorf("first reply %q, want %q", got, want)
					}
					// The header is read once: the next line is just a line.
					if got, want := exchange(t, c, r, []byte("again\n")), tc.want+" again\n"; got != want {
						t.Errorf("second reply %q, want %q", got, want)
					}
				})
			}
			// A LOCAL header (a health check) keeps the real addresses.
			c := dialT(t, ts.addr)
			got := exchange(t, c, bufio.NewReader(c), append(mustV2(t, &netio.ProxyHeader{Command: netio.ProxyLocal}), "hi\n"...))
			if want := fmt.Sprintf("%v %v v2-LOCAL hi\n", c.LocalAddr(), c.RemoteAddr()); got != want {
				t.Errorf("LOCAL: %q, want %q", got, want)
			}
			if st := srv.Stats(); st.ProxyFailed != 0 || st.ProxyRefused != 0 {
				t.Errorf("stats %+v: nothing should have failed", st)
			}
		})
	}
}

// A trusted connection without a valid header is closed and counted:
// another protocol's bytes, a malformed header, end of stream, nothing
// at all within the timeout, half a header within the timeout.
//
// The cases that must close at once are sent to a server whose header
// timeout (30 s) is far beyond expectEOF's 5 s, so that "at once" needs
// no time bound (one of 200 ms, the timeout the late cases use, was the
// machine's pace on a loaded machine): a server that waited for the
// timeout fails them.
func TestServerProxyProtocolBadHeader(t *testing.T) {
	const timeout = 200 * time.Millisecond
	for _, m := range proxyModes {
		t.Run(m.name, func(t *testing.T) {
			log := &syncbuf.Buffer{}
			type server struct {
				srv    *netio.Server
				ts     *testServer
				failed uint64
			}
			servers := map[bool]*server{} // by whether the case ends at the timeout
			for late, d := range map[bool]time.Duration{true: timeout, false: 30 * time.Second} {
				srv := m.srv(&netio.ProxyProtocol{Trusted: loopback, Timeout: d})
				srv.Logger.SetOutput(log)
				servers[late] = &server{srv: srv, ts: startServer(t, srv)}
			}
			for _, tc := range []struct {
				name   string
				send   []byte
				closeW bool
				late   bool // closed only by the timeout
			}{
				{"HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, false},
				{"malformed v1", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\nhello\n"), false, false},
				{"malformed v2", v2(0x21, 0x11, ipv4Block[:8]), false, false},
				{"end of stream", nil, true, false},
				{"end of stream inside", []byte("PROXY TCP4 1.2"), true, false},
				{"silence", nil, false, true},
				{"half a header", mustV2(t, client4)[:20], false, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					sv := servers[tc.late]
					// Before the dial: the server's header deadline
					// counts from its scheduler's clock, read when its
					// host loop last polled, which can be before the
					// dial returns here (never before it began).
					start := time.Now()
					c := dialT(t, sv.ts.addr)
					if len(tc.send) > 0 {
						if _, err := c.Write(tc.send); err != nil {
							t.Fatal(err)
						}
					}
					if tc.closeW {
						c.(*net.TCPConn).CloseWrite()
					}
					expectEOF(t, c, 5*time.Second)
					if took := time.Since(start); tc.late && took < timeout {
						t.Errorf("closed after %v, before the header timeout %v", took, timeout)
					}
					sv.failed++
					waitFor(t, 2*time.Second, "ProxyFailed to count it", func() bool { return sv.srv.Stats().ProxyFailed == sv.failed })
				})
			}
			for _, sv := range servers {
				if st := sv.srv.Stats(); st.ProxyRefused != 0 || st.Panics != 0 {
					t.Errorf("stats %+v", st)
				}
			}
			if !strings.Contains(log.String(), "PROXY protocol: connection from 127.0.0.1:") {
				t.Errorf("log %q does not report the failure", log.String())
			}
		})
	}
}

// An untrusted source is refused before it sends anything — or, with
// AllowDirect, served as it is, its PROXY header taken for data.
func TestServerProxyProtocolUntrusted(t *testing.T) {
	elsewhere := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	for _, m := range proxyModes {
		t.Run(m.name, func(t *testing.T) {
			srv := m.srv(&netio.ProxyProtocol{Trusted: elsewhere})
			ts := startServer(t, srv)
			c := dialT(t, ts.addr)
			expectEOF(t, c, 5*time.Second)
			if st := srv.Stats(); st.ProxyRefused != 1 || st.ProxyFailed != 0 {
				t.Errorf("stats %+v, want one refused", st)
			}
		})
		t.Run(m.name+"/AllowDirect", func(t *testing.T) {
			srv := m.srv(&netio.ProxyProtocol{Trusted: elsewhere, AllowDirect: true})
			ts := startServer(t, srv)
			c := dialT(t, ts.addr)
			spoof := mustV1(t, client4)
			got := exchange(t, c, bufio.NewReader(c), spoof)
			if want := fmt.Sprintf("%v %v - %s", c.LocalAddr(), c.RemoteAddr(), spoof); got != want {
				t.Errorf("direct client: %q, want %q (its header is data)", got, want)
			}
		})
	}
}

// TLS on top of the PROXY protocol: the header comes first, in clear,
// then the handshake; the TLS connection reports the proxied address.
func TestServerProxyProtocolTLS(t *testing.T) {
	cert, pool := testCert(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	for _, mode := range []string{"task", "ready"} {
		t.Run(mode, func(t *testing.T) {
			srv := &netio.Server{ProxyProtocol: &netio.ProxyProtocol{Trusted: loopback}}
			if mode == "task" {
				srv.Handler = func(c *netio.Conn) {
					tc := tls.Server(c, cfg)
					defer tc.Close()
					r := bufio.NewReader(tc)
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					io.WriteString(tc, fmt.Sprintf("%v %s", tc.RemoteAddr(), line))
				}
			} else {
				// Ready mode keeps the TLS connection between calls; the
				// handshake and the first request may block inside one.
				srv.Ready = func(c *netio.Conn) error {
					tc, _ := c.Value().(*tls.Conn)
					if tc == nil {
						tc = tls.Server(c, cfg)
						c.SetValue(tc)
					}
					buf := make([]byte, 256)
					n, err := tc.Read(buf)
					if err != nil {
						return err
					}
					_, err = io.WriteString(tc, fmt.Sprintf("%v %s", tc.RemoteAddr(), buf[:n]))
					return err
				}
			}
			ts := startServer(t, srv)
			raw := dialT(t, ts.addr)
			if _, err := raw.Write(mustV2(t, client6)); err != nil {
				t.Fatal(err)
			}
			tc := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "localhost"})
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(tc, "over tls\n"); err != nil {
				t.Fatal(err)
			}
			got, err := bufio.NewReader(tc).ReadString('\n')
			if want := "[2001:db8::7]:4242 over tls\n"; err != nil || got != want {
				t.Errorf("got %q, %v; want %q", got, err, want)
			}
			tc.Close()
		})
	}
}

// Over a Unix-domain socket, trust is TrustUnix's.
func TestServerProxyProtocolUnix(t *testing.T) {
	for _, trust := range []bool{true, false} {
		t.Run(fmt.Sprint("TrustUnix=", trust), func(t *testing.T) {
			path := t.TempDir() + "/pp.sock"
			s := sched.New()
			l, err := netio.Listen(s, "unix", path)
			if err != nil {
				t.Fatal(err)
			}
			srv := &netio.Server{Handler: whoamiTask, ProxyProtocol: &netio.ProxyProtocol{TrustUnix: trust}, Logger: quietLogger()}
			s.Go(func() { srv.Serve(l) })
			ran := make(chan error, 1)
			go func() { ran <- s.Run() }()
			defer func() {
				srv.Close()
				if err := <-ran; err != nil {
					t.Error(err)
				}
			}()
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			hdr := mustV2(t, &netio.ProxyHeader{Command: netio.ProxyProxy,
				Source: &net.UnixAddr{Name: "@client", Net: "unix"}, Dest: &net.UnixAddr{Name: "/run/front.sock", Net: "unix"}})
			if !trust {
				expectEOF(t, c, 5*time.Second)
				return
			}
			got := exchange(t, c, bufio.NewReader(c), append(hdr, "x\n"...))
			if want := "@client /run/front.sock v2-PROXY x\n"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

// ReadHeader serves one's own accept loop: the header read in the
// connection's task, untrusted sources told apart; outside a task of the
// connection's scheduler it refuses.
func TestProxyProtocolReadHeader(t *testing.T) {
	s := runScheduler(t)
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		h     *netio.ProxyHeader
		err   error
		raddr string
	}
	results := make(chan result, 1)
	accepted := make(chan *netio.Conn, 1)
	pps := []*netio.ProxyProtocol{
		{Trusted: loopback},
		{Trusted: nil},
		{Trusted: nil, AllowDirect: true},
	}
	s.Go(func() {
		for i := range len(pps) + 1 {
			c, err := l.AcceptConn()
			if err != nil {
				t.Errorf("accept: %v", err)
				return
			}
			if i == len(pps) {
				accepted <- c
				return
			}
			s.Go(func() {
				defer c.Close()
				h, err := pps[i].ReadHeader(c)
				results <- result{h, err, c.RemoteAddr().String()}
			})
		}
	})
	for i := range pps {
		c := dialT(t, l.Addr().String())
		c.Write(mustV1(t, client4))
		r := <-results
		switch i {
		case 0:
			if r.err != nil || r.h == nil || r.raddr != "203.0.113.7:4242" || r.h.Proxy.String() != c.LocalAddr().String() {
				t.Errorf("trusted: %+v", r)
			}
		case 1:
			if !errors.Is(r.err, netio.ErrUntrustedProxy) || r.h != nil {
				t.Errorf("untrusted: %+v, want ErrUntrustedProxy", r)
			}
		case 2:
			if r.err != nil || r.h != nil || r.raddr != c.LocalAddr().String() {
				t.Errorf("direct: %+v, want no header and the real address", r)
			}
		}
	}
	c := dialT(t, l.Addr().String())
	c.Write(mustV1(t, client4))
	nc := <-accepted
	defer nc.Close()
	if h, err := pps[0].ReadHeader(nc); err == nil {
		t.Errorf("ReadHeader outside a task: %+v, want an error", h)
	}
}

func quietLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// Shutdown does not wait out the header timeout of a trusted connection
// that has said nothing: like an idle keep-alive connection, it is
// closed at once, and not counted as a failed header.
func TestServerProxyProtocolShutdownSilent(t *testing.T) {
	for _, m := range proxyModes {
		t.Run(m.name, func(t *testing.T) {
			srv := m.srv(&netio.ProxyProtocol{Trusted: loopback, Timeout: time.Minute})
			ts := startServer(t, srv)
			c := dialT(t, ts.addr)
			waitFor(t, 2*time.Second, "the connection to be served", func() bool { return srv.Stats().Active == 1 })
			start := time.Now()
			ts.stop()
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Shutdown took %v with a silent connection", took)
			}
			expectEOF(t, c, 5*time.Second)
			if st := srv.Stats(); st.ProxyFailed != 0 {
				t.Errorf("stats %+v: a connection the server closed is not a failed header", st)
			}
		})
	}
}
