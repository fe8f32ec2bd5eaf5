package prefork_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
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
	// Soon the kept-alive connection is told to close after its
	// response. How soon is the machine's pace (the master's and the
	// workers' turn to run): wait for it. A pool that never says so fails
	// here, or in roundTrip when the worker closes at the delay's end.
	for {
		if resp := roundTrip(t, keep, r); resp.Close {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no Connection: close %v after SIGTERM", time.Since(start))
		}
		time.Sleep(5 * time.Millisecond)
	}
	closed := time.Since(start)
	// ...while new connections are still accepted and served, till the
	// delay is over: it counts from each worker's order, which comes
	// after this SIGTERM.
	dialed := 0
	for ; time.Since(start) < delay*3/4; dialed++ {
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
	if dialed == 0 && !t.Failed() {
		t.Skipf("skipped: the first Connection: close came %v after SIGTERM, past 3/4 of the stop delay %v: no time was left to judge new connections (a loaded machine)", closed.Round(time.Millisecond), delay)
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

// When the pool stops, its workers report Draining together, not each
// when it reads its order: a worker that has not read its order yet
// (here it is stopped, SIGSTOP, while the master sends the orders)
// already tells a kept-alive request to close once another worker has
// told one. Before the master marked the workers' pages ahead of the
// orders, a health check could fail on one worker while a kept-alive
// request to another was answered as if nothing stopped (examples/http's
// TestDrainDelay/workers, 4 runs in 100 under -race: the two workers read
// their orders 100 µs to 11 ms apart). Then a stopped worker, let go
// with the request waiting, answered it before it read its order about
// 1 time in 4: the test runs three pools of four workers at once, nine
// such chances, and failed 22 runs in 25 (13 of 15, 9 of 10 under -race).
func TestStopDelayTogether(t *testing.T) {
	t.Parallel()
	for i := range 3 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			testStopDelayTogether(t)
		})
	}
}

func testStopDelayTogether(t *testing.T) {
	const workers = 4
	// The delay bounds how long the test may take to see the first
	// worker's Connection: close (after it the worker drains and closes
	// the idle connection), not how soon the master acts: 2 s of the
	// test's own stall on a loaded machine.
	p := startPool(t, poolConfig{Workers: workers, StopDelayMs: 2000})
	type kept struct {
		c net.Conn
		r *bufio.Reader
	}
	conns := map[int]kept{} // a kept-alive connection to each worker
	for range 200 {
		if len(conns) == workers {
			break
		}
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		pid := pidOf(t, c, r)
		if conns[pid].c != nil {
			c.Close() // an idle kept-alive connection would hold its worker's drain
			continue
		}
		conns[pid] = kept{c, r}
		defer c.Close()
	}
	if len(conns) != workers {
		t.Fatalf("connections to %d workers of %d in 200 dials", len(conns), workers)
	}
	var first int // the worker that goes on; the others are stopped
	var stopped []int
	procs := map[int]*os.Process{}
	for pid := range conns {
		if first == 0 {
			first = pid
			continue
		}
		// Signalled through a pidfd: the SIGCONT deferred for a failure
		// comes, on success, after the pool has exited and its workers
		// have been reaped, and by pid it would reach whatever process
		// had the number by then.
		proc := process(t, pid)
		if err := proc.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer proc.Signal(syscall.SIGCONT)
		procs[pid] = proc
		stopped = append(stopped, pid)
	}
	start := time.Now()
	p.signal(syscall.SIGTERM)
	// How soon the master marks the workers Draining is the machine's
	// pace (the 250 ms this loop allowed is one scheduling stall of a
	// loaded 2-vCPU machine running -race tests in parallel): wait for it.
	// A worker that never says so fails here, or in roundTrip when it
	// closes the connection at the end of the delay.
	for k := conns[first]; !roundTrip(t, k.c, k.r).Close; {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("worker %d: no Connection: close %v after SIGTERM", first, time.Since(start))
		}
		time.Sleep(time.Millisecond)
	}
	// The stopped workers have not run since the stop began: the order
	// waits in each one's socket, and the request below in its
	// connection, when it goes on.
	for _, pid := range stopped {
		k := conns[pid]
		k.c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(k.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		if err := procs[pid].Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(k.r, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if !resp.Close {
			t.Errorf("worker %d told a kept-alive connection to close, then worker %d did not", first, pid)
		}
	}
	if err := p.wait(10 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

// pidOf sends GET /pid on c and returns the worker's pid.
func pidOf(t *testing.T, c net.Conn, r *bufio.Reader) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /pid HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || resp.Close {
		t.Fatalf("GET /pid: %q, close %v", b, resp.Close)
	}
	return pid
}

// TestStopUnreported: a stop does not wait for ever for a worker the
// kernel does not report ended. Each worker here, once drained, closes
// its end of the control socket — as an exiting process's descriptors
// are closed — and stays, as a worker whose end the kernel is slow to
// report (2 to 10 s on a busy VM: examples/farm's host "did not exit
// within 11s") or never reports. The master stops waiting for them a
// second later, says so, and exits; it used to wait for its SIGKILL at
// the drain timeout (here a minute) and then for their end.
func TestStopUnreported(t *testing.T) {
	t.Parallel()
	p := startPool(t, poolConfig{Workers: 2, Unreported: true, DrainMs: 60_000})
	workers := pids(p.status())
	for pid := range workers {
		// Left behind on purpose, and killed at the end through a
		// pidfd taken now: by pid, a SIGKILL could reach a process that
		// reused the number of one that had ended meanwhile.
		proc := process(t, pid)
		t.Cleanup(func() { proc.Signal(syscall.SIGKILL) })
	}
	p.signal(syscall.SIGTERM)
	if err := p.wait(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	out := p.out.String()
	for pid := range workers {
		found := false
		for _, l := range strings.Split(out, "\n") {
			found = found || strings.Contains(l, fmt.Sprintf("worker %d (slot", pid)) &&
				strings.Contains(l, "is exiting (its end of the control socket closed") && strings.Contains(l, "the master stops waiting for it")
		}
		if !found {
			t.Errorf("worker %d: no \"is exiting ... the master stops waiting for it\" in the log:\n%s", pid, out)
		}
	}
}

// A server that ends while its worker drains (here its own handler shuts
// it down during the stop delay) lets the worker finish and exit at once.
// Before, Worker.Serve took the server's end for the drain's, then waited
// for that end a second time: the worker hung, its listeners closed,
// until the master killed it, and the pool's stop took the stop delay and
// the drain timeout.
func TestServerEndsDuringStopDelay(t *testing.T) {
	t.Parallel()
	const delay = 5 * time.Second
	p := startPool(t, poolConfig{Workers: 1, StopDelayMs: int(delay / time.Millisecond)})
	var worker int
	for pid := range pids(p.status()) {
		worker = pid
	}
	p.signal(syscall.SIGTERM)
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		resp := roundTrip(t, c, bufio.NewReader(c))
		c.Close()
		if resp.Close {
			break // the worker drains: its stop delay runs
		}
		if time.Since(start) > delay/2 {
			t.Fatalf("no Connection: close %v after SIGTERM", time.Since(start))
		}
	}
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /shutdown HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("the pool's exit: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("the pool did not stop within 2s of its worker's (%d) server ending in the stop delay", worker)
	}
}
