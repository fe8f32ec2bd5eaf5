package prefork_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// Config.StopDelay: on SIGTERM the workers go on accepting and serving
// for the delay, reporting Draining (the responder's "Connection: close"),
// so that a load balancer's health check takes the host out before it
// stops; only then do they stop accepting, and the pool exits cleanly.
// With "group", SIGTERM goes to the workers too, as a service manager
// ending the whole control group sends it: they wait as well.
func TestStopDelay(t *testing.T) {
	t.Parallel()
	for _, to := range []string{"master", "group"} {
		t.Run(to, func(t *testing.T) {
			t.Parallel() // mostly waiting out the delay
			testStopDelay(t, to == "group")
		})
	}
}

func testStopDelay(t *testing.T, group bool) {
	const delay = time.Second
	p := startPool(t, poolConfig{Workers: 2, StopDelayMs: int(delay / time.Millisecond)})
	workers := pids(p.status())
	keep, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	r := bufio.NewReader(keep)
	if resp := roundTrip(t, keep, r); resp.Close {
		t.Fatal("Connection: close before the stop")
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	if group {
		for pid := range workers {
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Soon the kept-alive connection is told to close after its response...
	for {
		if resp := roundTrip(t, keep, r); resp.Close {
			break
		}
		if time.Since(start) > delay/2 {
			t.Fatalf("no Connection: close %v after SIGTERM", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// ...while new connections are still accepted and served, till the
	// delay is over.
	for time.Since(start) < delay*3/4 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatalf("dial %v after SIGTERM, within the stop delay: %v", time.Since(start), err)
		}
		resp := roundTrip(t, c, bufio.NewReader(c))
		c.Close()
		if !resp.Close {
			t.Errorf("a new connection during the stop delay: no Connection: close")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.wait(delay + 10*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("the pool exited %v after SIGTERM, before its stop delay %v", took, delay)
	}
	if _, err := net.Dial("tcp", p.addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after the exit: %v, want connection refused", err)
	}
}

// roundTrip sends GET / on c and reads the response.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader) *http.Response {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp
}
