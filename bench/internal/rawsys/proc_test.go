//go:build linux

package rawsys_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/bench/internal/rawsys"
)

func TestProcessCPUOfSelf(t *testing.T) {
	// Spin until this process has used 20 ms of CPU by its own clock (a
	// wall-clock spin is not enough: on a loaded machine 20 ms of wall
	// time gave the process 5 ms of CPU), then read the same clock by
	// pid: it must have counted at least that.
	start := rawsys.SelfCPU()
	for rawsys.SelfCPU()-start < 20*time.Millisecond {
	}
	self := rawsys.SelfCPU()
	got, err := rawsys.ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got < self || got < 20*time.Millisecond {
		t.Errorf("process clock by pid %v, own clock read before it %v: want at least that and at least the 20ms spun", got, self)
	}
}

func TestTreeAndMemoryOfChild(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	tree, err := rawsys.Tree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if tree[0] != os.Getpid() || !slices.Contains(tree, cmd.Process.Pid) {
		t.Errorf("Tree = %v, want this process first and child %d in it", tree, cmd.Process.Pid)
	}
	m, err := rawsys.Memory(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.PSS <= 0 || m.PSS > m.RSS || m.AnonPSS > m.PSS {
		t.Errorf("Memory = %+v: want 0 < AnonPSS ≤ PSS ≤ RSS", m)
	}
}

func TestMachine(t *testing.T) {
	m := rawsys.ThisMachine()
	if m.Cores < 1 || m.Kernel == "" || m.GoVersion == "" {
		t.Errorf("ThisMachine = %+v", m)
	}
}

// ThreadsAllowedCPUs is the union of the threads' CPUs: a thread pinned
// to one CPU does not narrow the process's, and a process whose every
// thread is pinned reports that CPU.
func TestThreadsAllowedCPUs(t *testing.T) {
	before, err := rawsys.ThreadsAllowedCPUs(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		// A locked thread of this process on CPU 0 for a moment, given
		// back its CPUs before it is unlocked.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var orig unix.CPUSet
		if err := unix.SchedGetaffinity(0, &orig); err != nil {
			done <- err
			return
		}
		if err := rawsys.PinThread(0); err != nil {
			done <- err
			return
		}
		got, err := rawsys.ThreadsAllowedCPUs(os.Getpid())
		if err == nil && got != before {
			err = fmt.Errorf("with one thread on CPU 0: %q, want the process's %q", got, before)
		}
		if rerr := unix.SchedSetaffinity(0, &orig); rerr != nil {
			runtime.LockOSThread() // the thread ends with the goroutine
			err = errors.Join(err, rerr)
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Error(err)
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var one unix.CPUSet
	one.Set(0)
	if err := unix.SchedSetaffinity(cmd.Process.Pid, &one); err != nil {
		t.Fatal(err)
	}
	if got, err := rawsys.ThreadsAllowedCPUs(cmd.Process.Pid); err != nil || got != "0" {
		t.Errorf("a process on CPU 0: %q, %v; want \"0\"", got, err)
	}
}
