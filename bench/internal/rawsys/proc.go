//go:build linux

package rawsys

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PinProcess restricts every thread of the calling process to cpus.
// sched_setaffinity acts on one thread, and threads inherit the mask of the
// thread that creates them, so the loop runs until a pass finds no thread
// it has not pinned: a thread the runtime starts meanwhile is then either
// pinned here or was created by an already pinned one.
func PinProcess(cpus ...int) error {
	set := cpuSet(cpus)
	done := map[int]bool{}
	for pass := 0; pass < 10; pass++ {
		tids, err := Tasks(os.Getpid())
		if err != nil {
			return err
		}
		fresh := 0
		for _, tid := range tids {
			if done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return os.NewSyscallError("sched_setaffinity", err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
	return fmt.Errorf("pin to CPUs %v: threads kept appearing", cpus)
}

// PinThread restricts the calling thread to cpus. The caller must hold
// its thread (runtime.LockOSThread) for as long as the pinning matters;
// threads the runtime creates meanwhile do not inherit it (the runtime
// creates them from a thread of its own while the caller is locked).
func PinThread(cpus ...int) error {
	set := cpuSet(cpus)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return os.NewSyscallError("sched_setaffinity", err)
	}
	return nil
}

func cpuSet(cpus []int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return set
}

// Tasks lists the thread ids of process pid.
func Tasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// AllowedCPUs returns the Cpus_allowed_list of process pid as the kernel
// prints it ("0", "0-1"), so that the study can show where it actually ran.
func AllowedCPUs(pid int) (string, error) {
	return allowedCPUs(fmt.Sprintf("/proc/%d/status", pid))
}

// ThreadsAllowedCPUs returns the CPUs that some thread of process pid may
// run on, formatted as the kernel's lists ("0", "0-1"): the CPUs of a
// server whose threads are pinned one by one (an event loop per CPU),
// where the process's own list (AllowedCPUs, its main thread's) would name
// whichever CPU the main thread got.
func ThreadsAllowedCPUs(pid int) (string, error) {
	tids, err := Tasks(pid)
	if err != nil {
		return "", err
	}
	var all unix.CPUSet
	for _, tid := range tids {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			if err == unix.ESRCH {
				continue // exited meanwhile
			}
			return "", os.NewSyscallError("sched_getaffinity", err)
		}
		for i := range all {
			all[i] |= set[i]
		}
	}
	var b strings.Builder
	for c := 0; c < len(all)*64; c++ {
		if !all.IsSet(c) || c > 0 && all.IsSet(c-1) {
			continue
		}
		end := c
		for all.IsSet(end + 1) {
			end++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(c))
		if end > c {
			b.WriteString("-" + strconv.Itoa(end))
		}
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("pid %d: no thread with CPUs", pid)
	}
	return b.String(), nil
}

// ThreadAllowedCPUs returns the Cpus_allowed_list of thread tid of
// process pid: threads are pinned one by one.
func ThreadAllowedCPUs(pid, tid int) (string, error) {
	return allowedCPUs(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
}

func allowedCPUs(status string) (string, error) {
	b, err := os.ReadFile(status)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s: no Cpus_allowed_list", status)
}

// ProcessCPU returns the CPU time process pid has used so far, all of its
// threads (also those that exited) together, user plus system, from the
// kernel's scheduler accounting: clock_gettime on the process CPU clock
// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) = (^pid << 3) | 2. Linux lets
// any process read another's process clock. The kernel here is built
// without IRQ time accounting, so softirq work (loopback packet delivery)
// done on a process's behalf is charged to it.
func ProcessCPU(pid int) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32((^pid)<<3|2), &ts); err != nil {
		return 0, fmt.Errorf("cpu clock of pid %d: %w", pid, os.NewSyscallError("clock_gettime", err))
	}
	return time.Duration(ts.Nano()), nil
}

// SelfCPU returns the calling process's CPU time (CLOCK_PROCESS_CPUTIME_ID).
func SelfCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		// Cannot fail on Linux for this clock; a zero would corrupt a
		// utilisation figure silently, so say it loudly.
		panic(os.NewSyscallError("clock_gettime", err))
	}
	return time.Duration(ts.Nano())
}

// Mem is a process's memory as /proc/PID/smaps_rollup reports it.
type Mem struct {
	RSS     int64 // resident bytes, shared pages counted in full
	PSS     int64 // proportional: each shared page divided among its sharers
	AnonPSS int64 // the anonymous part of PSS: heap, stacks, runtime metadata
}

// Memory reads /proc/pid/smaps_rollup. PSS is the honest measure across a
// pool of processes that share the executable's text and copy-on-write
// pages: summing RSS would count the shared pages once per process. Its
// anonymous part is the one that grows with connections; the file part
// also shrinks when another process maps the same executable (the study's
// client is the same binary), so per-connection figures use AnonPSS.
func Memory(pid int) (Mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return Mem{}, err
	}
	defer f.Close()
	var m Mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("Rss:")):
			dst = &m.RSS
		case bytes.HasPrefix(line, []byte("Pss:")):
			dst = &m.PSS
		case bytes.HasPrefix(line, []byte("Pss_Anon:")):
			dst = &m.AnonPSS
		default:
			continue
		}
		fs := strings.Fields(string(line))
		if len(fs) < 2 {
			return Mem{}, fmt.Errorf("smaps_rollup of pid %d: bad line %q", pid, line)
		}
		kb, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil {
			return Mem{}, fmt.Errorf("smaps_rollup of pid %d: %w", pid, err)
		}
		*dst = kb << 10
	}
	if err := sc.Err(); err != nil {
		return Mem{}, err
	}
	return m, nil
}

// Tree returns pid and all of its descendants, found by scanning the parent
// of every process in /proc: the process pool's workers are children of
// its master, and every process of a model is charged to it.
func Tree(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	kids := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited while we looked
		}
		// The command name may contain spaces and parentheses: the fields
		// after the last ')' are fixed: state, ppid, ...
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fs := strings.Fields(string(b[i+1:]))
		if len(fs) < 2 {
			continue
		}
		pp, err := strconv.Atoi(fs[1])
		if err != nil {
			continue
		}
		kids[pp] = append(kids[pp], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, kids[out[i]]...)
	}
	return out, nil
}

// RaiseNoFile raises the soft limit on open files to the hard limit and
// returns the new soft limit. 10,000 connections need 10,000 descriptors
// on each side.
func RaiseNoFile() (uint64, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, os.NewSyscallError("getrlimit", err)
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			return 0, os.NewSyscallError("setrlimit", err)
		}
	}
	return r.Cur, nil
}

// SetTimerSlack sets the calling thread's timer slack. The default 50 µs
// slack would let the kernel fire the open-loop client's send timers late,
// adding up to 50 µs of the client's own lateness to every latency.
func SetTimerSlack(ns int) error {
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(ns), 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_TIMERSLACK)", err)
	}
	return nil
}

// Machine describes the host for the first line of every report.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go"`
	GOARCH    string `json:"goarch"`
}

// String is the machine line printed at the top of the study's output.
func (m Machine) String() string {
	return fmt.Sprintf("machine: %s, %d cores, Linux %s, %s %s", m.CPU, m.Cores, m.Kernel, m.GoVersion, m.GOARCH)
}

// ThisMachine reads the CPU model from /proc/cpuinfo and the kernel release
// from uname.
func ThisMachine() Machine {
	m := Machine{CPU: "unknown CPU", Cores: runtime.NumCPU(), GoVersion: runtime.Version(), GOARCH: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// LoadAverage returns the 1-minute load average from /proc/loadavg, or ""
// if it cannot be read: a report states how busy the machine was, since
// other work on it skews every row.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return ""
}
