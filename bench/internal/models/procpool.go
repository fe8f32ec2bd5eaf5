package models

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/echo"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// ProcpoolMax is the largest pool the study starts. A worker is a whole Go
// process (about 1.5 MiB of proportional memory and a few milliseconds to
// start), so the 10,000-connection memory row would need 10,000 processes;
// the pool stops at 1,000 and that row says so.
const ProcpoolMax = 1000

func init() {
	Register(Model{
		Name:         "procpool",
		What:         "process pool (Apache 1.3 prefork): N worker processes, one connection each, blocking I/O",
		Serve:        serveProcpool,
		MaxConns:     ProcpoolMax,
		PerRowServer: true,
		Limit:        fmt.Sprintf("pool capped at %d processes (one per connection)", ProcpoolMax),
	})
	child.Register("procpool-worker", procpoolWorker)
}

// Descriptors a worker inherits (ExtraFiles start at 3).
const (
	workerListenFD = 3 // the shared listening socket
	workerReadyFD  = 4 // write end of the pool's ready pipe
)

// serveProcpool is the prefork server: the master opens one blocking
// listening socket and starts opt.Conns workers (at most ProcpoolMax) that
// inherit it. Each worker blocks in accept, serves its connection to the
// end with blocking reads and writes, and accepts again. The kernel wakes
// one sleeping acceptor per connection (exclusive wait), so there is no
// thundering herd.
//
// Each worker is a Go process, so each carries the runtime's own threads:
// when the worker has slept in read for ~20 µs, its sysmon thread takes
// the processor back, and the read's return wakes sysmon again. A request
// that finds its worker asleep therefore costs about three thread wake-ups
// (counted with voluntary_ctxt_switches per thread), where a C prefork
// worker pays one. That is the price of writing this model in Go, and it
// is reported as measured.
func serveProcpool(opt Options) error {
	n := opt.Conns
	if n < 1 {
		n = 1
	}
	if n > ProcpoolMax {
		return fmt.Errorf("procpool: %d connections need %d workers; the cap is %d", opt.Conns, n, ProcpoolMax)
	}
	lfd, addr, err := listenFD(opt.Addr, false)
	if err != nil {
		return err
	}
	lf := os.NewFile(uintptr(lfd), "listener")
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	// Starting a Go process costs ~15-30 ms of CPU on the study's VMs, so
	// a pool of 1,000 takes many seconds. Start the workers on every CPU
	// in parallel; each pins itself to the server's CPUs before it reports
	// ready, and so does the master before serving.
	var mask unix.CPUSet
	if err := unix.SchedGetaffinity(0, &mask); err != nil {
		return os.NewSyscallError("sched_getaffinity", err)
	}
	var serverCPUs []string
	var allCPUs []int
	for c := range runtime.NumCPU() {
		allCPUs = append(allCPUs, c)
		if mask.IsSet(c) {
			serverCPUs = append(serverCPUs, strconv.Itoa(c))
		}
	}
	if err := rawsys.PinProcess(allCPUs...); err != nil {
		return err
	}
	exited := make(chan error, n)
	starts := make(chan int)
	startErr := make(chan error, n)
	var wg sync.WaitGroup
	for range runtime.NumCPU() * 2 {
		wg.Go(func() {
			for i := range starts {
				cmd, err := child.Command("procpool-worker", false, []string{"GOMAXPROCS=1"},
					strconv.Itoa(opt.BufSize), strings.Join(serverCPUs, ","))
				if err != nil {
					startErr <- err
					continue
				}
				cmd.ExtraFiles = []*os.File{lf, pw}
				cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
				if err := cmd.Start(); err != nil {
					startErr <- fmt.Errorf("procpool: starting worker %d of %d: %w", i+1, n, err)
					continue
				}
				go func() {
					err := cmd.Wait()
					exited <- fmt.Errorf("procpool: worker %d exited: %v", cmd.Process.Pid, err)
				}()
			}
		})
	}
	for i := range n {
		starts <- i
	}
	close(starts)
	wg.Wait()
	close(startErr)
	if err := <-startErr; err != nil {
		return err
	}
	pw.Close()
	// Every worker writes one byte once it is about to accept: count them,
	// so the measurement never includes the pool's start-up.
	got := 0
	buf := make([]byte, 256)
	for got < n {
		k, err := pr.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("procpool: %d of %d workers started", got, n)
			}
			return err
		}
		got += k
	}
	var cpus []int
	for _, c := range serverCPUs {
		k, _ := strconv.Atoi(c)
		cpus = append(cpus, k)
	}
	if err := rawsys.PinProcess(cpus...); err != nil {
		return err
	}
	opt.Ready(addr)
	// A worker never exits on its own: one that does is a failure.
	return <-exited
}

// procpoolWorker is one worker process. It never returns while serving.
func procpoolWorker(args []string) error {
	size := echo.BufSize
	if len(args) > 0 {
		var err error
		if size, err = strconv.Atoi(args[0]); err != nil {
			return fmt.Errorf("buffer size %q: %w", args[0], err)
		}
	}
	if len(args) > 1 && args[1] != "" {
		var cpus []int
		for _, f := range strings.Split(args[1], ",") {
			c, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("CPU list %q: %w", args[1], err)
			}
			cpus = append(cpus, c)
		}
		if err := rawsys.PinProcess(cpus...); err != nil {
			return err
		}
	}
	if _, err := unix.Write(workerReadyFD, []byte{1}); err != nil {
		return os.NewSyscallError("write(ready)", err)
	}
	unix.Close(workerReadyFD)
	for {
		fd, e := rawsys.BlockingAccept(workerListenFD)
		if e != 0 {
			err := os.NewSyscallError("accept4", e)
			if isTemporaryAccept(err) {
				fmt.Fprintf(os.Stderr, "procpool worker: %v; retrying in 10ms\n", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if err := rawsys.SetNoDelay(fd); err != nil {
			unix.Close(fd)
			return os.NewSyscallError("setsockopt(TCP_NODELAY)", err)
		}
		endSession("procpool", blockingEcho(fd, size))
		unix.Close(fd)
	}
}
