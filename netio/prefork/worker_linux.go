package prefork

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// A workerSpec is what the master tells a worker at exec.
type workerSpec struct {
	ID        int     `json:"id"`
	Slot      int     `json:"slot"`
	Gen       int     `json:"gen"`
	ConnLimit uint64  `json:"conn_limit,omitempty"`
	Ctl       int     `json:"ctl"`       // the worker's end of its socket pair with the master
	Page      int     `json:"page"`      // the memfd of its status page
	Listeners [][]int `json:"listeners"` // per Listen, per scheduler: a descriptor
	Shared    []bool  `json:"shared"`    // per Listen: one socket for every scheduler and worker
}

// runWorker is Run in a worker process. It never returns.
func runWorker(cfg *Config, specJSON string) {
	logger := cfg.Logger
	var spec workerSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		logger.Printf("prefork: worker %d: bad %s: %v", os.Getpid(), workerEnv, err)
		os.Exit(3)
	}
	os.Unsetenv(workerEnv) // not for the user's own child processes
	// Inherited descriptors are not close-on-exec: make them so, for the
	// same reason.
	inherited := []int{spec.Ctl, spec.Page}
	for _, fds := range spec.Listeners {
		inherited = append(inherited, fds...)
	}
	for _, fd := range inherited {
		unix.CloseOnExec(fd)
	}
	if err := workerMain(cfg, &spec); err != nil {
		logger.Printf("prefork: worker %d (slot %d, generation %d): %v", os.Getpid(), spec.Slot, spec.Gen, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func workerMain(cfg *Config, spec *workerSpec) error {
	if len(spec.Listeners) != len(cfg.Listen) {
		return fmt.Errorf("the master passed %d listeners for %d Listen entries (a different binary?)", len(spec.Listeners), len(cfg.Listen))
	}
	if err := dropPrivileges(cfg); err != nil {
		return err
	}
	pg, _, err := mapPage(spec.Page)
	if err != nil {
		return err
	}
	unix.Close(spec.Page)

	ctlFile, err := pollable(spec.Ctl, "prefork-ctl")
	if err != nil {
		return err
	}
	w := &Worker{
		cfg: cfg, slot: spec.Slot, gen: spec.Gen, id: spec.ID,
		listeners: make(map[string][]*netio.Listener),
		page:      pg,
		connLimit: spec.ConnLimit,
		logger:    cfg.Logger,
		done:      make(chan struct{}),
	}
	// A write fails only once the master is gone, which readCtl hears
	// and exits on: nothing to do with the error here.
	w.send = func(msg string) { ctlFile.Write([]byte(msg)) }

	// The terminal's signals and the master's own are for the master:
	// the workers get their orders over their socket pair. SIGTERM (a
	// service manager ending the whole group) drains, after StopDelay
	// as the master's stop does.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGWINCH)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		w.stopLater()
	}()

	opts := append([]sched.Option{sched.WithName(fmt.Sprintf("worker%d", spec.Slot)), sched.WithLogger(cfg.Logger)}, cfg.SchedOptions...)
	if cfg.HangTimeout > 0 {
		opts = append(opts, sched.WithWatchdog(cfg.HangTimeout/2, os.Stderr))
	}
	w.group = sched.NewGroup(cfg.Cores, opts...)

	for a, spec1 := range cfg.Listen {
		fds := spec.Listeners[a]
		var ls []*netio.Listener
		// The *os.Files own the inherited descriptors: closing them (not
		// the numbers) keeps their finalizers from closing a number a
		// connection has been given since.
		files := make(map[int]*os.File)
		for c := range cfg.Cores {
			fd := fds[0]
			if !spec.Shared[a] {
				if len(fds) != cfg.Cores {
					return fmt.Errorf("listener %q: %d sockets for %d schedulers", spec1.name(), len(fds), cfg.Cores)
				}
				fd = fds[c]
			}
			f := files[fd]
			if f == nil {
				f = os.NewFile(uintptr(fd), spec1.name())
				files[fd] = f
			}
			lc := netio.ListenConfig{Exclusive: spec.Shared[a]}
			l, err := lc.FileListener(w.group.Scheduler(c), f)
			if err != nil {
				return err
			}
			ls = append(ls, l)
			w.order = append(w.order, l)
		}
		for _, f := range files {
			f.Close() // the listeners hold duplicates
		}
		w.listeners[spec1.name()] = ls
	}

	// The lifeline: the master holds the other end of the socket pair,
	// so end of stream means it is gone, SIGKILL included. A goroutine
	// watches it, not a task: a worker whose schedulers are stuck must
	// still go.
	go w.readCtl(ctlFile)

	interval := heartbeatInterval(cfg)
	for c := range cfg.Cores {
		b := &pg.beats[c]
		w.group.Scheduler(c).Go(func() { heartbeat(b, interval) })
	}
	ran := make(chan error, 1)
	go func() { ran <- w.group.Run() }()

	serveErr := cfg.Serve(w)
	w.drain(false, false)
	w.group.Stop()
	if err := <-ran; err != nil && !errors.Is(err, sched.ErrInterrupted) {
		cfg.Logger.Printf("prefork: worker %d (slot %d): schedulers: %v", os.Getpid(), spec.Slot, err)
	}
	return serveErr
}

// heartbeatInterval is how often the schedulers beat: often enough for
// the master to see a stop well within HangTimeout.
func heartbeatInterval(cfg *Config) time.Duration {
	if cfg.HangTimeout <= 0 {
		return time.Second
	}
	return min(max(cfg.HangTimeout/5, 10*time.Millisecond), time.Second)
}

// heartbeat runs as a task on each scheduler of a worker: a timer that
// fires only while the scheduler's loop turns, and a store the master
// reads. It also publishes the thread's CPU time (getrusage on the
// scheduler's own thread) for the adaptive pool.
func heartbeat(b *beat, interval time.Duration) {
	for {
		var ru unix.Rusage
		if unix.Getrusage(unix.RUSAGE_THREAD, &ru) == nil {
			ns := (ru.Utime.Nano() + ru.Stime.Nano())
			b.cpuNs.Store(uint64(ns))
		}
		b.n.Add(1)
		if sched.Sleep(interval) != nil {
			return // the group is stopping
		}
	}
}

// stopLater is a graceful stop after Config.StopDelay: the worker serves
// on, Draining, for the balancer in front to notice, then drains. A
// msgStop meanwhile (an immediate stop) still acts at once.
func (w *Worker) stopLater() {
	w.draining.Store(true)
	if w.cfg.StopDelay <= 0 {
		w.drain(false, false)
		return
	}
	time.AfterFunc(w.cfg.StopDelay, func() { w.drain(false, false) })
}

// readCtl reads the master's orders until the master goes away.
func (w *Worker) readCtl(f *os.File) {
	buf := make([]byte, 64)
	for {
		n, err := f.Read(buf)
		if err != nil || n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				err = errors.New("its end of the lifeline closed")
			}
			w.logger.Printf("prefork: worker %d (slot %d): the master is gone (%v); exiting", os.Getpid(), w.slot, err)
			os.Exit(1)
		}
		switch string(buf[:n]) {
		case msgDrain:
			w.drain(w.cfg.ReloadImmediate, false)
		case msgRetire:
			w.drain(false, true)
		case msgStopLater:
			w.stopLater()
		case msgStop:
			w.drain(true, false)
		case msgDump:
			w.dump()
			w.send(msgDumped)
		}
	}
}

// dump writes what the worker is doing to stderr (the pool's log): each
// scheduler's tasks, for those that answer, and the stacks of every
// goroutine — those of a stuck scheduler's task among them.
func (w *Worker) dump() {
	var b strings.Builder
	fmt.Fprintf(&b, "prefork: worker %d (slot %d, generation %d): dump requested by the master\n", os.Getpid(), w.slot, w.gen)
	for i := range w.group.Len() {
		s := w.group.Scheduler(i)
		fmt.Fprintf(&b, "scheduler %d heartbeats: %d\n", i, w.page.beats[i].n.Load())
		done := make(chan string, 1)
		go func() {
			var sb strings.Builder
			s.Dump(&sb)
			done <- sb.String()
		}()
		select {
		case d := <-done:
			b.WriteString(d)
		case <-time.After(200 * time.Millisecond):
			fmt.Fprintf(&b, "%s: not responding (its thread is held by a task; see the stacks below)\n", s)
		}
	}
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	b.WriteString("goroutines:\n")
	b.Write(buf)
	b.WriteString("\nprefork: end of dump\n")
	os.Stderr.WriteString(b.String())
}

// waitQueuesEmpty waits, up to limit, until no listener of w has a
// connection queued: a retiring slot's sockets are closed after its
// worker, and whatever is queued in them then is reset.
func (w *Worker) waitQueuesEmpty(limit time.Duration) {
	deadline := time.Now().Add(limit)
	pfds := make([]unix.PollFd, len(w.order))
	for time.Now().Before(deadline) {
		for i, l := range w.order {
			pfds[i] = unix.PollFd{Fd: int32(l.FD().Sysfd()), Events: unix.POLLIN}
		}
		n, err := unix.Poll(pfds, 0)
		if err == nil && n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pollable wraps a socket descriptor in a non-blocking *os.File that the
// runtime's poller serves.
func pollable(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("setnonblock", err)
	}
	return os.NewFile(uintptr(fd), name), nil
}
