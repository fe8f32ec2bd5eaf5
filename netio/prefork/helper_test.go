package prefork_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/syncbuf"
	"github.com/coopgo/coop/internal/wrkout"
	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/netio/prefork"
)

var (
	reloads = flag.Int("prefork.reloads", 20, "SIGHUP reloads under each load test")
	soak    = flag.Int("prefork.soak", 100, "reloads of the descriptor and process leak test")
)

// The pool the tests start is this test binary run again with
// testPoolEnv set: TestMain then runs a program whose Config comes from
// the variable, and whose workers (the same binary, executed again) serve
// a small HTTP/1.1 responder.
const testPoolEnv = "PREFORK_TEST_POOL"

// poolConfig is what a test asks of the pool program.
type poolConfig struct {
	Addr        string  `json:"addr"`
	Network     string  `json:"network"`
	Workers     int     `json:"workers"`
	Min         int     `json:"min,omitempty"`
	Max         int     `json:"max,omitempty"`
	Cores       int     `json:"cores"`
	Shared      bool    `json:"shared"`
	Control     string  `json:"control"`
	HangMs      int     `json:"hang_ms"`
	DrainMs     int     `json:"drain_ms"`
	MaxConns    int     `json:"max_conns"`
	MaxRSS      int64   `json:"max_rss"`
	User        string  `json:"user"`
	Crash       bool    `json:"crash"`        // Serve fails at once
	CrashNewGen bool    `json:"crash_newgen"` // Serve fails in generation ≥ 2
	LeakKiB     int     `json:"leak_kib"`     // kept per request
	BackoffMs   int     `json:"backoff_ms"`
	BackoffMax  int     `json:"backoff_max_ms"`
	Immediate   bool    `json:"immediate"`
	ConnsPerW   int     `json:"conns_per_worker"`
	MinSpare    float64 `json:"min_spare"`
	MaxSpare    float64 `json:"max_spare"`
	MemoryMax   int64   `json:"memory_max"`
	// Consume makes the program remove its dispatch variable once read,
	// as a program with a re-execution scheme of its own does, and give
	// it back to the pool's processes through Config.Env, with an extra
	// argument through Config.Args.
	Consume     bool `json:"consume"`
	StopDelayMs int  `json:"stop_delay_ms"`
	IdleMs      int  `json:"idle_ms"`
	// CrashFirst makes the first CrashFirst workers fail at start,
	// counted in the file CrashFile.
	CrashFirst int    `json:"crash_first"`
	CrashFile  string `json:"crash_file"`
	// Unreported makes a worker, once it has drained, close its end of
	// the control socket and its standard descriptors (0 to 3), as an
	// exit does, and stay: to the master it is exiting, and the kernel
	// never reports its end.
	Unreported bool `json:"unreported"`
}

func TestMain(m *testing.M) {
	if s := os.Getenv(testPoolEnv); s != "" {
		poolMain(s)
		return
	}
	os.Exit(m.Run())
}

// poolMain is the pool program: master and workers alike.
func poolMain(s string) {
	var pc poolConfig
	if err := json.Unmarshal([]byte(s), &pc); err != nil {
		log.Fatal(err)
	}
	if !prefork.IsWorker() {
		fmt.Fprintf(os.Stderr, "pool program: master %d, args %q\n", os.Getpid(), os.Args[1:])
	}
	cfg := &prefork.Config{
		Listen:          []prefork.Listen{{Name: "http", Network: pc.Network, Address: pc.Addr}},
		Workers:         pc.Workers,
		MinWorkers:      pc.Min,
		MaxWorkers:      pc.Max,
		Cores:           pc.Cores,
		ControlSocket:   pc.Control,
		HangTimeout:     time.Duration(pc.HangMs) * time.Millisecond,
		DrainTimeout:    time.Duration(pc.DrainMs) * time.Millisecond,
		MaxConns:        pc.MaxConns,
		MaxRSS:          pc.MaxRSS,
		User:            pc.User,
		BackoffMin:      time.Duration(pc.BackoffMs) * time.Millisecond,
		BackoffMax:      time.Duration(pc.BackoffMax) * time.Millisecond,
		ReloadImmediate: pc.Immediate,
		ConnsPerWorker:  pc.ConnsPerW,
		MinSpare:        pc.MinSpare,
		MaxSpare:        pc.MaxSpare,
		MemoryMax:       pc.MemoryMax,
		StopDelay:       time.Duration(pc.StopDelayMs) * time.Millisecond,
		ScaleInterval:   100 * time.Millisecond,
		IdleTimeout:     time.Duration(pc.IdleMs) * time.Millisecond,
		Logger:          log.New(os.Stderr, "", log.Lmicroseconds),
	}
	if pc.Network == "" {
		cfg.Listen[0].Network = "tcp"
	}
	if pc.Shared {
		cfg.Mode = prefork.Shared
	}
	if pc.ConnsPerW > 0 {
		cfg.Load = prefork.LoadConns
	}
	if pc.Consume {
		os.Unsetenv(testPoolEnv)
		cfg.Env = []string{testPoolEnv + "=" + s}
		cfg.Args = []string{os.Args[0], "-test.run=^$", "-prefork.again"}
	}
	cfg.Serve = func(w *prefork.Worker) error {
		if pc.Crash || (pc.CrashNewGen && w.Generation() >= 2) {
			return errors.New("this worker fails on purpose")
		}
		if pc.CrashFirst > 0 {
			b, _ := os.ReadFile(pc.CrashFile)
			if n, _ := strconv.Atoi(string(b)); n < pc.CrashFirst {
				os.WriteFile(pc.CrashFile, []byte(strconv.Itoa(n+1)), 0o600)
				return fmt.Errorf("start %d of this worker fails on purpose", n+1)
			}
		}
		srv := &netio.Server{}
		srv.Handler = func(c *netio.Conn) { respond(w, srv, c, pc.LeakKiB) }
		err := w.Serve(srv)
		if pc.Unreported {
			for fd := range 4 { // stdin, stdout, stderr and its end of the control socket
				syscall.Close(fd)
			}
			time.Sleep(time.Hour)
		}
		return err
	}
	if err := prefork.Run(cfg); err != nil {
		log.Fatal(err)
	}
}

var leaked [][]byte

// respond is a small HTTP/1.1 responder: keep-alive, every complete
// request answered with 200 "ok\n"; while the worker drains, the next
// response says "Connection: close" and the connection closes after it.
// GET /hang/<pid> holds the scheduler's thread of worker pid for good
// (other workers answer it); GET /pid answers with
// the worker's pid; GET /shutdown shuts srv down, as a handler of the
// user's own may.
func respond(w *prefork.Worker, srv *netio.Server, c *netio.Conn, leakKiB int) {
	buf := make([]byte, 8192)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if i < 0 {
				if n == len(buf) {
					return
				}
				break
			}
			req := buf[:i]
			body := "ok\n"
			switch {
			case bytes.HasPrefix(req, []byte("GET /hang/")):
				// Only the worker named holds its thread: the others
				// answer, so a test hangs the victim it chose and no
				// other.
				pid, _, _ := bytes.Cut(req[len("GET /hang/"):], []byte(" "))
				if string(pid) == strconv.Itoa(os.Getpid()) {
					for {
					}
				}
			case bytes.HasPrefix(req, []byte("GET /shutdown ")):
				go srv.Shutdown(context.Background())
			case bytes.HasPrefix(req, []byte("GET /pid ")):
				body = strconv.Itoa(os.Getpid()) + "\n"
			case bytes.HasPrefix(req, []byte("GET /args ")):
				body = fmt.Sprintf("%q %v\n", os.Args[1:], prefork.IsWorker())
			}
			if leakKiB > 0 {
				b := make([]byte, leakKiB<<10)
				for j := 0; j < len(b); j += 4096 {
					b[j] = 1
				}
				leaked = append(leaked, b)
			}
			lower := bytes.ToLower(req)
			line, _, _ := bytes.Cut(lower, []byte("\r\n"))
			http10 := bytes.HasSuffix(line, []byte("http/1.0")) && !bytes.Contains(lower, []byte("keep-alive"))
			closing := w.Draining() || http10 || bytes.Contains(lower, []byte("connection: close"))
			conn := ""
			if closing {
				conn = "Connection: close\r\n"
			}
			resp := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n" + conn + "\r\n" + body
			if _, err := c.Write([]byte(resp)); err != nil {
				return
			}
			copy(buf, buf[i+4:n])
			n -= i + 4
			if closing {
				return
			}
		}
	}
}

// A pool is a running pool program.
type pool struct {
	t       *testing.T
	cmd     *exec.Cmd
	addr    string
	control string
	out     *syncbuf.Buffer
	done    chan error
	bin     string
}

// startPool runs the pool program with pc (a loopback port and a control
// socket unless given) and waits until every worker is ready.
func startPool(t *testing.T, pc poolConfig, env ...string) *pool {
	t.Helper()
	needNative(t)
	if pc.Control == "" {
		pc.Control = filepath.Join(t.TempDir(), "control.sock")
	}
	if pc.HangMs == 0 {
		pc.HangMs = 2000
	}
	if pc.DrainMs == 0 {
		pc.DrainMs = 3000
	}
	p := &pool{t: t, control: pc.Control, out: new(syncbuf.Buffer), done: make(chan error, 1), bin: os.Args[0]}
	return p.start(pc, env...)
}

// anyPort is the address of a pool that pc gives none: the master binds
// a loopback port that the kernel picks then, and start reads it from
// the master's log. A port picked before (a listener bound to port 0 and
// closed, its port handed to the master) was free only when it was
// picked: the kernel gives it again to whoever binds port 0 next, with
// no regard for who picked it (on this VM 51 picks in 20,000 returned a
// port one of the previous 16 had), and a second master that binds it
// with SO_REUSEPORT does so without an error: two pools then share it,
// and connections to it go to whichever pool the group's last steering
// program favours (100 of 100 requests to the second pool's address were
// answered by the first). Any test whose pool started in another's
// window between pick and bind talked to the wrong pool. A port bound as
// port 0, with SO_REUSEPORT or not, is never one that another socket
// holds (3,000 of 3,000 here), so a pool on anyPort has its port alone.
const anyPort = "127.0.0.1:0"

// masterLine is the master's line that says where it listens: its first
// listener's network, then the address it is bound to.
var masterLine = regexp.MustCompile(`prefork: master \d+: \d+ worker\(s\) .* on \[(\S+) (\S+) \(`)

// listening waits until the master has opened its listeners (it logs
// its "prefork: master" line, with their addresses, after it has) or has
// exited, and sets p.addr to the address of its first listener.
func (p *pool) listening(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if m := masterLine.FindStringSubmatch(p.out.String()); m != nil {
			p.addr = m[2]
			return nil
		}
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("the master exited before it listened: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the master did not listen within %v", d)
		}
	}
}

// start launches the pool program with pc (on anyPort unless pc gives an
// address), reads its address, and waits until every worker is ready.
func (p *pool) start(pc poolConfig, env ...string) *pool {
	p.t.Helper()
	if pc.Addr == "" {
		pc.Addr = anyPort
	}
	p.launch(pc, env...)
	if err := p.listening(15 * time.Second); err != nil {
		p.t.Fatalf("pool on %s: %v\n%s", pc.Addr, err, p.out.String())
	}
	if !pc.Crash {
		p.waitReady(pc.Workers, 15*time.Second)
	}
	return p
}

// launch starts the pool program, to be stopped (SIGQUIT) when the test
// ends.
func (p *pool) launch(pc poolConfig, env ...string) {
	t := p.t
	t.Helper()
	js, _ := json.Marshal(pc)
	p.cmd = exec.Command(p.bin, "-test.run=^$")
	p.cmd.Env = append(append(poolEnviron(), testPoolEnv+"="+string(js)), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-p.done:
			p.done <- err // exited already
		default:
			p.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case err := <-p.done:
				p.done <- err
			case <-time.After(5 * time.Second):
				p.cmd.Process.Kill()
			}
		}
		p.checkRaces()
		if t.Failed() {
			t.Logf("pool output:\n%s", p.out.String())
		}
	})
}

// poolEnviron is the environment of a pool program: the test's, and
// under the race detector no second of sleep at every process's exit
// (its default atexit_sleep_ms), which made every reload and stop of a
// pool take a second more.
func poolEnviron() []string {
	env := os.Environ()
	if !raceEnabled {
		return env
	}
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GORACE="); ok {
			env[i] = "GORACE=" + v + " atexit_sleep_ms=0"
			return env
		}
	}
	return append(env, "GORACE=atexit_sleep_ms=0")
}

// checkRaces fails the test if a process of the pool (the master or a
// worker, whose exit status no test reads) reported a data race.
func (p *pool) checkRaces() {
	if out := p.out.String(); strings.Contains(out, "WARNING: DATA RACE") {
		p.t.Errorf("a process of the pool reported a data race")
	}
}

// status reads the pool's status, failing the test on error.
func (p *pool) status() *prefork.Status {
	p.t.Helper()
	st, err := prefork.ReadStatus(p.control)
	if err != nil {
		p.t.Fatalf("status: %v\n%s", err, p.out.String())
	}
	return st
}

// waitFor polls the status until cond holds or the time is up.
func (p *pool) waitFor(what string, d time.Duration, cond func(*prefork.Status) bool) *prefork.Status {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := prefork.ReadStatus(p.control)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %v (status %+v, %v)", what, d, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until the pool's log holds s and returns the log, or
// fails the test after d. It is for lines whose time is not the test's
// business (a reaped worker's end, which the kernel reports when it has
// torn the process down), not for timing the master.
func (p *pool) waitLog(s string, d time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		out := p.out.String()
		if strings.Contains(out, s) {
			return out
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log line with %q within %v:\n%s", s, d, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// process returns worker pid as an *os.Process, released when the test
// ends. On Linux it holds a pidfd: its signals never reach another
// process that reused the number after the worker had been reaped.
func process(t *testing.T, pid int) *os.Process {
	t.Helper()
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Release() })
	return proc
}

// waitReady waits until n workers are ready and none is starting or
// draining.
func (p *pool) waitReady(n int, d time.Duration) *prefork.Status {
	p.t.Helper()
	return p.waitFor(fmt.Sprintf("%d workers ready", n), d, func(st *prefork.Status) bool {
		if st.Ready != n || st.Reloading || len(st.Processes) != n {
			return false
		}
		for _, w := range st.Processes {
			if w.State != "ready" {
				return false
			}
		}
		return true
	})
}

// signal sends sig to the master.
func (p *pool) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the master to exit.
func (p *pool) wait(d time.Duration) error {
	p.t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		p.t.Fatalf("the master did not exit within %v", d)
		return nil
	}
}

func pids(st *prefork.Status) map[int]bool {
	m := map[int]bool{}
	for _, w := range st.Processes {
		m[w.PID] = true
	}
	return m
}

// needNative skips a test that starts a pool off Linux, where Run
// returns ErrUnsupported, or under an emulator (COOP_TEST_EXEC, qemu-user
// without binfmt_misc): the master starts its workers by executing its
// own binary, which only binfmt_misc could run.
func needNative(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("skipped: prefork pools need Linux")
	}
	if os.Getenv("COOP_TEST_EXEC") != "" {
		t.Skip("skipped: the pool re-executes its binary, which qemu-user without binfmt_misc cannot run")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func need(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("skipped: %s is not installed (Debian: see .ci/run)", p)
		}
	}
}

// get sends one request on a new connection and returns the body.
func get(t *testing.T, addr, path string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
	b, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	return body
}

// background runs a client program until it ends and returns its output.
type background struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

func runBackground(t *testing.T, name string, args ...string) *background {
	t.Helper()
	b := &background{done: make(chan error, 1)}
	cmd := exec.Command(name, args...)
	b.cmd = cmd
	cmd.Stdout, cmd.Stderr = &b.out, &b.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- cmd.Wait() }()
	t.Cleanup(func() {
		// Asked through done, which Wait's goroutine fills: reading
		// cmd.ProcessState here would race with it.
		select {
		case err := <-b.done:
			b.done <- err
		default:
			cmd.Process.Kill()
			<-b.done
		}
	})
	return b
}

func (b *background) wait(t *testing.T, d time.Duration) string {
	t.Helper()
	select {
	case err := <-b.done:
		b.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("client: %v\n%s", err, b.out.String())
		}
	case <-time.After(d):
		t.Fatalf("client did not end within %v", d)
	}
	return b.out.String()
}

// runWrk starts wrk -c conns on url for as long as the test's events take:
// its run ends with interrupt, not at a duration guessed beforehand (a
// guess too short left the end of a slow reload unloaded; one long enough
// for a loaded machine kept every run waiting).
func runWrk(t *testing.T, conns int, url string) *background {
	t.Helper()
	return runBackground(t, "wrk", "-t1", "-c"+strconv.Itoa(conns), "-d60s", "--timeout", "5s", url)
}

// afterEvent is how long a load runs on after the event under test is
// over (a reload, an upgrade, a replacement ready): the connections it
// closed reconnect, and a failure it caused shows, before interrupt.
const afterEvent = 500 * time.Millisecond

// interrupt lets the client run on for afterEvent, then ends it with
// SIGINT, on which wrk stops and prints its summary, and returns its
// output.
func (b *background) interrupt(t *testing.T) string {
	t.Helper()
	time.Sleep(afterEvent)
	if err := b.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	return b.wait(t, 10*time.Second)
}

// checkWrk fails the test if wrk's output shows any failed request.
func checkWrk(t *testing.T, out string) int {
	t.Helper()
	n, err := wrkout.Check(out)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
