package prefork

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A proc is a child process of the master: a worker or a new master. It
// is started with syscall.ForkExec and raw descriptors — os/exec would
// call Fd on every file it passes, and Fd switches a shared socket to
// blocking mode — and, where the kernel has them (Linux 5.3), tracked
// with a pidfd: it is waited for and signalled through the pidfd, so a
// pid the kernel reused after the child was reaped can never be hit.
type proc struct {
	pid   int
	pidfd int // -1 without pidfd support
}

// exitStatus is how a child ended.
type exitStatus struct {
	exited bool // exited with code; else killed by signal
	code   int
	signal syscall.Signal
	core   bool
	rusage unix.Rusage
}

// startProc starts path with args and env, giving it the descriptors
// files as 0, 1, 2, 3, ... and putting it in the cgroup cgroupFD (if ≥ 0).
func startProc(path string, args, env []string, files []int, cgroupFD int) (*proc, error) {
	pidfd := -1
	sys := &syscall.SysProcAttr{PidFD: &pidfd}
	if cgroupFD >= 0 {
		sys.UseCgroupFD = true
		sys.CgroupFD = cgroupFD
	}
	fs := make([]uintptr, len(files))
	for i, fd := range files {
		fs[i] = uintptr(fd)
	}
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{Env: env, Files: fs, Sys: sys})
	if err != nil {
		return nil, fmt.Errorf("prefork: starting %s: %w", path, err)
	}
	return &proc{pid: pid, pidfd: pidfd}, nil
}

// signal sends sig to p, through its pidfd where there is one. An error
// is an *os.SyscallError of the call that failed; ESRCH says p has ended.
func (p *proc) signal(sig syscall.Signal) error {
	if p.pidfd >= 0 {
		return os.NewSyscallError("pidfd_send_signal", unix.PidfdSendSignal(p.pidfd, sig, nil, 0))
	}
	return os.NewSyscallError("kill", syscall.Kill(p.pid, sig))
}

// ended reports whether p has exited (or been killed), without reaping
// it: a zombie, or a process that wait is reaping now. The master asks
// before it kills a worker late to stop: wait may return seconds after
// the process ended, because reaping it also drops the kernel's /proc
// entries for it, and that can wait on the dentry cache (seen on a busy
// 2-vCPU VM: wait blocked in waitid → release_task →
// proc_invalidate_siblings_dcache → shrink_dcache_parent for 2 to 10 s
// after the worker had exited with status 0). A process whose threads
// the kernel is still ending has not ended yet here.
func (p *proc) ended() bool {
	if p == nil {
		return false
	}
	if p.pidfd >= 0 {
		// Readable once the process has ended; readable and hung up once
		// it has been reaped.
		fds := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
	}
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	// ECHILD: reaped already (wait4 is about to return).
	return err == unix.ECHILD || (err == nil && (*siginfoChld)(unsafe.Pointer(&info)).pid != 0)
}

// release closes the pidfd; p must have been waited for.
func (p *proc) release() {
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// wait waits for p to end and reaps it (waitEnd, then reap).
func (p *proc) wait() (exitStatus, error) {
	st, err := p.waitEnd()
	if err != nil {
		return st, err
	}
	return st, p.reap()
}

// waitEnd waits for p to end and returns how it ended, without reaping
// it: p stays a zombie until reap. Reading the status that way is quick;
// reaping is not always — the kernel then drops p's /proc entries, and
// on a busy VM that took 2 to 10 s (waitid → release_task →
// proc_invalidate_siblings_dcache → shrink_dcache_parent), in the
// thread that reaps, which a process cannot exit without. waitEnd blocks
// only its goroutine: with a pidfd the runtime's poller waits for the
// pidfd to become readable, so a pool of a thousand workers needs no
// thousand threads.
func (p *proc) waitEnd() (exitStatus, error) {
	var st exitStatus
	if p.pidfd < 0 {
		var info siginfoChld
		for {
			_, _, e := unix.Syscall6(unix.SYS_WAITID, unix.P_PID, uintptr(p.pid), uintptr(unsafe.Pointer(&info)),
				unix.WEXITED|unix.WNOWAIT, uintptr(unsafe.Pointer(&st.rusage)), 0)
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				return exitStatus{}, os.NewSyscallError("waitid", e)
			}
			st.fill(&info)
			return st, nil
		}
	}
	// A duplicate for the runtime's poller: the pidfd itself stays open
	// until the master has handled the exit, so that no signal it sends
	// meanwhile can reach a descriptor number reused by then.
	dup, err := unix.FcntlInt(uintptr(p.pidfd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return exitStatus{}, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return exitStatus{}, os.NewSyscallError("setnonblock(pidfd)", err)
	}
	f := os.NewFile(uintptr(dup), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return exitStatus{}, err
	}
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		var info siginfoChld
		_, _, e := unix.Syscall6(unix.SYS_WAITID, pPIDFD, fd, uintptr(unsafe.Pointer(&info)),
			unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, uintptr(unsafe.Pointer(&st.rusage)), 0)
		switch {
		case e == unix.EAGAIN || (e == 0 && info.pid == 0):
			return false // not yet: wait for the pidfd to become readable
		case e == unix.EINTR:
			return false
		case e != 0:
			werr = os.NewSyscallError("waitid", e)
			return true
		}
		st.fill(&info)
		return true
	})
	if err != nil {
		return st, err
	}
	return st, werr
}

// fill sets st from the siginfo waitid filled.
func (st *exitStatus) fill(info *siginfoChld) {
	switch info.code {
	case cldExited:
		st.exited, st.code = true, int(info.status)
	case cldDumped:
		st.signal, st.core = syscall.Signal(info.status), true
	default:
		st.signal = syscall.Signal(info.status)
	}
}

// reap reaps p, which waitEnd has seen end: it returns once the kernel
// has released p (see waitEnd for how long that can take).
func (p *proc) reap() error {
	op := "wait4"
	for {
		var e syscall.Errno
		if p.pidfd >= 0 {
			op = "waitid"
			var info siginfoChld
			_, _, e = unix.Syscall6(unix.SYS_WAITID, pPIDFD, uintptr(p.pidfd), uintptr(unsafe.Pointer(&info)), unix.WEXITED, 0, 0)
		} else {
			_, _, e = unix.Syscall6(unix.SYS_WAIT4, uintptr(p.pid), 0, 0, 0, 0, 0)
		}
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return os.NewSyscallError(op, e)
	}
}

// siginfoChld is siginfo_t for SIGCHLD, as waitid fills it (the fields
// x/sys/unix.Siginfo keeps in its padding).
type siginfoChld struct {
	signo, errno, code int32
	_                  int32
	pid                int32
	uid                uint32
	status             int32
	_                  [128 - 28]byte
}

const (
	pPIDFD    = 3 // P_PIDFD
	cldExited = 1 // CLD_EXITED
	cldKilled = 2 // CLD_KILLED
	cldDumped = 3 // CLD_DUMPED
)

// String says how the process ended, as a log reads it.
func (st exitStatus) String() string {
	if st.exited {
		return fmt.Sprintf("exited with status %d", st.code)
	}
	s := fmt.Sprintf("killed by signal %d (%s)", int(st.signal), unix.SignalName(st.signal))
	if st.core {
		s += ", core dumped"
	}
	return s
}

// childEnv returns the environment for a child: ours, less every
// variable of the pool's own (and systemd's, which were ours only),
// with set added (replacing a variable of the same name), plus extra.
func childEnv(set []string, extra ...string) []string {
	replaced := make(map[string]bool, len(set))
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		replaced[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if reservedEnv(k) || replaced[k] {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, set...)
	return append(env, extra...)
}
