package netio_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// testCert makes a self-signed ECDSA certificate for localhost and
// 127.0.0.1, and the pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "coop test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// serveTLSEcho accepts n connections on l, each in its own task, and
// answers every line of each with "echo: " and the line, over TLS.
func serveTLSEcho(t testing.TB, s *sched.Scheduler, l *netio.Listener, cert tls.Certificate, n int) {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Go(func() {
		for range n {
			c, err := l.AcceptConn()
			if err != nil {
				t.Errorf("accept: %v", err)
				return
			}
			s.Go(func() {
				tc := tls.Server(c, cfg)
				defer tc.Close()
				r := bufio.NewReader(tc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						if err != io.EOF {
							t.Errorf("server read: %v", err)
						}
						return
					}
					if _, err := io.WriteString(tc, "echo: "+line); err != nil {
						t.Errorf("server write: %v", err)
						return
					}
				}
			})
		}
	})
}

// tlsChat sends lines over c and checks the echoes, then closes c's
// writing side so that the server sees end of stream.
func tlsChat(c *tls.Conn, name string) error {
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	r := bufio.NewReader(c)
	for i := range 20 {
		line := fmt.Sprintf("%s line %d\n", name, i)
		if _, err := io.WriteString(c, line); err != nil {
			return err
		}
		got, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if got != "echo: "+line {
			return fmt.Errorf("got %q, want %q", got, "echo: "+line)
		}
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return fmt.Errorf("after close_notify: %v, want EOF", err)
	}
	return nil
}

// TestTLSCoopBothEnds: server and clients are tasks of one scheduler, so
// the handshakes of several clients interleave on one thread.
func TestTLSCoopBothEnds(t *testing.T) {
	cert, pool := testCert(t)
	const clients = 4
	runTasks(t, func(s *sched.Scheduler) {
		l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		serveTLSEcho(t, s, l, cert, clients)
		var tasks []*sched.Task
		for i := range clients {
			tasks = append(tasks, s.Go(func() {
				c, err := netio.Dial(s, "tcp", l.Addr().String())
				if err != nil {
					t.Error(err)
					return
				}
				tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
				defer tc.Close()
				if err := tlsChat(tc, fmt.Sprintf("client %d", i)); err != nil {
					t.Errorf("client %d: %v", i, err)
				}
			}))
		}
		for _, task := range tasks {
			task.Wait()
		}
	})
}

// TestTLSNetClient: the server runs in tasks, plain crypto/tls clients
// dial it over package net.
func TestTLSNetClient(t *testing.T) {
	cert, pool := testCert(t)
	s := runScheduler(t)
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const clients = 3
	serveTLSEcho(t, s, l, cert, clients)
	errc := make(chan error, clients)
	for i := range clients {
		go func() {
			tc, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool})
			if err != nil {
				errc <- err
				return
			}
			defer tc.Close()
			errc <- tlsChat(tc, fmt.Sprintf("net client %d", i))
		}()
	}
	for range clients {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}

// TestTLSCoopClientNetServer: a coop client task against a crypto/tls
// server of package net.
func TestTLSCoopClientNetServer(t *testing.T) {
	cert, pool := testCert(t)
	nl, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	go func() {
		c, err := nl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			io.WriteString(c, "echo: "+line)
		}
	}()
	runTasks(t, func(s *sched.Scheduler) {
		c, err := netio.Dial(s, "tcp", nl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
		defer tc.Close()
		if err := tlsChat(tc, "coop client"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestTLSDeadline: a read deadline on the Conn under a tls.Conn surfaces
// as a timeout through it.
func TestTLSDeadline(t *testing.T) {
	cert, pool := testCert(t)
	runTasks(t, func(s *sched.Scheduler) {
		l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		serveTLSEcho(t, s, l, cert, 1)
		c, err := netio.Dial(s, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
		defer tc.Close()
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		tc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err = tc.Read(make([]byte, 10))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("read past deadline: %v, want a timeout", err)
		}
	})
}
