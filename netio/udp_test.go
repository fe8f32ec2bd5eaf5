package netio_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// udpEcho serves p from a task until it is closed: each datagram goes back
// to its sender prefixed with "echo ".
func udpEcho(t testing.TB, s *sched.Scheduler, p *netio.PacketConn) {
	s.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, addr, err := p.ReadFrom(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("echo ReadFrom: %v", err)
				}
				return
			}
			if _, err := p.WriteTo(append([]byte("echo "), buf[:n]...), addr); err != nil {
				t.Errorf("echo WriteTo: %v", err)
				return
			}
		}
	})
}

func mustListenPacket(t testing.TB, s *sched.Scheduler, network, address string) *netio.PacketConn {
	t.Helper()
	p, err := netio.ListenPacket(s, network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestUDPEchoCoopClient(t *testing.T) {
	for _, tt := range []struct{ network, address string }{
		{"udp4", "127.0.0.1:0"},
		{"udp", "127.0.0.1:0"},
		{"udp6", "[::1]:0"},
		{"udp", ":0"}, // dual stack
	} {
		t.Run(tt.network+" "+tt.address, func(t *testing.T) {
			if tt.address == "[::1]:0" || tt.address == ":0" {
				if !supportsIPv6(t) {
					t.Skip("no IPv6 loopback")
				}
			}
			runTasks(t, func(s *sched.Scheduler) {
				srv := mustListenPacket(t, s, tt.network, tt.address)
				defer srv.Close()
				udpEcho(t, s, srv)
				port := srv.LocalAddr().(*net.UDPAddr).Port
				dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
				if tt.network == "udp6" {
					dst.IP = net.IPv6loopback
				}
				clNet, clAddr := "udp", "127.0.0.1:0"
				if tt.network == "udp6" {
					clNet, clAddr = "udp6", "[::1]:0"
				}
				cl := mustListenPacket(t, s, clNet, clAddr)
				defer cl.Close()
				buf := make([]byte, 100)
				for i := range 10 {
					msg := fmt.Sprintf("ping %d", i)
					if _, err := cl.WriteTo([]byte(msg), dst); err != nil {
						t.Fatal(err)
					}
					n, from, err := cl.ReadFrom(buf)
					if err != nil {
						t.Fatal(err)
					}
					if got, want := string(buf[:n]), "echo "+msg; got != want {
						t.Fatalf("got %q, want %q", got, want)
					}
					if from.(*net.UDPAddr).Port != port {
						t.Fatalf("reply from %v, want port %d", from, port)
					}
				}
				// The allocation-free pair.
				ap := netip.AddrPortFrom(netip.MustParseAddr(dst.IP.String()), uint16(port))
				if _, err := cl.WriteToUDPAddrPort([]byte("addrport"), ap); err != nil {
					t.Fatal(err)
				}
				n, from, err := cl.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatal(err)
				}
				if string(buf[:n]) != "echo addrport" || from.Addr().Unmap() != ap.Addr() || from.Port() != ap.Port() {
					t.Fatalf("got %q from %v", buf[:n], from)
				}
			})
		})
	}
}

func supportsIPv6(t testing.TB) bool {
	l, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// TestUDPEchoNetPeers has a coop server answer net clients, and a coop
// client ask a net server, from plain goroutines.
func TestUDPEchoNetPeers(t *testing.T) {
	s := runScheduler(t)
	srv := mustListenPacket(t, s, "udp", "127.0.0.1:0")
	udpEcho(t, s, srv)
	c, err := net.Dial("udp", srv.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	for i := range 10 {
		msg := fmt.Sprintf("net %d", i)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "echo "+msg {
			t.Fatalf("got %q, %v", buf[:n], err)
		}
	}

	// A net server, a coop client used from this goroutine.
	ns, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	go func() {
		b := make([]byte, 100)
		for {
			n, a, err := ns.ReadFrom(b)
			if err != nil {
				return
			}
			ns.WriteTo(bytes.ToUpper(b[:n]), a)
		}
	}()
	cl := mustListenPacket(t, s, "udp", "127.0.0.1:0")
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := cl.WriteTo([]byte("hello"), ns.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	n, from, err := cl.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "HELLO" || from.String() != ns.LocalAddr().String() {
		t.Fatalf("got %q from %v, %v", buf[:n], from, err)
	}
}

func TestUDPReadDeadline(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		p := mustListenPacket(t, s, "udp", "127.0.0.1:0")
		start := time.Now()
		p.SetReadDeadline(start.Add(50 * time.Millisecond))
		_, _, err := p.ReadFrom(make([]byte, 10))
		wantTimeout(t, err)
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Errorf("timed out after %v, want 50ms", d)
		}
		// A past deadline fails at once, even with a datagram waiting.
		q := mustListenPacket(t, s, "udp", "127.0.0.1:0")
		q.WriteTo([]byte("x"), p.LocalAddr())
		p.SetReadDeadline(time.Now().Add(-time.Second))
		_, _, err = p.ReadFrom(make([]byte, 10))
		wantTimeout(t, err)
		p.SetReadDeadline(time.Time{})
		if n, _, err := p.ReadFrom(make([]byte, 10)); n != 1 || err != nil {
			t.Fatalf("after clearing the deadline: %d, %v", n, err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) && err != nil {
			t.Errorf("error %T, want *net.OpError", err)
		}
	})
}

// TestUDPDatagramBoundaries checks that a short datagram does not make the
// next read wait for an edge: several datagrams queued at once are all
// read without another one arriving.
func TestUDPDatagramBoundaries(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		p := mustListenPacket(t, s, "udp", "127.0.0.1:0")
		q := mustListenPacket(t, s, "udp", "127.0.0.1:0")
		for i := range 5 {
			q.WriteTo([]byte{byte(i)}, p.LocalAddr())
		}
		sched.Sleep(20 * time.Millisecond) // all queued, one edge
		p.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 100)
		for i := range 5 {
			n, _, err := p.ReadFrom(buf)
			if err != nil || n != 1 || buf[0] != byte(i) {
				t.Fatalf("datagram %d: %v %v %v", i, n, buf[:n], err)
			}
		}
		// An empty datagram is a datagram, not end of stream.
		q.WriteTo(nil, p.LocalAddr())
		if n, _, err := p.ReadFrom(buf); n != 0 || err != nil {
			t.Fatalf("empty datagram: %d, %v", n, err)
		}
	})
}

// TestUDPConcurrent hammers one PacketConn from plain goroutines (the Do
// path) while a task serves it; run it under -race.
func TestUDPConcurrent(t *testing.T) {
	s := runScheduler(t)
	srv := mustListenPacket(t, s, "udp", "127.0.0.1:0")
	udpEcho(t, s, srv)
	cl := mustListenPacket(t, s, "udp", "127.0.0.1:0")
	const senders, each = 4, 50
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				if _, err := cl.WriteTo([]byte(fmt.Sprintf("%d/%d", g, i)), srv.LocalAddr()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	got := make(chan string, senders*each)
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 2 {
		wg.Go(func() {
			buf := make([]byte, 100)
			for {
				n, _, err := cl.ReadFrom(buf)
				if err != nil {
					return // closed or deadline, once all arrived
				}
				got <- string(buf[:n])
			}
		})
	}
	seen := map[string]bool{}
	for len(seen) < senders*each {
		select {
		case m := <-got:
			seen[m] = true
		case <-time.After(5 * time.Second):
			// Loopback UDP does not drop under this load in practice; if
			// it did, the count would say so.
			t.Fatalf("got %d of %d echoes", len(seen), senders*each)
		}
	}
	cl.Close()
	wg.Wait()
}

func TestUnixgramEcho(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		path := unixSocketPath(t)
		srv := mustListenPacket(t, s, "unixgram", path)
		udpEcho(t, s, srv)
		cl := mustListenPacket(t, s, "unixgram", path+"c")
		if _, err := cl.WriteTo([]byte("hi"), &net.UnixAddr{Name: path, Net: "unixgram"}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		n, from, err := cl.ReadFrom(buf)
		if err != nil || string(buf[:n]) != "echo hi" || from.String() != path {
			t.Fatalf("got %q from %v, %v", buf[:n], from, err)
		}
		if runtime.GOOS == "linux" {
			// An empty address autobinds an abstract name, which can be
			// answered.
			anon := mustListenPacket(t, s, "unixgram", "")
			if name := anon.LocalAddr().String(); len(name) < 2 || name[0] != '@' {
				t.Errorf("autobound address %q, want an abstract @name", name)
			}
			anon.WriteTo([]byte("anon"), srv.LocalAddr())
			if n, _, err := anon.ReadFrom(buf); err != nil || string(buf[:n]) != "echo anon" {
				t.Fatalf("autobound: got %q, %v", buf[:n], err)
			}
		}
		srv.Close()
		cl.Close()
		if _, err := net.Dial("unixgram", path); err == nil {
			t.Errorf("%s still there after Close", path)
		}
	})
}

// TestUDPConnectedErrorNoSpin: a connected UDP socket that got an ICMP
// port unreachable reports ECONNREFUSED to one receive. The error edge is
// spent then: the next receive must wait (here, for its deadline) instead
// of retrying a socket that stays "readable" forever, which would hang the
// scheduler thread with the deadline's timer never run.
func TestUDPConnectedErrorNoSpin(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.LocalAddr().(*net.UDPAddr)
	dead.Close() // nobody listens there now
	nc, err := net.DialUDP("udp", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hang := time.AfterFunc(10*time.Second, func() { panic("TestUDPConnectedErrorNoSpin: the scheduler thread is stuck") })
	defer hang.Stop()
	runTasks(t, func(s *sched.Scheduler) {
		p, err := netio.AdoptPacketConn(s, nc)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		buf := make([]byte, 10)
		if _, err := nc.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		sched.Sleep(20 * time.Millisecond) // the ICMP error arrives
		p.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := p.ReadFrom(buf); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("first read: %v, want ECONNREFUSED", err)
		}
		_, _, err = p.ReadFrom(buf)
		wantTimeout(t, err)
	})
}

// TestUDPAddrPortAllocs: the netip.AddrPort pair allocates nothing from a
// task, so a busy UDP server makes no garbage per datagram.
func TestUDPAddrPortAllocs(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		p := mustListenPacket(t, s, "udp", "127.0.0.1:0")
		q := mustListenPacket(t, s, "udp", "127.0.0.1:0")
		to := q.LocalAddr().(*net.UDPAddr).AddrPort()
		msg, buf := []byte("x"), make([]byte, 10)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := p.WriteToUDPAddrPort(msg, to); err != nil {
				t.Fatal(err)
			}
			if _, _, err := q.ReadFromUDPAddrPort(buf); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v allocations per datagram sent and received, want 0", allocs)
		}
	})
}
