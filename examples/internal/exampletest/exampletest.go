// Package exampletest starts the example servers as real processes for
// their tests, which then drive them with real clients (nc, wrk, redis-cli,
// openssl, ...): the test talks to the binary a user would run.
package exampletest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/syncbuf"
)

// Build compiles the main package in dir (relative to the test's package
// directory, usually ".") into a temporary directory and returns the
// binary's path. It is meant for TestMain, so that every test of the
// package shares one build.
func Build(dir string) (bin string, cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", "coop-example-")
	if err != nil {
		return "", nil, err
	}
	bin = filepath.Join(tmp, "server")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race") // go test -race: race-build the server too
	}
	cmd := exec.Command("go", append(args, dir)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("go build %s: %w", dir, err)
	}
	builtMu.Lock()
	built[bin] = true
	builtMu.Unlock()
	return bin, func() { os.RemoveAll(tmp) }, nil
}

// Main is a whole TestMain: it builds the main package of each directory
// in builds (relative to the test's package directory) with Build, stores
// the binary's path where builds points, runs the tests, removes the
// builds and exits with the tests' status.
func Main(m *testing.M, builds map[string]*string) {
	os.Exit(func() int {
		for dir, bin := range builds {
			b, cleanup, err := Build(dir)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer cleanup()
			*bin = b
		}
		return m.Run()
	}())
}

// built records the binaries Build made: Command runs those through the
// emulator named by COOP_TEST_EXEC, if any.
var (
	builtMu sync.Mutex
	built   = map[string]bool{}
)

// Command is exec.Command, except that a binary made by Build runs through
// the emulator named by the COOP_TEST_EXEC environment variable when it is
// set: the arm64 run of .ci/run uses qemu-user without binfmt_misc, so the
// test binary (run by go test -exec) can start clients, which are native,
// and servers, which are not.
func Command(name string, args ...string) *exec.Cmd {
	return commandContext(context.Background(), name, args...)
}

func commandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	builtMu.Lock()
	ours := built[name]
	builtMu.Unlock()
	var cmd *exec.Cmd
	if emu := os.Getenv("COOP_TEST_EXEC"); emu != "" && ours {
		cmd = exec.CommandContext(ctx, emu, append([]string{name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	if ours && raceEnabled {
		cmd.Env = raceEnviron()
	}
	return cmd
}

// raceEnviron is the environment of a race-built server: the race
// runtime's sleep of a second at exit (GORACE atexit_sleep_ms, for other
// threads' reports to finish) is off, as in netio/prefork's tests. Every
// server a test stopped cost that second: half of examples/kv's -race run.
// A race the server reports still shows in its output, which Start's
// clean-up checks.
func raceEnviron() []string {
	env := os.Environ()
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GORACE="); ok {
			env[i] = "GORACE=" + v + " atexit_sleep_ms=0"
			return env
		}
	}
	return append(env, "GORACE=atexit_sleep_ms=0")
}

// Server is a running example process.
type Server struct {
	Addr string // host:port it listens on
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan error
}

// Start runs bin with args plus -addr 127.0.0.1:PORT on a free port, waits
// until the port accepts connections, and stops the process (SIGTERM, then
// SIGKILL) when the test ends. Its output is logged if the test fails; a
// data race it reports (a race-built server) fails the test.
//
// The port was free when FreeAddr looked, and may not be by the time the
// server binds it: anything on the machine that binds port 0 meanwhile (a
// parallel test's listener, another package's test server) can be given
// it. Start then tries again on another port, a few times at most.
func Start(t testing.TB, bin string, args ...string) *Server {
	t.Helper()
	for try := 1; ; try++ {
		addr := FreeAddr(t)
		s, err := start(t, addr, bin, append([]string{"-addr", addr}, args...)...)
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) || try == 5 {
			t.Fatal(err)
		}
		t.Logf("try %d: %v; trying another port", try, err)
	}
}

// StartAt runs bin with exactly args and waits until addr accepts.
func StartAt(t testing.TB, addr, bin string, args ...string) *Server {
	t.Helper()
	s, err := start(t, addr, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// listenersOf is listeners, replaced by a test to run code between the
// probe and the look-up.
var listenersOf = listeners

// errPortTaken: the port given to a server was taken by someone else.
var errPortTaken = errors.New("port taken by another process")

// start runs bin with args and waits until addr accepts, on a listening
// socket of the server's own: a probe that connects proves nothing alone,
// since another process may listen there (the server then fails to bind,
// or with SO_REUSEPORT shares the port, and the test would talk to the
// other process, or to nothing once it is gone). On Linux the listening
// sockets on addr's port are looked up in /proc; elsewhere the probe's
// answer stands.
func start(t testing.TB, addr, bin string, args ...string) (*Server, error) {
	t.Helper()
	s := &Server{Addr: addr, out: new(syncbuf.Buffer), done: make(chan error, 1)}
	s.cmd = Command(bin, args...)
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	s.cmd.SysProcAttr = dieWithParent()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %v", bin, err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.Stop()
		if strings.Contains(s.Output(), "WARNING: DATA RACE") {
			// Its exit status, which says so too, is not every test's
			// to read.
			t.Errorf("%s reported a data race", bin)
		}
		if t.Failed() {
			t.Logf("server output:\n%s", s.Output())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			ours, others := listenersOf(addr, s.Pid())
			if others > 0 {
				s.Stop()
				return nil, fmt.Errorf("%s on %s: %w (%d listening socket(s) of another process, %d of the server's)", bin, addr, errPortTaken, others, ours)
			}
			if ours != 0 { // the server's own socket, or no way to look (-1)
				return s, nil
			}
			// The probe reached a listener that is gone by now, and
			// none of the server's: someone else's short-lived socket
			// on the port (the server, failing to bind, is then about
			// to exit), or the server's own that it has just closed.
			// Not proven: look again.
		}
		select {
		case err := <-s.done:
			s.done <- err
			if strings.Contains(strings.ToLower(s.Output()), "address already in use") {
				return nil, fmt.Errorf("%s exited before listening on %s: %w: %v\n%s", bin, addr, errPortTaken, err, s.Output())
			}
			return nil, fmt.Errorf("%s exited before listening: %v\n%s", bin, err, s.Output())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s did not listen on %s within 10s: %v\n%s", bin, addr, err, s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the process: SIGTERM, and SIGKILL if it has not exited within
// five seconds. It returns the process's exit error (nil for a clean exit
// after SIGTERM).
func (s *Server) Stop() error {
	// Exited already? Asked through done, which Wait's goroutine filled:
	// reading cmd.ProcessState here, which that goroutine wrote, was a
	// data race.
	select {
	case err := <-s.done:
		s.done <- err
		return nil
	default:
	}
	// Marked in the output, which a failed test logs: a server's
	// "terminated: shutting down" before this line answered a SIGTERM
	// someone else sent. (After it, most likely this one: what the
	// server wrote just before may still be in the pipe and land after
	// the mark.)
	fmt.Fprintf(s.out, "exampletest: %s: SIGTERM from the test\n", time.Now().Format("15:04:05.000000"))
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		err := <-s.done
		s.done <- err
		return fmt.Errorf("did not exit within 5s of SIGTERM: %v", err)
	}
}

// Wait waits up to timeout for the process to exit by itself (after a
// signal the test sent) and returns its exit error: nil for exit status 0.
func (s *Server) Wait(timeout time.Duration) error {
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(timeout):
		return fmt.Errorf("did not exit within %v", timeout)
	}
}

// Pid returns the process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Freeze stops the process (SIGSTOP) and waits until it has stopped
// (WaitStopped). It returns thaw, which lets the process go on (SIGCONT)
// the first time it is called and does nothing after; thaw also runs
// when the test ends, so that a failing test leaves no stopped server.
// Linux only.
func (s *Server) Freeze(t testing.TB) (thaw func()) {
	t.Helper()
	if err := syscall.Kill(s.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	thaw = func() {
		if stopped {
			stopped = false
			if err := syscall.Kill(s.Pid(), syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(thaw)
	s.WaitStopped(t)
	return thaw
}

// WaitStopped waits until every thread of the process is stopped (state
// T in /proc/PID/task/*/stat), as SIGSTOP leaves them: kill returns
// before the target has stopped, and a test that means to act while the
// server cannot must wait for it. Linux only.
func (s *Server) WaitStopped(t testing.TB) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", s.Pid())
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		all := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(dir + "/" + task.Name() + "/stat")
			if err != nil {
				all = false // a thread that ended meanwhile: look again
				break
			}
			// The state follows the command's closing parenthesis.
			i := strings.LastIndexByte(string(b), ')')
			if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				all = false
				break
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d: not every thread stopped 5 s after SIGSTOP", s.Pid())
		}
	}
}

// Output returns what the process has written so far.
func (s *Server) Output() string { return s.out.String() }

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Need skips the test, with a one-line reason, unless every named client
// program is installed. .ci/run installs them all.
func Need(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("skipped: %s is not installed (Debian: see .ci/run)", p)
		}
	}
}

// NeedPool skips a test that starts a prefork pool (-workers) where none
// can run: off Linux, where prefork.Run returns ErrUnsupported, and under
// an emulator (COOP_TEST_EXEC, qemu-user without binfmt_misc), which
// cannot run the binary the master re-executes for its workers.
func NeedPool(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("skipped: prefork pools need Linux")
	}
	if os.Getenv("COOP_TEST_EXEC") != "" {
		t.Skip("skipped: the pool re-executes its binary, which qemu-user without binfmt_misc cannot run")
	}
}

// Run runs a client program with a timeout and returns its combined
// output; it fails the test if the program fails.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(timeout, nil, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr runs a client program with stdin (may be nil) and a timeout, and
// returns its combined output and error.
func RunErr(timeout time.Duration, stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := commandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return out.String(), err
}
