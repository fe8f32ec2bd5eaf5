package sched

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// CPU affinity of a scheduler's thread: what nginx's worker_cpu_affinity
// and HAProxy's cpu-map give their event loops. The contract is here; the
// system calls are in affinity_linux.go, and affinity_other.go says that
// other systems have none that pins a thread.

// How Run chooses the CPUs of the scheduler's thread (options.cpuMode).
const (
	cpusAny  = iota // no pinning: the OS places the thread
	cpusSet         // WithCPUs: the thread on the set
	cpusEach        // WithCPUPerScheduler: scheduler i of a group on one CPU of the list
)

// WithCPUs pins the scheduler's thread to cpus (CPU numbers as the OS
// counts them, from 0) for the duration of Run: every task of the
// scheduler then runs on one of those CPUs, whichever the OS picks. In a
// Group every scheduler gets the same set; WithCPUPerScheduler gives each
// scheduler a CPU of its own. The last of the two options given wins.
//
// Pinning is for a server that owns its machine, or a known share of it:
// the OS can no longer move a scheduler away from its caches, nor put two
// schedulers of a Group on one CPU because other work keeps the other CPUs
// busy; but neither can it move a pinned scheduler off a CPU that other
// work makes busy. Only the scheduler's own thread is pinned: goroutines
// it starts, Offload's and the watchdog's run wherever the Go runtime
// places them (while a thread is locked, the runtime creates new threads
// from a thread of its own, so they do not inherit the pinned mask). When
// Run returns, the thread gets back the CPUs it had before and is
// unlocked; if they cannot be given back (the OS refuses only when none
// of them may still be used: taken offline, or out of the process's
// cgroup cpuset, meanwhile), the thread stays locked to the goroutine
// that called Run, so that no other goroutine runs pinned, and the
// scheduler's logger says so.
//
// If the thread cannot be pinned, Run returns a *CPUError before it runs
// any task: no CPUs given, a CPU number below 0 or beyond the highest
// that the OS can count, a CPU the thread may not run on (the process's
// affinity, as taskset sets it, or its cgroup's cpuset, excludes it, or
// it does not exist), or a system other than Linux, where coop has no way
// to pin a thread and the error matches errors.ErrUnsupported. A Group
// whose scheduler fails so is stopped, and Group.Run returns the error.
func WithCPUs(cpus ...int) Option {
	cpus = append([]int(nil), cpus...)
	return func(o *options) { o.cpuMode, o.cpus = cpusSet, cpus }
}

// WithCPUPerScheduler pins each scheduler of a Group to one CPU: scheduler
// i (see Scheduler.Group) runs on cpus[i % len(cpus)]. With no cpus, it
// runs on the i-th, round robin, of the CPUs its thread may run on when
// Run starts, in increasing order: the CPUs of the process, as taskset or
// a cgroup's cpuset restrict them (nginx's "worker_cpu_affinity auto"). A
// scheduler made by New is scheduler 0. Everything WithCPUs says about
// pinning and its errors holds.
func WithCPUPerScheduler(cpus ...int) Option {
	cpus = append([]int(nil), cpus...)
	return func(o *options) { o.cpuMode, o.cpus = cpusEach, cpus }
}

// A CPUError reports a scheduler whose thread could not be pinned to the
// CPUs its options ask for (WithCPUs, WithCPUPerScheduler). Run returns it
// before it runs any task.
type CPUError struct {
	Sched     string // the scheduler, as String names it
	CPUs      []int  // the CPUs asked for
	Available []int  // the CPUs the thread could run on when Run started; nil if not known
	// Err is the cause: an *os.SyscallError (sched_setaffinity's errno),
	// an error matching errors.ErrUnsupported on a system that cannot pin
	// a thread, or a description of CPUs asked for that cannot be had.
	Err error
}

func (e *CPUError) Error() string {
	var b strings.Builder
	b.WriteString("sched: pin ")
	b.WriteString(e.Sched)
	b.WriteString(" to ")
	switch len(e.CPUs) {
	case 0:
		b.WriteString("no CPUs")
	case 1:
		b.WriteString("CPU " + cpuList(e.CPUs))
	default:
		b.WriteString("CPUs " + cpuList(e.CPUs))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Available != nil {
		b.WriteString(" (the thread may run on CPUs " + cpuList(e.Available) + ")")
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *CPUError) Unwrap() error { return e.Err }

// maxCPUs bounds the CPU numbers Run accepts, as the Go runtime bounds
// the CPUs it counts (runtime.getproccount): far beyond any machine, and
// small enough that a mistyped number does not make a huge mask.
const maxCPUs = 64 << 10

// pinThread pins the calling thread, which Run has locked, as the options
// ask, and returns the function that gives the thread back the CPUs it had,
// or nil if the options ask for no pinning.
func (s *Scheduler) pinThread() (restore func() error, err error) {
	if s.opts.cpuMode == cpusAny {
		return nil, nil
	}
	e := &CPUError{Sched: s.String(), CPUs: s.opts.cpus}
	prev, err := threadCPUs()
	if err != nil {
		e.Err = err
		return nil, e
	}
	e.Available = prev
	if s.opts.cpuMode == cpusEach {
		list := s.opts.cpus
		if len(list) == 0 {
			list = prev
		}
		_, i := s.Group()
		e.CPUs = []int{list[max(i, 0)%len(list)]}
	}
	if len(e.CPUs) == 0 {
		e.Err = errors.New("no CPUs given")
		return nil, e
	}
	for _, c := range e.CPUs {
		if c < 0 || c >= maxCPUs {
			e.Err = fmt.Errorf("CPU %d out of range 0-%d", c, maxCPUs-1)
			return nil, e
		}
	}
	if err := setThreadCPUs(e.CPUs); err != nil {
		e.Err = err
		return nil, e
	}
	// The kernel leaves out, silently, the CPUs of the mask the thread
	// may not run on, as long as one is left: look at what it kept.
	got, err := threadCPUs()
	if err == nil {
		var missing []int
		for _, c := range e.CPUs {
			if !containsCPU(got, c) {
				missing = append(missing, c)
			}
		}
		if missing != nil {
			err = fmt.Errorf("CPUs %s not available", cpuList(missing))
		}
	}
	if err != nil {
		e.Err = err
		if rerr := setThreadCPUs(prev); rerr != nil {
			e.Err = errors.Join(err, fmt.Errorf("restoring the thread's CPUs: %w", rerr))
		}
		return nil, e
	}
	return func() error { return setThreadCPUs(prev) }, nil
}

// unpinThread runs restore on Run's way out, before the thread is
// unlocked. If the thread keeps its pinned CPUs, it locks the thread once
// more, so that Run's unlock leaves it locked to the calling goroutine and
// no other goroutine runs pinned (the thread ends with that goroutine).
func (s *Scheduler) unpinThread(restore func() error) {
	if err := restore(); err != nil {
		runtime.LockOSThread()
		s.opts.logger.Printf("sched: %s: giving its thread back its CPUs: %v; the thread stays locked to the goroutine that called Run", s, err)
	}
}

func containsCPU(cpus []int, c int) bool {
	for _, x := range cpus {
		if x == c {
			return true
		}
	}
	return false
}

// cpuList formats CPU numbers as taskset and /proc print them: "0-3,6".
// Runs are folded only in a sorted list; the list is printed in its order.
func cpuList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}
