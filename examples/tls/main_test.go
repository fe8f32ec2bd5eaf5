package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
)

var (
	bin               string
	certFile, keyFile string
	roots             *x509.CertPool
)

func TestMain(m *testing.M) {
	var cleanup func()
	var err error
	bin, cleanup, err = exampletest.Build(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "coop-tls-test-")
	if err == nil {
		err = writeKeyPair(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeKeyPair makes a self-signed certificate for 127.0.0.1 in dir, the
// one the tests pass the server and trust in their clients.
func writeKeyPair(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "coop tls test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return nil
}

func start(t *testing.T, args ...string) *exampletest.Server {
	t.Helper()
	return exampletest.Start(t, bin, append([]string{"-cert", certFile, "-key", keyFile}, args...)...)
}

var coreConfigs = []struct {
	name string
	args []string
}{
	{"cores1", nil},
	{"cores2", []string{"-cores", "2"}},
}

// TestOpenSSL pipes 1,000 lines through openssl s_client, which verifies
// the server's certificate against the test's, and checks the echo. The
// test closes s_client's input only once the echo is complete: -no_ign_eof
// then makes it send close_notify and exit.
func TestOpenSSL(t *testing.T) {
	exampletest.Need(t, "openssl")
	var in bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&in, "line %d: the quick brown fox jumps over the lazy dog\n", i)
	}
	for _, cf := range coreConfigs {
		t.Run(cf.name, func(t *testing.T) {
			srv := start(t, cf.args...)
			cmd := exec.Command("openssl", "s_client", "-connect", srv.Addr, "-quiet", "-no_ign_eof",
				"-CAfile", certFile, "-verify_return_error")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			timer := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			defer timer.Stop()
			go func() { stdin.Write(in.Bytes()) }()
			got := make([]byte, in.Len())
			if _, err := io.ReadFull(stdout, got); err != nil {
				t.Fatalf("reading the echo: %v\nopenssl stderr:\n%s", err, stderr.String())
			}
			stdin.Close()
			rest, _ := io.ReadAll(stdout)
			if err := cmd.Wait(); err != nil {
				t.Errorf("openssl: %v\n%s", err, stderr.String())
			}
			if !bytes.Equal(got, in.Bytes()) || len(rest) > 0 {
				t.Errorf("echo differs: got %d bytes (+%d after), want %d", len(got), len(rest), in.Len())
			}
			if !strings.Contains(stderr.String(), "verify return:1") {
				t.Errorf("openssl did not verify the certificate:\n%s", stderr.String())
			}
		})
	}
}

func dialTLS(addr string) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: 15 * time.Second}
	return tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots})
}

// echoTLS sends payload over a new verified TLS connection, half-closes
// (close_notify) and checks that exactly the payload comes back.
func echoTLS(addr string, payload []byte) error {
	c, err := dialTLS(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	werr := make(chan error, 1)
	go func() {
		if _, err := c.Write(payload); err != nil {
			werr <- err
			return
		}
		werr <- c.CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("got %d bytes back, want %d", len(got), len(payload))
	}
	return nil
}

// TestGoClient echoes 1 MiB through a crypto/tls client that verifies the
// server against the test's certificate.
func TestGoClient(t *testing.T) {
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	for _, cf := range coreConfigs {
		t.Run(cf.name, func(t *testing.T) {
			srv := start(t, cf.args...)
			if err := echoTLS(srv.Addr, payload); err != nil {
				t.Fatal(err)
			}
			if err := srv.Stop(); err != nil {
				t.Errorf("server did not exit cleanly on SIGTERM: %v", err)
			}
		})
	}
}

// TestConcurrentHandshakes runs 100 clients at once, each a full
// handshake and an echo.
func TestConcurrentHandshakes(t *testing.T) {
	const clients = 100
	for _, cf := range coreConfigs {
		t.Run(cf.name, func(t *testing.T) {
			srv := start(t, cf.args...)
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					msg := bytes.Repeat([]byte{byte(i)}, 4096+i)
					if err := echoTLS(srv.Addr, msg); err != nil {
						errs <- fmt.Errorf("client %d: %w", i, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// TestBadClients checks that clients that are not TLS — plain text, random
// bytes, silence past the handshake timeout — are closed, and that a TLS
// session open meanwhile, and new ones, are unaffected.
func TestBadClients(t *testing.T) {
	// The good clients' handshakes must beat the timeout too, on a
	// loaded machine and against a race-built server: 1.5 s leaves them
	// a wide margin, and the silent client is still closed well within
	// its 5 s deadline.
	srv := start(t, "-handshake-timeout", "1.5s")
	good, err := dialTLS(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	roundTrip := func(msg string) {
		t.Helper()
		good.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := good.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(good, buf); err != nil || string(buf) != msg {
			t.Fatalf("good client: %q, %v", buf, err)
		}
	}
	roundTrip("before")

	junk := make([]byte, 64<<10)
	rand.Read(junk)
	bad := map[string][]byte{
		"http":   []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"random": junk,
		"silent": nil,
	}
	var wg sync.WaitGroup
	for name, msg := range bad {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			go c.Write(msg) // the server may close before it reads it all
			// At most an alert record, then the end of the connection.
			got, err := io.ReadAll(io.LimitReader(c, 1024))
			if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				t.Errorf("%s client: not closed: %v", name, err)
			}
			if len(got) > 7 {
				t.Errorf("%s client: got %d bytes, want at most an alert", name, len(got))
			}
		}()
	}
	wg.Wait()
	roundTrip("after")
	if err := echoTLS(srv.Addr, []byte("a new session")); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(srv.Output(), "handshake:"); n != 3 {
		t.Errorf("%d handshake errors logged, want 3:\n%s", n, srv.Output())
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// TestSelfSigned starts the server without a certificate and checks that
// the one it makes is the one whose fingerprint it logs.
func TestSelfSigned(t *testing.T) {
	srv := exampletest.Start(t, bin)
	m := regexp.MustCompile(`SHA-256 fingerprint ([0-9A-F:]{95})`).FindStringSubmatch(srv.Output())
	if m == nil {
		t.Fatalf("no fingerprint logged:\n%s", srv.Output())
	}
	cfg := &tls.Config{
		InsecureSkipVerify: true, // verified by fingerprint below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := fingerprint(cs.PeerCertificates[0].Raw); got != m[1] {
				return fmt.Errorf("certificate fingerprint %s, logged %s", got, m[1])
			}
			return nil
		},
	}
	c, err := tls.Dial("tcp", srv.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("%q, %v", buf, err)
	}
	sum := sha256.Sum256(c.ConnectionState().PeerCertificates[0].Raw)
	if !strings.HasPrefix(m[1], fmt.Sprintf("%02X:", sum[0])) {
		t.Errorf("fingerprint format: %s", m[1])
	}
}

// TestShutdown checks a clean exit on SIGTERM with sessions open.
func TestShutdown(t *testing.T) {
	srv := start(t, "-grace", "300ms")
	c, err := dialTLS(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("session still open after shutdown: %v", err)
	}
}
