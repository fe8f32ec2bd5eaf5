// Command tls is a TLS echo server: crypto/tls, unchanged, on coop
// connections. Each connection is a task that wraps its *netio.Conn with
// tls.Server, runs the handshake and echoes what the client sends, all
// blocking-style: tls.Conn only needs a net.Conn, and a netio.Conn is one
// whose blocking calls park the task instead of the thread.
//
// Give it a certificate with -cert and -key (PEM files), or let it make a
// self-signed one at startup; it then logs the certificate's SHA-256
// fingerprint, to compare with what a client is shown. Talk to it with
// openssl or any TLS client:
//
//	go run ./examples/tls -addr 127.0.0.1:7443
//	openssl s_client -connect 127.0.0.1:7443 -quiet
//
// Sessions run in task mode only. Ready mode does not fit TLS: a tls.Conn
// reads whole records from the socket and keeps what it has decrypted
// but not yet returned, so input can wait in user space while the socket
// looks idle, and a handler run only on socket readiness would sit on it.
//
// Only one task uses each tls.Conn. That matters: tls.Conn guards its
// state with sync.Mutex, and a task that blocks on a sync.Mutex held by
// another task of its scheduler (parked in a Read or Write) blocks the
// scheduler's thread, and with it the task that would release the lock.
//
// The handshake's public-key operation is CPU work done on the scheduler's
// thread (tens of microseconds with the default ECDSA P-256 key): many
// handshakes at once queue behind each other, and -cores spreads them.
//
// SIGINT or SIGTERM shuts it down gracefully: it stops accepting, lets
// sessions finish for up to -grace, closes the rest and exits 0.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

var logger = log.New(os.Stderr, "tls: ", log.LstdFlags)

func main() {
	addr := flag.String("addr", "127.0.0.1:7443", "address to listen on")
	cores := flag.Int("cores", 1, "number of schedulers (threads), each with its own SO_REUSEPORT listener")
	certFile := flag.String("cert", "", "PEM certificate (chain) file; with -key. Default: a self-signed certificate made at startup")
	keyFile := flag.String("key", "", "PEM private key file; with -cert")
	handshake := flag.Duration("handshake-timeout", 10*time.Second, "time allowed for the TLS handshake")
	idle := flag.Duration("idle", 5*time.Minute, "close a session that sends nothing, or does not read its echo, for this long (0: never)")
	grace := flag.Duration("grace", 3*time.Second, "how long shutdown waits for sessions to end before closing them")
	flag.Parse()
	if *cores < 1 || flag.NArg() > 0 || (*certFile == "") != (*keyFile == "") {
		fmt.Fprintln(os.Stderr, "tls: -cert and -key go together; -cores must be at least 1")
		flag.Usage()
		os.Exit(2)
	}

	var cert tls.Certificate
	var err error
	if *certFile != "" {
		cert, err = tls.LoadX509KeyPair(*certFile, *keyFile)
	} else {
		cert, err = selfSigned()
	}
	if err != nil {
		logger.Fatal(err)
	}
	logger.Printf("certificate %q, SHA-256 fingerprint %s", leafName(cert), fingerprint(cert.Certificate[0]))
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	srv := &netio.Server{
		Logger:  logger,
		Handler: func(c *netio.Conn) { session(c, cfg, *handshake, *idle) },
	}
	if err := serve(srv, *addr, *cores, *grace); err != nil {
		logger.Fatal(err)
	}
}

// session is one connection: handshake, then echo until the client's
// close_notify, then ours. The server closes the connection on return.
func session(c *netio.Conn, cfg *tls.Config, handshake, idle time.Duration) {
	tc := tls.Server(c, cfg)
	c.SetDeadline(time.Now().Add(handshake))
	if err := tc.Handshake(); err != nil {
		// Plain-text clients, garbage and expired handshakes end here,
		// one line each, and the connection is closed. A client that
		// leaves without a word (a port probe) is not worth a line.
		if err != io.EOF {
			logger.Printf("%v: handshake: %v", c.RemoteAddr(), err)
		}
		return
	}
	c.SetDeadline(time.Time{})
	buf := make([]byte, 16<<10) // a TLS record's plaintext
	for {
		if idle > 0 {
			c.SetReadDeadline(time.Now().Add(idle))
		}
		n, err := tc.Read(buf)
		if n > 0 {
			if idle > 0 {
				c.SetWriteDeadline(time.Now().Add(idle))
			}
			if _, werr := tc.Write(buf[:n]); werr != nil {
				logErr(c, werr)
				return
			}
		}
		if err == io.EOF { // the client's close_notify
			if err := tc.CloseWrite(); err != nil {
				logErr(c, err)
			}
			return
		}
		if err != nil {
			logErr(c, err)
			return
		}
	}
}

// logErr logs err unless it is the normal end of a session.
func logErr(c *netio.Conn, err error) {
	switch {
	case errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
	case errors.Is(err, os.ErrDeadlineExceeded):
		logger.Printf("%v: idle or not reading, closing", c.RemoteAddr())
	default:
		logger.Printf("%v: %v", c.RemoteAddr(), err)
	}
}

// selfSigned makes an ECDSA P-256 certificate for localhost, 127.0.0.1
// and ::1, valid for a week.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "coop tls example (self-signed)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// fingerprint formats a certificate's SHA-256 as openssl does:
// "AB:CD:...".
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

func leafName(cert tls.Certificate) string {
	if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil {
		return leaf.Subject.CommonName
	}
	return "?"
}

// serve runs srv on addr with one scheduler, or a group of cores
// schedulers each with its own listener, until SIGINT or SIGTERM.
func serve(srv *netio.Server, addr string, cores int, grace time.Duration) error {
	var (
		start   func(func()) *sched.Task
		run     func() error
		serveLs func() error
		laddr   net.Addr
	)
	if cores == 1 {
		s := sched.New(sched.WithName("tls"), sched.WithLogger(logger))
		l, err := netio.Listen(s, "tcp", addr)
		if err != nil {
			return err
		}
		start, run, laddr = s.Go, s.Run, l.Addr()
		serveLs = func() error { return srv.Serve(l) }
	} else {
		g := sched.NewGroup(cores, sched.WithName("tls"), sched.WithLogger(logger))
		ls, err := netio.ListenGroup(g, "tcp", addr)
		if err != nil {
			return err
		}
		start, run, laddr = g.Go, g.Run, ls[0].Addr()
		serveLs = func() error { return srv.ServeGroup(ls) }
	}
	logger.Printf("listening on %v (%d core(s))", laddr, cores)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		logger.Printf("%v: shutting down", sig)
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			logger.Printf("shutdown: %v (remaining connections closed)", err)
		}
	}()

	var serveErr error
	start(func() {
		if err := serveLs(); !errors.Is(err, netio.ErrServerClosed) {
			serveErr = err
		}
	})
	return errors.Join(run(), serveErr)
}
