//go:build linux

package irc

import (
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// server is a running IRC server.
type server struct {
	name string
	addr string
	cmd  *exec.Cmd
	pid  int
	cpus string
	out  *harness.Tail
	done chan error
}

// startServer starts sp's server pinned to the server CPU on a free
// loopback port and waits until it accepts connections.
func (e *env) startServer(sp spec) (*server, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	cmd, err := sp.start(e, addr)
	if err != nil {
		return nil, err
	}
	pinned(cmd, e.taskset, harness.ServerCPU)
	s := &server{name: sp.name, addr: addr, cmd: cmd, out: new(harness.Tail), done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := child.Start(cmd); err != nil {
		return nil, fmt.Errorf("%s: start: %w", sp.name, err)
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
			break
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s: not listening on %s after 15 s: %s", sp.name, addr, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s.cpus, err = rawsys.AllowedCPUs(s.pid); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) alive() error {
	select {
	case err := <-s.done:
		s.done <- err
		return fmt.Errorf("%s: exited: %v: %s", s.name, err, s.out)
	default:
		return nil
	}
}

// settle waits (at most 5 s) until the server has used less than 2 ms of
// CPU in 100 ms.
func (s *server) settle() {
	prev, _ := rawsys.ProcessCPU(s.pid)
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		c, err := rawsys.ProcessCPU(s.pid)
		if err != nil || c-prev < 2*time.Millisecond {
			return
		}
		prev = c
	}
}

// stop ends the server: SIGTERM, then SIGKILL to its group after 3 s.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(3 * time.Second):
	}
	child.Kill(s.cmd)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(10 * time.Second):
	}
	child.Forget(s.cmd)
}
