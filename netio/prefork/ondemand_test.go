package prefork_test

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/netio/prefork"
)

// TestOndemand: an ondemand pool (MinWorkers 0) starts at zero workers,
// ready, its master watching the listeners and using next to no CPU;
// curl's first request starts a worker and is answered, and so is a Go
// client's; the worker, idle for IdleTimeout, is retired back to zero; a
// wrk burst from zero scales the pool to MaxWorkers with no failed
// request, and it idles back to zero; the master is left with no child
// and the descriptors it had. In ReusePort mode with one and two
// schedulers per worker (the watch covers every socket of slot 0), and in
// Shared mode (the burst only in the first, for the package's time).
func TestOndemand(t *testing.T) {
	need(t, "curl", "wrk")
	for _, tc := range []struct {
		name   string
		shared bool
		cores  int
		burst  bool
	}{
		{"reuseport", false, 1, true},
		{"reuseport-2cores", false, 2, false},
		{"shared-2cores", true, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // mostly waiting: idle timeouts, pools at rest
			testOndemand(t, tc.shared, tc.cores, tc.burst)
		})
	}
}

func testOndemand(t *testing.T, shared bool, cores int, burst bool) {
	notify, msgs := listenNotify(t)
	p := startPool(t, poolConfig{Max: 3, Cores: cores, Shared: shared, ConnsPerW: 2, IdleMs: 400}, "NOTIFY_SOCKET="+notify)
	st := p.atZero("at zero from the start")
	expectNotify(t, msgs, "READY=1")
	expectNotify(t, msgs, "STATUS=ondemand: no worker")
	master := st.PID
	fdsBefore := settledFDs(t, master)

	// Idle at zero, the master sleeps: its tick, and nothing else.
	cpu := p.masterCPU(500 * time.Millisecond)
	if cpu > 100*time.Millisecond {
		t.Errorf("master used %v of CPU in 0.5s idle at zero workers: it spins", cpu)
	}

	// The first request, with curl.
	out, err := exec.Command("curl", "-sS", "--max-time", "10", "-w", " %{http_code}", "http://"+p.addr+"/pid").CombinedOutput()
	f := append(strings.Fields(string(out)), "", "")
	if pid, perr := strconv.Atoi(f[0]); err != nil || perr != nil || f[1] != "200" || pid == master {
		t.Fatalf("curl at zero workers: %v: %q", err, out)
	}
	// A Go client's, keep-alive, on the worker curl started or another.
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + p.addr + "/")
	if err != nil {
		t.Fatalf("net/http: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(b) != "ok\n" {
		t.Fatalf("net/http: %v %d %q", err, resp.StatusCode, b)
	}
	http.DefaultClient.CloseIdleConnections()
	p.atZero("idle worker retired")
	expectNotify(t, msgs, "STATUS=ondemand: no worker")

	n := 0
	if burst {
		// A burst from zero: 12 connections, 2 per worker's worth of load.
		wrk := runWrk(t, 12, "http://"+p.addr+"/")
		p.waitFor("scaled up to MaxWorkers", 10*time.Second, func(st *prefork.Status) bool { return st.Ready == 3 })
		n = checkWrk(t, wrk.interrupt(t))
		p.atZero("back to zero after the burst")
	}
	if !strings.Contains(p.out.String(), "idle for") {
		t.Errorf("no idle retirement in the log")
	}

	if kids := settledChildren(master, 0); len(kids) != 0 {
		t.Errorf("master's children at zero workers: %v, want none", kids)
	}
	if got := settledFDs(t, master); got != fdsBefore {
		t.Errorf("master descriptors: %d at the start, %d back at zero", fdsBefore, got)
	}
	cpu = p.masterCPU(500 * time.Millisecond)
	if cpu > 100*time.Millisecond {
		t.Errorf("master used %v of CPU in 0.5s idle at zero workers, back at zero", cpu)
	}
	t.Logf("zero → 1 (curl, net/http) → 0, burst %v (wrk: %d requests, none failed) → 0; master idle at zero: %v CPU in 0.5s, %d descriptors", burst, n, cpu, fdsBefore)
	p.signal(syscall.SIGTERM)
	if err := p.wait(10 * time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestOndemandCrashAtStart: a pool at zero whose workers fail at start
// (the first three) backs off between tries without spinning, logs why,
// and the connection that woke it waits in the accept queue until a
// worker serves it: answered, not lost.
func TestOndemandCrashAtStart(t *testing.T) {
	t.Parallel() // mostly waiting out back-offs and the idle timeout
	crash := filepath.Join(t.TempDir(), "crashes")
	p := startPool(t, poolConfig{Max: 2, IdleMs: 300, CrashFirst: 3, CrashFile: crash, BackoffMs: 100, BackoffMax: 400})
	p.atZero("at zero from the start")
	start := p.status().MasterCPU
	began := time.Now()
	c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(b), "\r\n\r\nok\n") {
		t.Fatalf("the connection that woke the pool: %v %q\n%s", err, b, p.out.String())
	}
	took := time.Since(began)
	cpu := time.Duration((p.status().MasterCPU - start) * float64(time.Second))
	if n := strings.Count(p.out.String(), "fails on purpose"); n != 3 {
		t.Errorf("%d failed starts in the log, want 3", n)
	}
	// Three failures back off 100, 200 and 400 ms (±20%): the answer
	// cannot come sooner, and the master waits, not spins, meanwhile.
	if took < 500*time.Millisecond {
		t.Errorf("answered %v after 3 failed starts: no back-off", took)
	}
	if cpu > took/4 {
		t.Errorf("master used %v of CPU in the %v of the crash loop", cpu, took)
	}
	t.Logf("answered after 3 failed starts in %v; master CPU meanwhile %v", took.Round(time.Millisecond), cpu)
	p.atZero("the worker idles back to zero")
}

// TestOndemandScaleZero: the control socket scales an ondemand pool to
// 0 and back, and refuses 0 for a pool that is not ondemand.
func TestOndemandScaleZero(t *testing.T) {
	t.Parallel() // mostly waiting for the pool to scale
	p := startPool(t, poolConfig{Workers: 2, Max: 2, IdleMs: 60_000})
	if st := p.status(); st.Pool != "ondemand" || st.Ready != 2 {
		t.Fatalf("status: %+v", st)
	}
	if _, err := prefork.Control(p.control, "scale 0"); err != nil {
		t.Fatal(err)
	}
	p.atZero("scale 0")
	// A reload at zero has nothing to replace: it ends at once, and the
	// next worker is of the new generation.
	p.signal(syscall.SIGHUP)
	p.waitFor("reload at zero", 5*time.Second, func(st *prefork.Status) bool {
		return st.Generation == 2 && !st.Reloading && st.Watching
	})
	if got := get(t, p.addr, "/"); got != "ok\n" {
		t.Fatalf("GET / at zero: %q", got)
	}
	if st := p.status(); len(st.Processes) != 1 || st.Processes[0].Generation != 2 {
		t.Errorf("after a request at zero: %+v, want one worker of generation 2", st)
	}
	if _, err := prefork.Control(p.control, "scale 2"); err != nil {
		t.Fatal(err)
	}
	p.waitReady(2, 10*time.Second)
	if _, err := prefork.Control(p.control, "scale 0"); err != nil {
		t.Fatal(err)
	}
	p.atZero("scale 0 again")
	// At zero the stop is immediate: its answer still gets out first
	// (it was lost, EOF, when the master exited before writing it).
	if _, err := prefork.Control(p.control, "stop"); err != nil {
		t.Errorf("stop at zero workers: %v", err)
	}
	if err := p.wait(10 * time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}

	fixed := startPool(t, poolConfig{Workers: 1})
	if _, err := prefork.Control(fixed.control, "scale 0"); err == nil {
		t.Errorf("scale 0 of a fixed pool: no error")
	}
}

// atZero waits until the ondemand pool idles at zero workers, watching.
func (p *pool) atZero(what string) *prefork.Status {
	p.t.Helper()
	return p.waitFor(what, 10*time.Second, func(st *prefork.Status) bool {
		return st.Pool == "ondemand" && st.Workers == 0 && st.Ready == 0 && len(st.Processes) == 0 && st.Watching
	})
}

// masterCPU returns the CPU time the master uses in d.
func (p *pool) masterCPU(d time.Duration) time.Duration {
	p.t.Helper()
	before := p.status().MasterCPU
	time.Sleep(d)
	return time.Duration((p.status().MasterCPU - before) * float64(time.Second))
}

// listenNotify listens for sd_notify messages: a NOTIFY_SOCKET path and
// the messages it gets.
func listenNotify(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := nc.ReadFromUnix(buf)
			if err != nil {
				return
			}
			select {
			case msgs <- string(buf[:n]):
			default:
			}
		}
	}()
	return path, msgs
}

// expectNotify waits for an sd_notify message containing want.
func expectNotify(t *testing.T, msgs <-chan string, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no sd_notify %q", want)
		}
	}
}
