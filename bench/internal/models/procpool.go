//go:build linux

package models

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/bench/internal/echo"
	"github.com/coopgo/coop/bench/internal/rawsys"
	"github.com/coopgo/coop/netio/prefork"
)

// ProcpoolMax is the largest pool the study starts. A worker is a whole Go
// process (about 1.5 MiB of proportional memory and a few milliseconds to
// start), so the 10,000-connection memory row would need 10,000 processes;
// the pool stops at 1,000 and that row says so.
const ProcpoolMax = 1000

// procpoolRecycle is the pool's MaxConns: a worker is replaced after
// about this many connections (±10%), as Apache 1.3's
// MaxRequestsPerChild replaces a child. The study's rows open fewer per
// worker, so no replacement falls inside a measured interval.
const procpoolRecycle = 1000

func init() {
	Register(Model{
		Name:         "procpool",
		What:         fmt.Sprintf("process pool (Apache 1.3 prefork) run by netio/prefork: N worker processes, one connection each, blocking I/O, recycled after ~%d connections", procpoolRecycle),
		Serve:        serveProcpool,
		MaxConns:     ProcpoolMax,
		PerRowServer: true,
		Limit:        fmt.Sprintf("pool capped at %d processes (one per connection)", ProcpoolMax),
	})
}

// poolCPUsEnv tells a procpool worker the server's CPUs.
const poolCPUsEnv = "COOP_BENCH_POOL_CPUS"

// serveProcpool is the prefork server as Apache 1.3 wrote it, run by
// netio/prefork: the master owns one listening socket (Shared mode) and
// keeps opt.Conns workers (at most ProcpoolMax), each serving one
// connection at a time with blocking reads and writes (procpoolWorker).
// The package supervises them: readiness, lifeline, reaping, respawn,
// recycling after procpoolRecycle connections.
//
// Starting a Go process costs ~15-30 ms of CPU on the study's VMs, so a
// pool of 1,000 takes many seconds: the master starts the workers on
// every CPU, each pins itself to the server's CPUs before it reports
// ready, and the master pins itself back once all are.
//
// Each worker is a Go process with a coop scheduler, so it carries the
// runtime's own threads and the scheduler's heartbeat (one wake-up a
// second): when the worker has slept in read for ~20 µs, its sysmon
// thread takes the processor back, and the read's return wakes sysmon
// again, where a C prefork worker pays one wake-up per request. That is
// the price of writing this model in Go, and it is reported as measured.
func serveProcpool(opt Options) error {
	n := max(opt.Conns, 1)
	if n > ProcpoolMax {
		return fmt.Errorf("procpool: %d connections need %d workers; the cap is %d", opt.Conns, n, ProcpoolMax)
	}
	cfg := &prefork.Config{
		Workers:  n,
		Cores:    1,
		Mode:     prefork.Shared,
		MaxConns: procpoolRecycle,
		// A pool of 1,000 takes seconds to start, more on a busy
		// machine; a recycled worker finishes its connection, which a
		// row holds open for its whole run.
		ReadyTimeout: 2 * time.Minute,
		DrainTimeout: 10 * time.Minute,
		Serve:        func(w *prefork.Worker) error { return procpoolWorker(w, opt.BufSize) },
	}
	if prefork.IsWorker() {
		return runPool(opt, cfg, nil)
	}
	var mask unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mask); err != nil {
		return os.NewSyscallError("sched_getaffinity", err)
	}
	var serverCPUs, allCPUs []int
	var names []string
	for c := range runtime.NumCPU() {
		allCPUs = append(allCPUs, c)
		if mask.IsSet(c) {
			serverCPUs = append(serverCPUs, c)
			names = append(names, strconv.Itoa(c))
		}
	}
	if err := os.Setenv(poolCPUsEnv, strings.Join(names, ",")); err != nil {
		return err
	}
	cfg.Args = unpinnedArgs(os.Args)
	if err := rawsys.PinProcess(allCPUs...); err != nil {
		return err
	}
	return runPool(opt, cfg, func() error { return rawsys.PinProcess(serverCPUs...) })
}

// unpinnedArgs returns the serve role's arguments without its -cpus
// value, so that a worker starts on every CPU (it pins itself later).
func unpinnedArgs(args []string) []string {
	args = slices.Clone(args)
	if i := slices.Index(args, "-cpus"); i >= 0 && i+1 < len(args) {
		args[i+1] = ""
	}
	return args
}

// procpoolWorker is one worker: Apache 1.3's child loop. It waits in
// poll(2) on the shared socket — not in the scheduler, whose epoll
// registration is exclusive and would let a busy worker swallow the one
// wake-up of a new connection; poll wakes every idle worker and the
// others' accept finds nothing — takes one connection, serves it to the
// end with blocking reads and writes (an accepted socket does not
// inherit the listener's O_NONBLOCK), and waits again. The master's
// request to stop (a recycle) wakes the poll through an eventfd; a
// worker serving a connection stops when it ends.
func procpoolWorker(w *prefork.Worker, size int) error {
	if size <= 0 {
		size = echo.BufSize
	}
	if s := os.Getenv(poolCPUsEnv); s != "" {
		var cpus []int
		for _, f := range strings.Split(s, ",") {
			c, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("%s %q: %w", poolCPUsEnv, s, err)
			}
			cpus = append(cpus, c)
		}
		if err := rawsys.PinProcess(cpus...); err != nil {
			return err
		}
	}
	ls := w.Listeners(poolListener)
	if len(ls) != 1 {
		return fmt.Errorf("procpool worker: %d listeners, want 1", len(ls))
	}
	lfd := ls[0].FD().Sysfd()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("eventfd", err)
	}
	defer unix.Close(efd)
	go func() {
		<-w.Done()
		unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}()
	w.Ready()
	pfds := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}, {Fd: int32(efd), Events: unix.POLLIN}}
	for !w.Draining() {
		if _, err := unix.Poll(pfds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return os.NewSyscallError("poll", err)
		}
		if pfds[1].Revents != 0 {
			return nil
		}
		if pfds[0].Revents == 0 {
			continue
		}
		fd, e := rawsys.BlockingAccept(lfd)
		if e != 0 {
			err := os.NewSyscallError("accept4", e)
			switch {
			case e == syscall.EAGAIN:
				continue // another worker took it
			case isTemporaryAccept(err):
				fmt.Fprintf(os.Stderr, "procpool worker: %v; retrying in 10ms\n", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		w.ConnOpened()
		if err := rawsys.SetNoDelay(fd); err != nil {
			unix.Close(fd)
			return os.NewSyscallError("setsockopt(TCP_NODELAY)", err)
		}
		endSession("procpool", blockingEcho(fd, size))
		unix.Close(fd)
		w.ConnClosed()
	}
	return nil
}
