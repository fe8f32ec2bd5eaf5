package sched_test

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// threadCPUs returns the CPUs the calling thread may run on. It panics
// if the kernel refuses, which it does only for a bad argument: it runs in
// tasks, where a test cannot stop.
func threadCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		panic(os.NewSyscallError("sched_getaffinity", err))
	}
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// getcpu returns the CPU the calling thread runs on (getcpu(2)).
func getcpu() int {
	var cpu uint32
	unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), 0, 0)
	return int(cpu)
}

// placement is where a task found itself: its thread's mask, and the
// CPUs getcpu returned across a few yields.
type placement struct {
	Mask []int
	Ran  []int // distinct CPUs seen, in the order seen
}

func (p *placement) record() {
	p.Mask = threadCPUs()
	for range 20 {
		if c := getcpu(); !containsInt(p.Ran, c) {
			p.Ran = append(p.Ran, c)
		}
		sched.Yield()
	}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// lockedCPUs locks the test's goroutine to its thread for the rest of the
// test and returns the CPUs that thread may run on: a scheduler Run on
// this goroutine runs on this thread, which the test then reads again.
func lockedCPUs(t *testing.T) []int {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	return threadCPUs()
}

func TestWithCPUs(t *testing.T) {
	checkLeaks(t)
	allowed := lockedCPUs(t)
	sets := [][]int{allowed}
	for _, c := range allowed {
		sets = append(sets, []int{c})
	}
	for _, cpus := range sets {
		var p placement
		s := sched.New(sched.WithCPUs(cpus...))
		s.Go(p.record)
		mustRun(t, s)
		if diff := cmp.Diff(cpus, p.Mask); diff != "" {
			t.Errorf("WithCPUs(%v): the task's thread mask (-want +got):\n%s", cpus, diff)
		}
		for _, c := range p.Ran {
			if !containsInt(cpus, c) {
				t.Errorf("WithCPUs(%v): the task ran on CPU %d (getcpu)", cpus, c)
			}
		}
		if diff := cmp.Diff(allowed, threadCPUs()); diff != "" {
			t.Errorf("WithCPUs(%v): the thread's mask after Run (-want +got):\n%s", cpus, diff)
		}
	}
}

func TestWithCPUsErrors(t *testing.T) {
	checkLeaks(t)
	allowed := lockedCPUs(t)
	// No machine has CPU 65535, and the kernel refuses a mask with no CPU
	// the thread may run on.
	const absent = 64<<10 - 1
	tests := []struct {
		name     string
		opt      sched.Option
		wantCPUs []int
		want     string // in the error's text
		errno    error  // the cause, if a system call failed
	}{
		{"none", sched.WithCPUs(), nil, "to no CPUs: no CPUs given", nil},
		{"negative", sched.WithCPUs(-1), []int{-1}, "to CPU -1: CPU -1 out of range 0-65535", nil},
		{"too big", sched.WithCPUs(64 << 10), []int{64 << 10}, "to CPU 65536: CPU 65536 out of range 0-65535", nil},
		{"absent", sched.WithCPUs(absent), []int{absent}, "to CPU 65535: sched_setaffinity: invalid argument", unix.EINVAL},
		{"partly absent", sched.WithCPUs(allowed[0], absent), []int{allowed[0], absent}, "CPUs 65535 not available", nil},
		{"per scheduler", sched.WithCPUPerScheduler(-2, allowed[0]), []int{-2}, "to CPU -2: CPU -2 out of range", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sched.New(sched.WithName("pin-test"), tt.opt)
			ran := false
			s.Go(func() { ran = true })
			err := s.Run()
			var ce *sched.CPUError
			if !errors.As(err, &ce) {
				t.Fatalf("Run: %v, want a *sched.CPUError", err)
			}
			if diff := cmp.Diff(tt.wantCPUs, ce.CPUs); diff != "" {
				t.Errorf("CPUError.CPUs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(allowed, ce.Available); diff != "" {
				t.Errorf("CPUError.Available (-want +got):\n%s", diff)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "sched: pin pin-test ") || !strings.Contains(msg, tt.want) || !strings.HasSuffix(msg, "(the thread may run on CPUs "+cpuList(allowed)+")") {
				t.Errorf("error %q: want it to name pin-test, contain %q and end with the available CPUs", msg, tt.want)
			}
			if tt.errno != nil {
				var se *os.SyscallError
				if !errors.As(err, &se) || se.Syscall != "sched_setaffinity" || !errors.Is(err, tt.errno) {
					t.Errorf("error %q: want an *os.SyscallError of sched_setaffinity matching %v", msg, tt.errno)
				}
			}
			if ran {
				t.Error("a task ran on a scheduler whose thread could not be pinned")
			}
			if diff := cmp.Diff(allowed, threadCPUs()); diff != "" {
				t.Errorf("the thread's mask after Run (-want +got):\n%s", diff)
			}
		})
	}
}

// cpuList formats CPUs as the kernel's lists do ("0-1").
func cpuList(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, strconv.Itoa(cpus[i])+"-"+strconv.Itoa(cpus[j]))
		} else {
			parts = append(parts, strconv.Itoa(cpus[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func TestGroupCPUPerScheduler(t *testing.T) {
	checkLeaks(t)
	allowed := threadCPUs()
	reversed := make([]int, len(allowed))
	for i, c := range allowed {
		reversed[len(allowed)-1-i] = c
	}
	n := len(allowed) + 1 // one scheduler more than CPUs: the list wraps
	each := func(list []int) [][]int {
		want := make([][]int, n)
		for i := range want {
			want[i] = []int{list[i%len(list)]}
		}
		return want
	}
	same := make([][]int, n)
	for i := range same {
		same[i] = []int{allowed[0]}
	}
	tests := []struct {
		name string
		opt  sched.Option
		want [][]int // each scheduler's mask
	}{
		{"auto", sched.WithCPUPerScheduler(), each(allowed)},
		{"list", sched.WithCPUPerScheduler(reversed...), each(reversed)},
		{"same set", sched.WithCPUs(allowed[0]), same},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := sched.NewGroup(n, tt.opt)
			ps := make([]placement, n)
			for i := range n {
				g.Scheduler(i).Go(ps[i].record)
			}
			if err := g.Run(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := make([][]int, n)
			for i, p := range ps {
				got[i] = p.Mask
				for _, c := range p.Ran {
					if !containsInt(tt.want[i], c) {
						t.Errorf("scheduler %d ran on CPU %d (getcpu), want %v", i, c, tt.want[i])
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("the schedulers' thread masks (-want +got):\n%s", diff)
			}
		})
	}
}

// A scheduler of a kept-alive group that cannot be pinned stops the
// group: its share of the work would otherwise wait for it for ever.
func TestGroupStopsOnCPUError(t *testing.T) {
	checkLeaks(t)
	allowed := threadCPUs()
	g := sched.NewGroup(2, sched.WithKeepAlive(), sched.WithCPUPerScheduler(allowed[0], -1))
	done := make(chan error, 1)
	go func() { done <- g.Run() }()
	select {
	case err := <-done:
		var ce *sched.CPUError
		if !errors.As(err, &ce) || ce.Sched != "group-1" {
			t.Fatalf("Group.Run: %v, want the *sched.CPUError of group-1", err)
		}
	case <-time.After(10 * time.Second):
		g.Stop()
		<-done
		t.Fatal("Group.Run still running 10 s after group-1 failed to pin its thread")
	}
}
