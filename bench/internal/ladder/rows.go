//go:build linux

package ladder

import (
	"fmt"
	"iter"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/bench/internal/child"
)

// pinned is the affinity of the rows measured on one CPU.
var pinned = []int{0}

func init() {
	Register(Row{Name: "call", What: "a plain function call (noinline) and its return", CPUs: pinned, Run: runCall})
	Register(Row{Name: "interface step", What: "one step of a state machine through an interface method", CPUs: pinned, Run: runStep})
	Register(Row{Name: "iter.Pull", What: "half a next/yield round trip: one coroutine switch (runtime.coroswitch)", CPUs: pinned, Run: runPull})
	Register(Row{Name: "chan GOMAXPROCS=1", What: "half a ping-pong of two goroutines over unbuffered channels", CPUs: pinned, Run: runChan})
	Register(Row{Name: "chan GOMAXPROCS=2", What: "the same, two Ps, both CPUs", GOMAXPROCS: 2, Run: runChan})
	Register(Row{Name: "null syscall", What: "not a switch: one raw getppid system call, the kernel entry and exit that every rung below pays", CPUs: pinned, Run: runSyscall})
	Register(Row{Name: "threads chan pinned", What: "half a ping-pong of two locked goroutines (two OS threads, futex hand-off), one CPU", CPUs: pinned, Run: runLockedChan})
	Register(Row{Name: "threads chan", What: "the same, both CPUs", Run: runLockedChan})
	Register(Row{Name: "threads pipe pinned", What: "half a ping-pong of two OS threads over pipes, blocking syscalls, one CPU", CPUs: pinned, Run: runThreadPipe})
	Register(Row{Name: "threads pipe", What: "the same, both CPUs", Run: runThreadPipe})
	Register(Row{Name: "processes pipe pinned", What: "half a ping-pong of two processes over pipes, one CPU", CPUs: pinned, Run: runProcPipe})
	Register(Row{Name: "processes pipe", What: "the same, both CPUs", Run: runProcPipe})
	child.Register(pipeEchoRole, pipeEcho)
}

var sink int

//go:noinline
func plainCall(x int) int { return x + 1 }

func runCall(n int, t *Timer) error {
	x := 0
	t.Start()
	for range n {
		x = plainCall(x)
	}
	t.Stop()
	sink = x
	return nil
}

type stepper interface{ Step() }

// machine is the kind of state machine an event loop keeps per connection.
type machine struct{ state, done int }

func (m *machine) Step() {
	switch m.state {
	case 0:
		m.state = 1
	case 1:
		m.state = 2
	default:
		m.state = 0
		m.done++
	}
}

// theStepper is a package variable so that the compiler cannot see the
// concrete type at the call and devirtualize it.
var theStepper stepper = &machine{}

func runSyscall(n int, t *Timer) error {
	t.Start()
	for range n {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	t.Stop()
	return nil
}

func runStep(n int, t *Timer) error {
	s := theStepper
	t.Start()
	for range n {
		s.Step()
	}
	t.Stop()
	return nil
}

func runPull(n int, t *Timer) error {
	next, stop := iter.Pull(func(yield func(int) bool) {
		for i := 0; yield(i); i++ {
		}
	})
	defer stop()
	next() // start the coroutine outside the timing
	calls := max(n/2, 1)
	t.Start()
	for range calls {
		next()
	}
	t.Stop()
	return nil
}

// pingPong runs n/2 round trips between the caller and a goroutine started
// by start over two unbuffered channels.
func pingPong(n int, t *Timer, lock bool) error {
	ping, pong := make(chan int), make(chan int)
	go func() {
		if lock {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		for v := range ping {
			pong <- v
		}
	}()
	if lock {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	ping <- 0
	<-pong
	t.Start()
	for i := range max(n/2, 1) {
		ping <- i
		<-pong
	}
	t.Stop()
	close(ping)
	return nil
}

func runChan(n int, t *Timer) error       { return pingPong(n, t, false) }
func runLockedChan(n int, t *Timer) error { return pingPong(n, t, true) }

// pipes returns two pipes: a→b and b→a.
func pipes() (ar, aw, br, bw *os.File, err error) {
	if ar, aw, err = os.Pipe(); err != nil {
		return
	}
	br, bw, err = os.Pipe()
	return
}

// volley sends a byte on w and waits for it to come back on r, k times,
// with blocking system calls through the runtime (the thread sleeps in the
// kernel while it waits).
func volley(k int, r, w int) error {
	b := []byte{0}
	for range k {
		if _, err := syscall.Write(w, b); err != nil {
			return os.NewSyscallError("write", err)
		}
		if _, err := syscall.Read(r, b); err != nil {
			return os.NewSyscallError("read", err)
		}
	}
	return nil
}

// rawFD returns f's descriptor in blocking mode: os.File puts pipes in
// non-blocking mode for the netpoller, and this row measures the kernel's
// sleep and wake-up instead.
func rawFD(f *os.File) (int, error) {
	fd := int(f.Fd()) // Fd sets blocking mode
	return fd, unix.SetNonblock(fd, false)
}

func runThreadPipe(n int, t *Timer) error {
	ar, aw, br, bw, err := pipes()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range []*os.File{ar, aw, br, bw} {
			f.Close()
		}
	}()
	var fds [4]int
	for i, f := range []*os.File{ar, aw, br, bw} {
		if fds[i], err = rawFD(f); err != nil {
			return err
		}
	}
	k := max(n/2, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b := []byte{0}
		for range k + 1 {
			if _, err := syscall.Read(fds[0], b); err != nil {
				done <- err
				return
			}
			if _, err := syscall.Write(fds[3], b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := volley(1, fds[2], fds[1]); err != nil {
		return err
	}
	t.Start()
	err = volley(k, fds[2], fds[1])
	t.Stop()
	if err != nil {
		return err
	}
	return <-done
}

const pipeEchoRole = "ladder-pipe-echo"

// pipeEcho is the other process of the process row: it echoes bytes from
// descriptor 3 to descriptor 4 until end of file.
func pipeEcho([]string) error {
	b := []byte{0}
	for {
		n, err := syscall.Read(3, b)
		if err != nil {
			return os.NewSyscallError("read", err)
		}
		if n == 0 {
			return nil
		}
		if _, err := syscall.Write(4, b); err != nil {
			return os.NewSyscallError("write", err)
		}
	}
}

func runProcPipe(n int, t *Timer) error {
	ar, aw, br, bw, err := pipes()
	if err != nil {
		return err
	}
	cmd, err := child.Command(pipeEchoRole, false, []string{"GOMAXPROCS=1"})
	if err != nil {
		return err
	}
	cmd.ExtraFiles = []*os.File{ar, bw}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start echo process: %w", err)
	}
	ar.Close()
	bw.Close()
	w, err := rawFD(aw)
	if err != nil {
		return err
	}
	r, err := rawFD(br)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := volley(1, r, w); err != nil {
		return err
	}
	t.Start()
	err = volley(max(n/2, 1), r, w)
	t.Stop()
	aw.Close()
	br.Close()
	if werr := cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("echo process: %w", werr)
	}
	return err
}
