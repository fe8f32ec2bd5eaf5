package netio_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// The zero-copy paths exist on Linux; elsewhere the same tests check that
// the generic copy gives the same bytes.
var zeroCopy = runtime.GOOS == "linux"

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// readAllFrom dials addr with package net and returns everything it reads.
func readAllFrom(t testing.TB, addr string) <-chan []byte {
	t.Helper()
	out := make(chan []byte, 1)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer c.Close()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("client: %v", err)
		}
		out <- b
	}()
	return out
}

func TestSendfile(t *testing.T) {
	const size = 10 << 20
	data := randomBytes(size)
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	const head = 1<<20 + 7 // through an io.LimitedReader first

	check := func(t *testing.T, got []byte, sent0 int64) {
		t.Helper()
		if !bytes.Equal(got, data) {
			t.Fatalf("received %d bytes, want the file's %d, byte-exact", len(got), len(data))
		}
		if sent, _ := netio.ZeroCopied(); zeroCopy && sent-sent0 != size {
			t.Errorf("sendfile moved %d bytes, want %d", sent-sent0, size)
		}
	}
	// serve sends the file on c: io.CopyN, then io.Copy of the rest.
	serve := func(t *testing.T, c *netio.Conn) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if n, err := io.CopyN(c, f, head); n != head || err != nil {
			t.Errorf("CopyN: %d, %v", n, err)
		}
		if off, _ := f.Seek(0, io.SeekCurrent); off != head {
			t.Errorf("file offset %d after CopyN, want %d", off, head)
		}
		if n, err := io.Copy(c, f); n != size-head || err != nil { // through os.File.WriteTo
			t.Errorf("Copy: %d, %v", n, err)
		}
		// A LimitedReader is updated as by a read.
		f.Seek(0, io.SeekStart)
		lr := &io.LimitedReader{R: f, N: 0}
		if n, err := c.ReadFrom(lr); n != 0 || err != nil || lr.N != 0 {
			t.Errorf("ReadFrom of an empty LimitedReader: %d, %v, N=%d", n, err, lr.N)
		}
	}

	t.Run("Task", func(t *testing.T) {
		sent0, _ := netio.ZeroCopied()
		var got <-chan []byte
		runTasks(t, func(s *sched.Scheduler) {
			l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			got = readAllFrom(t, l.Addr().String())
			c, err := l.AcceptConn()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			serve(t, c)
		})
		check(t, <-got, sent0)
	})
	t.Run("Goroutine", func(t *testing.T) {
		sent0, _ := netio.ZeroCopied()
		s := runScheduler(t)
		l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		got := readAllFrom(t, l.Addr().String())
		c, err := l.AcceptConn()
		if err != nil {
			t.Fatal(err)
		}
		serve(t, c)
		c.Close()
		check(t, <-got, sent0)
	})
}

// startEcho runs a package-net echo server that half-closes when its
// client does.
func startEcho(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	return l.Addr().String()
}

// TestSpliceProxy sends data through a proxy of two coop Conns on one
// scheduler to an echo server and back: client → A, A splices to B (by
// io.Copy, which takes A.WriteTo), B → echo → B, B splices to A (by
// A.ReadFrom). Each direction's end of stream is carried by CloseWrite.
func TestSpliceProxy(t *testing.T) {
	echo := startEcho(t)
	s := runScheduler(t)
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s.Go(func() {
		a, err := l.AcceptConn()
		if err != nil {
			t.Error(err)
			return
		}
		defer a.Close()
		b, err := netio.Dial(s, "tcp", echo)
		if err != nil {
			t.Error(err)
			return
		}
		defer b.Close()
		up := s.Go(func() {
			if _, err := io.Copy(b, a); err != nil {
				t.Errorf("A to B: %v", err)
			}
			b.CloseWrite()
		})
		if _, err := a.ReadFrom(b); err != nil {
			t.Errorf("B to A: %v", err)
		}
		a.CloseWrite()
		up.Wait()
	})

	_, spliced0 := netio.ZeroCopied()
	const size = 4<<20 + 123
	data := randomBytes(size)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		if _, err := c.Write(data); err != nil {
			t.Error(err)
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo through the proxy: %d bytes, want %d, byte-exact", len(got), len(data))
	}
	if _, spliced := netio.ZeroCopied(); zeroCopy && spliced-spliced0 != 2*size {
		t.Errorf("splice moved %d bytes, want %d", spliced-spliced0, 2*size)
	}
}

// TestSpliceLimited copies a prefix of a Conn with io.CopyN: the splice
// stops at the limit and the rest stays to be read.
func TestSpliceLimited(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a1, a2 := tcpPairOn(t, s)
		b1, b2 := tcpPairOn(t, s)
		defer a2.Close()
		defer b1.Close()
		defer b2.Close()
		data := randomBytes(300_000)
		s.Go(func() {
			a1.Write(data)
			a1.Close()
		})
		_, spliced0 := netio.ZeroCopied()
		const n = 100_001
		if got, err := io.CopyN(b1, a2, n); got != n || err != nil { // b1.ReadFrom(LimitedReader{a2})
			t.Fatalf("CopyN: %d, %v", got, err)
		}
		b1.CloseWrite()
		got, err := io.ReadAll(readerOnly{b2})
		if err != nil || !bytes.Equal(got, data[:n]) {
			t.Fatalf("spliced prefix: %d bytes, %v", len(got), err)
		}
		rest, err := io.ReadAll(readerOnly{a2})
		if err != nil || !bytes.Equal(rest, data[n:]) {
			t.Fatalf("rest: %d bytes, %v", len(rest), err)
		}
		if _, spliced := netio.ZeroCopied(); zeroCopy && spliced-spliced0 != n {
			t.Errorf("splice moved %d bytes, want %d", spliced-spliced0, n)
		}
	})
}

// readerOnly hides a Conn's WriteTo, for checks that must read plainly.
type readerOnly struct{ io.Reader }

// TestCopyGeneric covers the copies that cannot be zero-copy: from a
// bytes.Reader, to a bytes.Buffer, from a pipe, between Conns of two
// schedulers, and from a *net.TCPConn. None may touch the counters, nor
// loop back into ReadFrom or WriteTo.
func TestCopyGeneric(t *testing.T) {
	sent0, spliced0 := netio.ZeroCopied()
	data := randomBytes(200_000)
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer b.Close()
		s.Go(func() {
			if n, err := a.ReadFrom(bytes.NewReader(data)); n != int64(len(data)) || err != nil {
				t.Errorf("ReadFrom(bytes.Reader): %d, %v", n, err)
			}
			a.CloseWrite()
		})
		var buf bytes.Buffer
		if n, err := b.WriteTo(&buf); n != int64(len(data)) || err != nil {
			t.Errorf("WriteTo(bytes.Buffer): %d, %v", n, err)
		}
		if diff := cmp.Diff(len(data), buf.Len()); diff != "" || !bytes.Equal(buf.Bytes(), data) {
			t.Errorf("bytes differ (-want +got len):\n%s", diff)
		}

		// From a pipe: an *os.File, but not a regular file.
		a, b = tcpPairOn(t, s)
		defer b.Close()
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			pw.Write([]byte("through a pipe"))
			pw.Close()
		}()
		s.Go(func() {
			defer pr.Close()
			// The pipe read blocks this thread briefly: fine in a test.
			if _, err := a.ReadFrom(pr); err != nil {
				t.Errorf("ReadFrom(pipe): %v", err)
			}
			a.Close()
		})
		got, err := io.ReadAll(readerOnly{b})
		if err != nil || string(got) != "through a pipe" {
			t.Errorf("from a pipe: %q, %v", got, err)
		}
	})

	// Conns of two schedulers: the generic copy, from a plain goroutine.
	s1, s2 := runScheduler(t), runScheduler(t)
	l, err := netio.Listen(s1, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := netio.Dial(s2, "tcp", l.Addr().String())
		if err != nil {
			t.Error(err)
			return
		}
		c.Write(data)
		c.Close()
	}()
	src, err := l.AcceptConn()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	echo := startEcho(t)
	dst, err := netio.Dial(s2, "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(readerOnly{dst})
		done <- b
	}()
	if n, err := io.Copy(dst, src); n != int64(len(data)) || err != nil {
		t.Fatalf("Copy across schedulers: %d, %v", n, err)
	}
	dst.CloseWrite()
	if got := <-done; !bytes.Equal(got, data) {
		t.Fatalf("across schedulers: %d bytes back, want %d", len(got), len(data))
	}

	// From a *net.TCPConn.
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	go func() {
		c, err := nl.Accept()
		if err != nil {
			return
		}
		c.Write([]byte(strings.Repeat("net ", 1000)))
		c.Close()
	}()
	nc, err := net.Dial("tcp", nl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	d2, err := netio.Dial(s1, "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	go func() {
		b, _ := io.ReadAll(readerOnly{d2})
		done <- b
	}()
	if _, err := d2.ReadFrom(nc); err != nil {
		t.Fatal(err)
	}
	d2.CloseWrite()
	if got := <-done; string(got) != strings.Repeat("net ", 1000) {
		t.Fatalf("from a net.TCPConn: %d bytes", len(got))
	}

	if sent, spliced := netio.ZeroCopied(); sent != sent0 || spliced != spliced0 {
		t.Errorf("generic copies moved %d bytes by sendfile and %d by splice, want 0", sent-sent0, spliced-spliced0)
	}
}
