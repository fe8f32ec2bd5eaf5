//go:build linux

package clients

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// pinned makes cmd run through taskset on cpu: taskset sets its own
// affinity and execs the program, so the program's pid is cmd's, and every
// thread and process it starts inherits the mask from the start.
func pinned(cmd *exec.Cmd, taskset string, cpu int) { pinnedTo(cmd, taskset, strconv.Itoa(cpu)) }

// pinnedTo is pinned on a CPU list in taskset's syntax ("0-1").
func pinnedTo(cmd *exec.Cmd, taskset string, cpus string) {
	cmd.Args = append([]string{taskset, "-c", cpus, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = taskset
}

// startPinned starts the server whose command start returns for a free
// loopback address, pinned to cpus (taskset's list), and waits until it
// listens there.
func (e *env) startPinned(name, cpus string, start func(addr string) (*exec.Cmd, error)) (*server, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd, err := start(addr)
	if err != nil {
		return nil, err
	}
	pinnedTo(cmd, e.taskset, cpus)
	srv, err := startServer(name, addr, cmd)
	if err != nil {
		return nil, err
	}
	srv.cpus = cpus
	return srv, nil
}

// server is a running server process and the processes it started.
type server struct {
	name string
	addr string
	cmd  *exec.Cmd
	pid  int
	cpus string // where it is pinned (Cpus_allowed_list syntax)
	err  *harness.Tail
	done chan error
}

// startServer starts cmd (already pinned), waits until addr accepts
// connections, and returns the server. If the process exits first, or the
// port does not open within the timeout, the error has its output.
func startServer(name, addr string, cmd *exec.Cmd) (*server, error) {
	s := &server{name: name, addr: addr, cmd: cmd, err: new(harness.Tail), done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.err, s.err
	if err := child.Start(cmd); err != nil {
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	s.pid = cmd.Process.Pid
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := s.alive(); err != nil {
			child.Forget(cmd)
			return nil, err
		}
		c, err := net.DialTimeout("tcp4", addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s: not listening on %s after 15 s: %s", name, addr, s.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive returns an error if the server's main process has exited.
func (s *server) alive() error {
	select {
	case err := <-s.done:
		s.done <- err
		return fmt.Errorf("%s: exited: %v: %s", s.name, err, s.err)
	default:
		return nil
	}
}

// stop ends the server: SIGTERM first, so that nginx's master stops and
// reaps its worker and nothing is left behind, then SIGKILL to the whole
// process group after 3 s (or at once if it is already gone), and waits.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(3 * time.Second):
	}
	child.Kill(s.cmd) // the group: anything the server left behind
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(10 * time.Second):
	}
	child.Forget(s.cmd)
}

// cpu returns the CPU time used so far by the server's processes (its
// main process and every descendant, all threads), and their pids.
func (s *server) cpu() (time.Duration, []int, error) {
	pids, err := rawsys.Tree(s.pid)
	if err != nil {
		return 0, nil, err
	}
	var sum time.Duration
	for _, p := range pids {
		c, err := rawsys.ProcessCPU(p)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %w", s.name, err)
		}
		sum += c
	}
	return sum, pids, nil
}

// pinning reads the Cpus_allowed_list of every thread of every process of
// the server and returns the lists found ("0"), and how many processes and
// threads it read; it is an error if any thread may run elsewhere than on
// cpus.
func (s *server) pinning(cpus string) (string, int, int, error) {
	pids, err := rawsys.Tree(s.pid)
	if err != nil {
		return "", 0, 0, err
	}
	threads := 0
	lists := map[string]bool{}
	var stray []string
	for _, p := range pids {
		tids, err := rawsys.Tasks(p)
		if err != nil {
			return "", 0, 0, fmt.Errorf("%s: threads of pid %d: %w", s.name, p, err)
		}
		for _, t := range tids {
			l, err := rawsys.ThreadAllowedCPUs(p, t)
			if err != nil {
				continue // exited meanwhile
			}
			threads++
			lists[l] = true
			if l != cpus {
				stray = append(stray, fmt.Sprintf("pid %d thread %d on %s", p, t, l))
			}
		}
	}
	if len(stray) > 0 {
		return "", 0, 0, fmt.Errorf("%s: not pinned to CPU %s: %s", s.name, cpus, strings.Join(stray, "; "))
	}
	keys := make([]string, 0, len(lists))
	for k := range lists {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, "+"), len(pids), threads, nil
}

// checkHTTP sends one GET of the hello route on a fresh connection and
// checks status and body. It returns the size of the whole response and
// its header field names, for the row's description.
func checkHTTP(addr string) (int, []string, error) {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+helloPath+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		return 0, nil, fmt.Errorf("check: %w", err)
	}
	cr := &countingReader{r: c}
	resp, err := http.ReadResponse(bufio.NewReader(cr), nil)
	if err != nil {
		return 0, nil, fmt.Errorf("check: GET %s: %w", helloPath, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("check: GET %s: body: %w", helloPath, err)
	}
	if resp.StatusCode != 200 || string(body) != helloBody {
		return 0, nil, fmt.Errorf("check: GET %s: %s %q, want 200 %q", helloPath, resp.Status, body, helloBody)
	}
	var names []string
	for k := range resp.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	return cr.n, names, nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// checkRESP sets a key to a fresh value and reads it back, in one
// pipelined write, as a Redis client would.
func checkRESP(addr string) error {
	c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	val := fmt.Sprintf("check-%d", time.Now().UnixNano())
	key := "coop-bench-check"
	req := fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(key), key, len(val), val, len(key), key)
	if _, err := io.WriteString(c, req); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	want := fmt.Sprintf("+OK\r\n$%d\r\n%s\r\n", len(val), val)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("check: SET then GET: read %q: %w", got, err)
	}
	if string(got) != want {
		return fmt.Errorf("check: SET then GET: got %q, want %q", got, want)
	}
	return nil
}
