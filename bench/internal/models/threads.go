//go:build linux

package models

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/bench/internal/rawsys"
)

func init() {
	Register(Model{
		Name:     "threads",
		What:     "OS thread per connection, blocking read/write syscalls (locked goroutines)",
		Serve:    serveThreads,
		Capacity: threadCapacity,
	})
}

// threadCapacity is how many more threads this machine can start: every
// thread takes a pid (kernel.pid_max, kernel.threads-max, counted over the
// whole machine) and, in this cgo binary whose threads are pthreads, two
// memory mappings (its stack and the guard page below it;
// vm.max_map_count, per process). A margin is kept for the rest of the
// machine and the runtime's own threads.
func threadCapacity() (int, string) {
	const margin = 1000
	pids, err1 := rawsys.SysctlInt("kernel/pid_max")
	tmax, err2 := rawsys.SysctlInt("kernel/threads-max")
	maps, err3 := rawsys.SysctlInt("vm/max_map_count")
	running, err4 := rawsys.Threads()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return 0, "" // unknown: let the row try, and fail with its reason
	}
	byPid := min(pids, tmax) - running - margin
	byMaps := maps/2 - margin
	if byPid < byMaps {
		return byPid, fmt.Sprintf("a thread per connection: kernel.pid_max and threads-max (%d, %d) leave room for about %d more threads here (%d running); more would take a change to the machine, not to the model", pids, tmax, byPid, running)
	}
	return byMaps, fmt.Sprintf("a thread per connection: every pthread maps its stack and a guard page, and vm.max_map_count (%d) allows about %d threads; more would take a change to the machine, not to the model", maps, byMaps)
}

// serveThreads is the classic thread-per-connection server: a blocking
// accept, then one OS thread per connection sleeping in blocking read and
// write calls. In Go that is a goroutine locked to its thread making its
// calls through syscall.Syscall, so the runtime knows the thread may sleep
// and hands the processor to the thread whose call returned. The thread
// exits with its connection (the goroutine never unlocks), as a
// pthread-per-connection server's would.
//
// GOMAXPROCS is 1, as for net: the one processor is passed between threads
// as their calls return, which is the Go runtime's share of this model's
// cost; the kernel's share (a thread switch per request) is what the model
// is about. Part of the runtime's share, measured: when every thread has
// slept in a call for ~20 µs, sysmon takes the processor back and sleeps;
// the next call to return wakes sysmon again, so an idle-then-busy cycle
// costs an extra thread wake-up. (GOMAXPROCS = connections, one processor
// per thread like pthreads, measured no better here.)
func serveThreads(opt Options) error {
	// 10,000 idle connections are 10,000 threads: lift the runtime's
	// default cap of 10,000 threads.
	debug.SetMaxThreads(max(20_000, 2*opt.Conns+100))
	lfd, addr, err := listenFD(opt.Addr, false, false)
	if err != nil {
		return err
	}
	opt.Ready(addr)
	runtime.LockOSThread() // the accepting thread
	for {
		fd, e := rawsys.BlockingAccept(lfd)
		if e != 0 {
			err := os.NewSyscallError("accept4", e)
			if isTemporaryAccept(err) {
				fmt.Fprintf(os.Stderr, "threads: %v; retrying in 10ms\n", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if err := rawsys.SetNoDelay(fd); err != nil {
			unix.Close(fd)
			return os.NewSyscallError("setsockopt(TCP_NODELAY)", err)
		}
		go threadSession(fd, opt.BufSize)
	}
}

func threadSession(fd, size int) {
	runtime.LockOSThread() // never unlocked: the thread ends with the session
	defer unix.Close(fd)
	endSession("threads", blockingEcho(fd, size))
}

// blockingEcho echoes on a blocking descriptor until EOF or an error.
// The thread and process pool models share it.
func blockingEcho(fd, size int) error {
	buf := make([]byte, size)
	for {
		n, e := rawsys.BlockingRead(fd, buf)
		switch {
		case e != 0:
			return os.NewSyscallError("read", e)
		case n == 0:
			return nil
		}
		if e := rawsys.BlockingWriteAll(fd, buf[:n]); e != 0 {
			return os.NewSyscallError("write", e)
		}
	}
}
