package netio_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// TestReaderLines reads lines that arrive in pieces, with ReadSlice.
func TestReaderLines(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer a.Close()
		defer b.Close()
		s.Go(func() {
			for _, piece := range []string{"hel", "lo\nwor", "ld\n", "\nlast"} {
				a.Write([]byte(piece))
				sched.Sleep(time.Millisecond)
			}
			a.CloseWrite()
		})
		r := netio.NewReader(b)
		var got []string
		for {
			line, err := r.ReadSlice('\n')
			if len(line) > 0 {
				got = append(got, string(line))
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"hello\n", "world\n", "\n", "last"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
		// The last line's bytes are valid until the next call.
		r.Release()
		if held := netio.ReaderHeld(r); held != 0 {
			t.Errorf("Release after the end of stream left %d bytes of buffer held", held)
		}
	})
}

// TestReaderGivesBackWhileParked: between requests a parked session holds
// no buffer, and many sessions share the pool's few buffers.
func TestReaderGivesBackWhileParked(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		const conns, rounds = 20, 5
		readers := make([]*netio.Reader, conns)
		var clients []*netio.Conn
		var done sched.WaitGroup
		for i := range conns {
			a, b := tcpPairOn(t, s)
			clients = append(clients, a)
			r := netio.NewReaderSize(b, 4096)
			readers[i] = r
			done.Add(1)
			s.Go(func() {
				defer done.Done()
				defer b.Close()
				for {
					req, err := r.Fill()
					if err != nil {
						if err != io.EOF {
							t.Error(err)
						}
						return
					}
					if _, err := b.Write(req); err != nil {
						t.Error(err)
						return
					}
					r.Discard(len(req))
				}
			})
		}
		buf := make([]byte, 64)
		for round := range rounds {
			for i, a := range clients {
				msg := []byte(strings.Repeat(string(rune('a'+i)), 10+round))
				if _, err := a.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(a, buf[:len(msg)]); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf[:len(msg)], msg) {
					t.Fatalf("echo %q, want %q", buf[:len(msg)], msg)
				}
			}
			sched.Sleep(time.Millisecond) // let every session park again
			for i, r := range readers {
				if held := netio.ReaderHeld(r); held != 0 {
					t.Fatalf("round %d: session %d parked between requests holds a %d-byte buffer", round, i, held)
				}
			}
			if n := s.Buffers().Len(); n != 1 {
				t.Fatalf("round %d: the pool keeps %d buffers, want the 1 that every session borrowed in turn", round, n)
			}
		}
		for _, a := range clients {
			a.Close()
		}
		done.Wait()
	})
}

// TestReaderParksMidRequest: a session parked in the middle of a request
// keeps its bytes, in a buffer of their size, while other sessions borrow
// and overwrite the pool's buffers; the request comes out whole.
func TestReaderParksMidRequest(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		slowC, slowS := tcpPairOn(t, s)
		fastC, fastS := tcpPairOn(t, s)
		defer slowC.Close()
		defer fastC.Close()
		slow := netio.NewReader(slowS)
		fast := netio.NewReader(fastS)
		const head = "GET /index.html HTTP/1.1\r\nHost: exam"
		const tail = "ple.com\r\n\r\n"
		var got string
		parsed := s.Go(func() {
			defer slowS.Close()
			b, err := slow.Peek(len(head) + len(tail)) // parks after the head
			if err != nil {
				t.Error(err)
				return
			}
			got = string(b)
		})
		if _, err := slowC.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
		sched.Sleep(5 * time.Millisecond)
		if held := netio.ReaderHeld(slow); held == 0 || held > 512 {
			t.Errorf("parked with %d bytes of a request, the Reader holds a %d-byte buffer, want one of at most 512", len(head), held)
		}
		// Meanwhile another session borrows the pool's buffer and fills
		// it with other bytes.
		junk := bytes.Repeat([]byte{'x'}, 8000)
		fastC.Write(junk)
		for n := 0; n < len(junk); {
			b, err := fast.Fill()
			if err != nil {
				t.Fatal(err)
			}
			n += len(b)
			fast.Discard(len(b))
		}
		if _, err := slowC.Write([]byte(tail)); err != nil {
			t.Fatal(err)
		}
		parsed.Wait()
		if want := head + tail; got != want {
			t.Errorf("request read across a park: %q, want %q", got, want)
		}
		fastS.Close()
	})
}

// TestReaderFullAndGrow: a buffer full of unread bytes is reported, not
// grown by itself; Grow and Peek make room for a request of known size.
func TestReaderFullAndGrow(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer a.Close()
		defer b.Close()
		big := bytes.Repeat([]byte("0123456789"), 20000) // 200,000 bytes, no newline
		s.Go(func() { a.Write(big); a.Write([]byte("\n")) })
		r := netio.NewReaderSize(b, 1024)
		line, err := r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) || len(line) != 1024 {
			t.Fatalf("ReadSlice over a full buffer: %d bytes, %v; want 1024, bufio.ErrBufferFull", len(line), err)
		}
		p, err := r.Peek(len(big) - 1024)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, big[1024:]) {
			t.Fatal("Peek returned other bytes than were sent")
		}
		r.Discard(len(p))
		r.Grow(10)
		rest, err := r.Fill()
		if err != nil || string(rest) != "\n" {
			t.Fatalf("Fill after the big request: %q, %v", rest, err)
		}
		r.Discard(1)
		r.Release()
		if held := netio.ReaderHeld(r); held != 0 {
			t.Errorf("Release after everything was consumed left %d bytes of buffer held", held)
		}
	})
}

// TestReaderDeadlineAndEOF: a read deadline fails Fill with a timeout,
// without holding a buffer meanwhile; at the end of the stream Fill
// returns what is buffered with io.EOF.
func TestReaderDeadlineAndEOF(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer b.Close()
		r := netio.NewReader(b)
		b.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		_, err := r.Fill()
		wantTimeout(t, err)
		if held := netio.ReaderHeld(r); held != 0 {
			t.Errorf("a Fill that timed out left %d bytes of buffer held", held)
		}
		b.SetReadDeadline(time.Time{})
		a.Write([]byte("bye"))
		a.Close()
		var got []byte
		for {
			buf, err := r.Fill()
			got = buf
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if string(got) != "bye" {
			t.Errorf("at the end of stream Fill returned %q, want the buffered %q", got, "bye")
		}
	})
}

// TestReaderRead: Read serves small reads from the buffer and reads large
// ones directly; io.Copy goes through WriteTo.
func TestReaderRead(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		a, b := tcpPairOn(t, s)
		defer b.Close()
		msg := bytes.Repeat([]byte("coop!"), 100000)
		s.Go(func() { a.Write(msg); a.Close() })
		r := netio.NewReaderSize(b, 4096)
		small := make([]byte, 7)
		n, err := r.Read(small)
		if err != nil || n != 7 || string(small) != "coop!co" {
			t.Fatalf("small Read: %d %q %v", n, small[:n], err)
		}
		if r.Buffered() == 0 {
			t.Fatal("a small Read left nothing buffered: it did not go through the buffer")
		}
		var out bytes.Buffer
		if _, err := io.Copy(&out, r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(small, out.Bytes()...), msg) {
			t.Fatalf("read %d bytes, not the %d sent", 7+out.Len(), len(msg))
		}
	})
}

// TestReaderOffThread uses a Reader from a plain goroutine: each call is
// handed to the scheduler.
func TestReaderOffThread(t *testing.T) {
	s := runScheduler(t)
	l, err := netio.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Error(err)
			return
		}
		c.Write([]byte("one\ntwo\n"))
		c.Close()
	}()
	c, err := l.AcceptConn()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := netio.NewReader(c)
	var got []string
	for {
		line, err := r.ReadSlice('\n')
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(line))
	}
	if diff := cmp.Diff([]string{"one\n", "two\n"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestReaderReadyMode: in ready mode the server gives a drained Reader's
// buffer back when the connection goes idle.
func TestReaderReadyMode(t *testing.T) {
	readers := make(chan *netio.Reader, 1)
	srv := &netio.Server{Ready: func(c *netio.Conn) error {
		r, ok := c.Value().(*netio.Reader)
		if !ok {
			r = netio.NewReader(c)
			c.SetValue(r)
			readers <- r
		}
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return err
			}
			if _, err := c.Write(line); err != nil {
				return err
			}
			if r.Buffered() == 0 {
				return nil
			}
		}
	}}
	ts := startServer(t, srv)
	c := dialT(t, ts.addr)
	defer c.Close()
	if err := roundTrip(c, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	r := <-readers
	var held int
	waitFor(t, time.Second, "the idle connection's buffer to go back", func() bool {
		ts.s.Do(func() { held = netio.ReaderHeld(r) })
		return held == 0
	})
	if err := roundTrip(c, []byte("again\n")); err != nil {
		t.Fatal(err)
	}
	ts.stop()
}

// TestReaderShutdownPipelined: a task-mode handler reading through a
// Reader is idle for Shutdown only when the Reader holds nothing: one
// whose client pipelined half a request behind a whole one is served to
// the end of it, one with nothing pending ends at once.
func TestReaderShutdownPipelined(t *testing.T) {
	ended := make(chan error, 2)
	srv := &netio.Server{Handler: func(c *netio.Conn) {
		r := netio.NewReader(c)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				if errors.Is(err, netio.ErrServerClosed) {
					c.Write([]byte("bye\n"))
				}
				ended <- err
				return
			}
			if _, err := c.Write(append([]byte("re: "), line...)); err != nil {
				ended <- err
				return
			}
		}
	}}
	ts := startServer(t, srv)
	idle := dialT(t, ts.addr)
	idleR := bufio.NewReader(idle)
	piped := dialT(t, ts.addr)
	pipedR := bufio.NewReader(piped)
	idle.Write([]byte("hello\n"))
	piped.Write([]byte("one\ntw")) // a request and half of the next
	for _, c := range []struct {
		r    *bufio.Reader
		c    net.Conn
		want string
	}{{idleR, idle, "re: hello\n"}, {pipedR, piped, "re: one\n"}} {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if got, err := c.r.ReadString('\n'); got != c.want {
			t.Fatalf("got %q, %v; want %q", got, err, c.want)
		}
	}
	time.Sleep(20 * time.Millisecond) // both handlers park in the Reader
	shut := make(chan error, 1)
	go func() { shut <- ts.srv.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := idleR.ReadString('\n'); got != "bye\n" {
		t.Errorf("the idle client got %q, %v; want the goodbye", got, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a pipelined request was half read", err)
	case <-time.After(100 * time.Millisecond):
	}
	piped.Write([]byte("o\n"))
	piped.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []string{"re: two\n", "bye\n"} {
		if got, err := pipedR.ReadString('\n'); got != want {
			t.Errorf("the pipelining client got %q, %v; want %q", got, err, want)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ts.finish(netio.ErrServerClosed)
}
