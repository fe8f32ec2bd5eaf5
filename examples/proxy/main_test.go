package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
	"github.com/coopgo/coop/internal/wrkout"
)

var bin, httpBin string

func TestMain(m *testing.M) {
	exampletest.Main(m, map[string]*string{".": &bin, "../http": &httpBin})
}

// startHTTP starts an examples/http backend at addr whose /static/who
// says name.
func startHTTP(t *testing.T, addr, name string, args ...string) *exampletest.Server {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "who"), []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	return exampletest.StartAt(t, addr, httpBin, append([]string{"-addr", addr, "-root", root}, args...)...)
}

// who asks the proxy, on a new connection, which backend serves it.
func who(t *testing.T, proxy string) string {
	t.Helper()
	return exampletest.Run(t, 10*time.Second, "curl", "-sS", "--max-time", "5", "http://"+proxy+"/static/who")
}

type wrkStats struct {
	wrkout.Stats
	out string
}

func runWrk(t *testing.T, url string, conns int, dur string) wrkStats {
	t.Helper()
	out := exampletest.Run(t, 60*time.Second, "wrk", "-t1", "-c"+strconv.Itoa(conns), "-d"+dur, "--timeout", "5s", url)
	st, err := wrkout.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	return wrkStats{st, out}
}

func TestWrk(t *testing.T) {
	exampletest.Need(t, "wrk")
	a := startHTTP(t, exampletest.FreeAddr(t), "a")
	b := startHTTP(t, exampletest.FreeAddr(t), "b", "-mode", "ready")
	for _, tc := range []struct{ policy, cores string }{
		{"roundrobin", "1"}, {"leastconn", "1"}, {"roundrobin", "2"},
	} {
		t.Run(tc.policy+"/cores="+tc.cores, func(t *testing.T) {
			p := exampletest.Start(t, bin, "-backends", a.Addr+","+b.Addr, "-policy", tc.policy, "-cores", tc.cores)
			st := runWrk(t, "http://"+p.Addr+"/", 50, "1s")
			if st.Requests == 0 || st.Failed() != 0 {
				t.Errorf("wrk through the proxy:\n%s", st.out)
			}
		})
	}
}

// TestBackendDown stops a backend under load, checks that the proxy takes
// it out and that clients see at most the requests in flight on it fail,
// then restarts it and checks that the health checks put it back.
func TestBackendDown(t *testing.T) {
	exampletest.Need(t, "wrk", "curl")
	addrA := exampletest.FreeAddr(t)
	a := startHTTP(t, addrA, "a")
	b := startHTTP(t, exampletest.FreeAddr(t), "b")
	p := exampletest.Start(t, bin, "-backends", addrA+","+b.Addr, "-health-interval", "100ms", "-fall", "2", "-rise", "2")

	const conns = 20
	done := make(chan wrkStats, 1)
	go func() { done <- runWrk(t, "http://"+p.Addr+"/", conns, "3s") }()
	time.Sleep(time.Second)
	if err := a.Stop(); err != nil {
		t.Errorf("stopping backend a: %v", err)
	}
	st := <-done
	// A connection that wrk had on a (through the proxy) ends when a
	// goes: at most one failed request each. New connections all go to
	// b, as the refused dial is retried there.
	if st.Requests == 0 || st.Non2xx != 0 || st.Connect != 0 || st.Timeout != 0 || st.Read+st.Write > conns {
		t.Errorf("wrk across the loss of a backend:\n%s", st.out)
	}
	t.Logf("%d requests, %d read and %d write errors when a backend went", st.Requests, st.Read, st.Write)
	waitLog(t, p, "backend "+addrA+" down")
	// Now without errors at all.
	st = runWrk(t, "http://"+p.Addr+"/", conns, "1s")
	if st.Requests == 0 || st.Failed() != 0 {
		t.Errorf("wrk with a backend down:\n%s", st.out)
	}
	for range 4 {
		if got := who(t, p.Addr); got != "b" {
			t.Errorf("with a down: served by %q", got)
		}
	}

	startHTTP(t, addrA, "a")
	waitLog(t, p, "backend "+addrA+" up")
	seen := map[string]int{}
	for range 6 {
		seen[who(t, p.Addr)]++
	}
	if seen["a"] == 0 || seen["b"] == 0 || len(seen) != 2 {
		t.Errorf("after a came back, served by %v; want a and b", seen)
	}
}

// waitLog waits up to 5 s for the proxy to log line.
func waitLog(t *testing.T, p *exampletest.Server, line string) {
	t.Helper()
	// 10 s: what the proxy logs waits on its health checks, whose pace a
	// loaded machine sets.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.Output(), line) {
			return
		}
	}
	t.Fatalf("the proxy did not log %q:\n%s", line, p.Output())
}

func TestRefusedBackend(t *testing.T) {
	exampletest.Need(t, "curl")
	dead := exampletest.FreeAddr(t) // nothing listens there
	b := startHTTP(t, exampletest.FreeAddr(t), "b")
	// Long health checks: only the data path can see the refusal.
	p := exampletest.Start(t, bin, "-backends", dead+","+b.Addr, "-health-interval", "1h")
	for range 4 {
		if got := who(t, p.Addr); got != "b" {
			t.Errorf("served by %q", got)
		}
	}
	waitLog(t, p, "backend "+dead+" down: ")
}

// namedBackend is a test backend that says its name to each new
// connection, then holds it until the client closes, and counts the
// connections it holds.
type namedBackend struct {
	name string
	l    net.Listener
	mu   sync.Mutex
	open int
}

func newNamedBackend(t *testing.T, name string) *namedBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nb := &namedBackend{name: name, l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				nb.mu.Lock()
				nb.open++
				nb.mu.Unlock()
				defer func() {
					nb.mu.Lock()
					nb.open--
					nb.mu.Unlock()
				}()
				fmt.Fprintf(c, "%s\n", name)
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return nb
}

func (nb *namedBackend) openConns() int {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return nb.open
}

// dialNamed connects through the proxy and returns the connection and
// the name of the backend it reached.
func dialNamed(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return c, strings.TrimSpace(line)
}

func TestPolicies(t *testing.T) {
	x, y := newNamedBackend(t, "x"), newNamedBackend(t, "y")
	backends := x.l.Addr().String() + "," + y.l.Addr().String()
	for _, policy := range []string{"roundrobin", "leastconn"} {
		t.Run(policy, func(t *testing.T) {
			p := exampletest.Start(t, bin, "-backends", backends, "-policy", policy, "-health-interval", "1h")
			// Four connections: two each, with either policy.
			conns := map[string][]net.Conn{}
			for range 4 {
				c, name := dialNamed(t, p.Addr)
				defer c.Close()
				conns[name] = append(conns[name], c)
			}
			if len(conns["x"]) != 2 || len(conns["y"]) != 2 {
				t.Fatalf("4 connections went x: %d, y: %d; want 2 and 2", len(conns["x"]), len(conns["y"]))
			}
			// Free x, wait until the proxy has let go of both pairs.
			for _, c := range conns["x"] {
				c.Close()
			}
			for deadline := time.Now().Add(5 * time.Second); x.openConns() != 0; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("x still holds connections")
				}
			}
			time.Sleep(100 * time.Millisecond)
			// Two more: leastconn sends both to the idle x; round robin
			// goes on taking turns.
			got := map[string]int{}
			for range 2 {
				c, name := dialNamed(t, p.Addr)
				defer c.Close()
				got[name]++
			}
			want := map[string]int{"x": 1, "y": 1}
			if policy == "leastconn" {
				want = map[string]int{"x": 2}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("after freeing x, 2 new connections went %v; want %v", got, want)
			}
		})
	}
}

// echoBackend echoes until end of stream, then half-closes.
func echoBackend(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return l.Addr().String()
}

// TestHalfCloseNc sends 1 MiB through the proxy to an echo backend with
// nc, which half-closes at the end of its input: the half-close reaches
// the backend, whose own end of stream comes back, and nc exits with
// everything echoed byte-exact.
func TestHalfCloseNc(t *testing.T) {
	exampletest.Need(t, "nc")
	p := exampletest.Start(t, bin, "-backends", echoBackend(t))
	data := make([]byte, 1<<20)
	rand.Read(data)
	host, port, _ := net.SplitHostPort(p.Addr)
	out, err := exampletest.RunErr(20*time.Second, data, "nc", "-N", host, port)
	if err != nil {
		t.Fatalf("nc: %v", err)
	}
	if !bytes.Equal([]byte(out), data) {
		t.Errorf("nc got %d bytes back, want the %d sent, byte-exact", len(out), len(data))
	}
}

// TestHalfCloseServerFirst has the backend finish first: it greets,
// shuts down its write half and then reads everything. The client reads
// the greeting and end of stream, and can still send 1 MiB, all of which
// arrives.
func TestHalfCloseServerFirst(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "bye\n")
				c.(*net.TCPConn).CloseWrite()
				// exampletest.Start's probe comes through too, and
				// sends nothing.
				if b, _ := io.ReadAll(c); len(b) > 0 {
					got <- b
				}
			}()
		}
	}()
	p := exampletest.Start(t, bin, "-backends", l.Addr().String(), "-health-interval", "1h")
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	greeting, err := io.ReadAll(c)
	if err != nil || string(greeting) != "bye\n" {
		t.Fatalf("read %q, %v; want the greeting and end of stream", greeting, err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	if _, err := c.Write(data); err != nil {
		t.Fatalf("writing after the server's half-close: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	select {
	case b := <-got:
		if !bytes.Equal(b, data) {
			t.Errorf("backend got %d bytes, want the %d sent, byte-exact", len(b), len(data))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("backend did not see end of stream")
	}
}

func TestNoBackend(t *testing.T) {
	p := exampletest.Start(t, bin, "-backends", exampletest.FreeAddr(t), "-health-interval", "1h")
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("read %q, %v; want the connection closed", b, err)
	}
	waitLog(t, p, "no backend accepted the connection")
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}
