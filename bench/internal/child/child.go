//go:build linux

// Package child runs the study's processes. The bench binary (or a test
// binary of the bench module) re-executes itself with a role named in the
// environment: a server model, a process-pool worker, the load generator,
// a ladder row that needs a process of its own. Main, called first thing
// by main and by TestMain, runs that role and exits.
//
// Every process started through Start is recorded, so that KillAll can end
// them all — on normal exit, on Ctrl-C and on a panic. As a second line,
// children are started with Pdeathsig (SIGKILL when the parent dies) and in
// their own process group (so a server and its workers die together).
// Pdeathsig fires when the *thread* that started the child exits: Go ends a
// thread only when a goroutine locked to it exits, so the harness never
// starts children from a locked goroutine.
package child

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

const roleEnv = "COOP_BENCH_ROLE"

var roles = map[string]func(args []string) error{}

// Register names a role; call it from an init function.
func Register(role string, run func(args []string) error) {
	if _, dup := roles[role]; dup {
		panic("child: role " + role + " registered twice")
	}
	roles[role] = run
}

// Main runs the role this process was started for and exits; it returns at
// once in a process that is not a child.
func Main() {
	role := os.Getenv(roleEnv)
	if role == "" {
		return
	}
	// The role's own children name their roles themselves.
	os.Unsetenv(roleEnv)
	run, ok := roles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench: unknown child role %q\n", role)
		os.Exit(2)
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Env returns the variable (KEY=value) that makes an execution of this
// binary run role: for a role that re-executes the binary by a means of
// its own (netio/prefork's master starting its workers) and must give the
// variable back, since Main removes it.
func Env(role string) string { return roleEnv + "=" + role }

// Command returns a command that re-executes this binary in role with args.
// It dies with its parent (Pdeathsig). If group is true it leads a process
// group of its own, which KillAll kills whole.
func Command(role string, group bool, env []string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("child: own executable: %w", err)
	}
	return CommandFrom(exe, role, group, env, args...), nil
}

// CommandFrom is Command with another build of the study's binary, exe:
// one that registers role (cmd/pairs runs a branch's server models beside
// this build's that way).
func CommandFrom(exe, role string, group bool, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: group}
	return cmd
}

// External returns a command that runs an installed program — a server
// or a client the study measures coop against (nginx, redis-server, wrk,
// redis-benchmark) — with the same guarantees as Command: Pdeathsig
// (kept across execve, so also through taskset) and a process group of
// its own, which Kill and KillAll end whole, so that nginx's worker goes
// with its master. Start it with Start. One gap remains: Pdeathsig is not
// inherited across fork, so if the study itself is killed with SIGKILL, a
// worker process forked by such a program (nginx's) can outlive it.
func External(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

var (
	mu      sync.Mutex
	started = map[int]bool{} // pid → leads its own group
)

// Start starts cmd and records it for KillAll.
func Start(cmd *exec.Cmd) error {
	mu.Lock()
	defer mu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	started[cmd.Process.Pid] = cmd.SysProcAttr != nil && cmd.SysProcAttr.Setpgid
	return nil
}

// Forget drops a process that has been waited for, so that KillAll never
// signals a reused pid.
func Forget(cmd *exec.Cmd) {
	mu.Lock()
	delete(started, cmd.Process.Pid)
	mu.Unlock()
}

// Kill ends cmd's process (and its group, if it leads one) with SIGKILL.
func Kill(cmd *exec.Cmd) {
	mu.Lock()
	group, ok := started[cmd.Process.Pid]
	mu.Unlock()
	if ok {
		kill(cmd.Process.Pid, group)
	}
}

func kill(pid int, group bool) {
	if group {
		syscall.Kill(-pid, syscall.SIGKILL) // the group may already be gone
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// KillAll kills every recorded process that has not been forgotten.
func KillAll() {
	mu.Lock()
	defer mu.Unlock()
	for pid, group := range started {
		kill(pid, group)
	}
	clear(started)
}
