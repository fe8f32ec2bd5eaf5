//go:build linux

// Package harness runs the server rows of the study: it starts each model in
// a server process pinned to the server CPU, checks that it echoes
// correctly, drives it with the load generator in a process pinned to the
// client CPU, and reads the server's CPU and memory from the kernel's
// accounting of its processes. RunChecks checks every model and measures
// the streaming row; RunSweep measures every model across the session
// counts of the plan: memory per session, server CPU per request in closed
// loop and at equal load.
package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/models"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// The CPUs of the study: servers on ServerCPU, the client on ClientCPU.
const (
	ServerCPU = 0
	ClientCPU = 1
)

// Tail keeps the last bytes a child process wrote, for error messages.
type Tail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 8<<10 {
		b := t.buf.Bytes()
		t.buf.Reset()
		t.buf.Write(b[len(b)-4<<10:])
	}
	return len(p), nil
}

func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(t.buf.String())
}

// Server is a running server process.
type Server struct {
	Model models.Model
	Addr  string
	Pid   int
	CPUs  string // the CPUs the server's threads may run on, as the kernel reports them
	cmd   *exec.Cmd
	err   *Tail
	done  chan error
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago. Servers bind it themselves (gnet cannot adopt a listener, and the
// real clients' servers are other programs).
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// StartServer starts model m in a server process sized for conns
// connections and waits until it accepts connections.
func StartServer(m models.Model, conns int) (*Server, error) {
	return StartServerFrom("", m, conns)
}

// StartServerFrom is StartServer with the server process run from exe,
// another build of the study's binary (a branch's), or from this binary
// if exe is "".
func StartServerFrom(exe string, m models.Model, conns int) (*Server, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	cpus := []int{ServerCPU}
	if m.MultiCore {
		cpus = nil
	}
	env, args := []string{fmt.Sprintf("GOMAXPROCS=%d", m.GOMAXPROCS)}, models.ServeArgs(m.Name, addr, conns, cpus)
	var cmd *exec.Cmd
	if exe != "" {
		cmd = child.CommandFrom(exe, models.ServeRole, true, env, args...)
	} else if cmd, err = child.Command(models.ServeRole, true, env, args...); err != nil {
		return nil, err
	}
	s := &Server{Model: m, cmd: cmd, err: new(Tail), done: make(chan error, 1)}
	cmd.Stderr = s.err
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := child.Start(cmd); err != nil {
		return nil, fmt.Errorf("%s: start server: %w", m.Name, err)
	}
	s.Pid = cmd.Process.Pid
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), models.ReadyPrefix); ok {
				ready <- a
			}
		}
		io.Copy(io.Discard, out)
		s.done <- cmd.Wait()
	}()
	// A pool of 1,000 processes takes seconds to start, more on a busy
	// machine; nothing else does.
	timeout := 30*time.Second + time.Duration(conns)*300*time.Millisecond
	select {
	case s.Addr = <-ready:
	case err := <-s.done:
		child.Forget(cmd)
		return nil, fmt.Errorf("%s: server exited before ready: %v: %s", m.Name, err, s.err)
	case <-time.After(timeout):
		s.Stop()
		return nil, fmt.Errorf("%s: server not ready after %v: %s", m.Name, timeout, s.err)
	}
	if s.CPUs, err = rawsys.ThreadsAllowedCPUs(s.Pid); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Alive returns an error if the server process has exited.
func (s *Server) Alive() error {
	select {
	case err := <-s.done:
		s.done <- err
		return fmt.Errorf("%s: server exited: %v: %s", s.Model.Name, err, s.err)
	default:
		return nil
	}
}

// PIDs returns the server's processes: the server and its descendants.
func (s *Server) PIDs() ([]int, error) { return rawsys.Tree(s.Pid) }

// Stderr returns the end of what the server wrote on stderr.
func (s *Server) Stderr() string { return s.err.String() }

// Stop kills the server and its process group and waits for it.
func (s *Server) Stop() {
	child.Kill(s.cmd)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(10 * time.Second):
	}
	child.Forget(s.cmd)
}

// RunLoad runs the load generator in its own process pinned to ClientCPU.
// In idle mode, hold runs while the connections are held open.
func RunLoad(cfg loadgen.Config, hold func() error) (loadgen.Result, error) {
	var res loadgen.Result
	args, err := loadgen.Args(cfg, ClientCPU)
	if err != nil {
		return res, err
	}
	// The client bounds its own run; this is the backstop if it hangs.
	limit := cfg.Warmup + time.Duration(cfg.Intervals)*cfg.Interval + 2*time.Minute + time.Duration(cfg.Conns)*10*time.Millisecond
	err = RunLoadRole(loadgen.Role, "load generator", args, limit, hold, &res)
	return res, err
}

// RunLoadRole runs a load generator of the study (the child role role,
// with args, GOMAXPROCS=1) that speaks package loadgen's line protocol on
// its standard input and output: at HoldingLine hold runs (when not nil)
// and ReleaseLine is sent back; the JSON after ResultPrefix is decoded
// into res. The child is killed if it has not ended within limit. what
// names the generator in errors, which carry the end of its stderr.
func RunLoadRole(role, what string, args []string, limit time.Duration, hold func() error, res any) error {
	cmd, err := child.Command(role, true, []string{"GOMAXPROCS=1"}, args...)
	if err != nil {
		return err
	}
	errs := new(Tail)
	cmd.Stderr = errs
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(cmd); err != nil {
		return fmt.Errorf("start the %s: %w", what, err)
	}
	defer child.Forget(cmd)
	timer := time.AfterFunc(limit, func() { child.Kill(cmd) })
	defer timer.Stop()

	var result []byte
	var holdErr error
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == loadgen.HoldingLine:
			if hold != nil {
				holdErr = hold()
			}
			if _, err := io.WriteString(stdin, loadgen.ReleaseLine+"\n"); err != nil && holdErr == nil {
				holdErr = err
			}
		case strings.HasPrefix(line, loadgen.ResultPrefix):
			result = []byte(strings.TrimPrefix(line, loadgen.ResultPrefix))
		}
	}
	stdin.Close()
	werr := cmd.Wait()
	switch {
	case holdErr != nil:
		return holdErr
	case werr != nil:
		return fmt.Errorf("%s: %v: %s", what, werr, errs)
	case result == nil:
		return fmt.Errorf("%s printed no result: %s", what, errs)
	}
	if err := json.Unmarshal(result, res); err != nil {
		return fmt.Errorf("%s result: %w", what, err)
	}
	return nil
}
