package netio_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/coopgo/coop/netio"
)

// TestAcceptedAddrs: an accepted connection's addresses, kept raw and made
// on demand, are the ones the client sees the other way round, also on a
// wildcard listener (where the local address is the one dialed) and after
// Close; each call gives a value of the caller's own.
func TestAcceptedAddrs(t *testing.T) {
	cases := []struct{ network, listen, dial string }{
		{"tcp4", "127.0.0.1:0", "127.0.0.1"},
		{"tcp6", "[::1]:0", "::1"},
		{"tcp", ":0", "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.network+"-"+tc.listen, func(t *testing.T) {
			s := runScheduler(t)
			l, err := netio.Listen(s, tc.network, tc.listen)
			if err != nil {
				t.Skip(err) // no IPv6 here
			}
			defer l.Close()
			port := l.Addr().(*net.TCPAddr).Port
			client, err := net.Dial("tcp", net.JoinHostPort(tc.dial, itoa(port)))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			c, err := l.AcceptConn()
			if err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				la, ra := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
				cl, cr := client.LocalAddr().(*net.TCPAddr), client.RemoteAddr().(*net.TCPAddr)
				if !ra.IP.Equal(cl.IP) || ra.Port != cl.Port {
					t.Errorf("%s: RemoteAddr %v, the client is %v", when, ra, cl)
				}
				if !la.IP.Equal(cr.IP) || la.Port != cr.Port {
					t.Errorf("%s: LocalAddr %v, the client dialed %v", when, la, cr)
				}
			}
			check("open")
			if a, b := c.RemoteAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr); a == b || &a.IP[0] == &b.IP[0] {
				t.Error("two RemoteAddr calls share their value")
			}
			c.Close()
			check("after Close")
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
