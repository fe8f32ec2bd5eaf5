package sched

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// A Group is n schedulers, each on its own locked OS thread: the "multiple
// instances of the event loop" with which an event-driven server uses
// several cores. Tasks of different schedulers run in parallel and must
// share memory as goroutines do (channels, sync, atomics, or Scheduler.Go
// and Inbox to hand work to another scheduler); tasks of one scheduler
// still need no locks among themselves.
//
// Sharing state across the schedulers: best not at all — partition it, one
// table per scheduler (Scheduler.Group gives its index), with one SO_REUSEPORT
// listener each (netio.ListenGroup) so that a connection stays on one
// scheduler. What must be shared is shared as between goroutines: atomics,
// a sync.Mutex held for a few instructions and never across a blocking
// call (a task that blocks holding it stalls the tasks of its own thread
// that want it, and deadlocks them), or messages: Scheduler.Go, Do and
// Inbox hand work to the scheduler that owns the state, at the price of a
// cross-thread wake-up (see Do). examples/port/README.md walks through it.
//
// Each scheduler's thread holds one of the Go runtime's processors (Ps)
// while it runs, and also for the first 10 ms of each sleep (the poller
// sleeps that long out of the runtime's sight, rawSleepMax in spin.go,
// so that a Group with no idle P does not have its Ps taken and given
// back at every sleep). With as many schedulers as GOMAXPROCS, the
// process's other goroutines (a signal handler, an admin HTTP server,
// the callers of Do) then run when a scheduler gives the runtime its
// scheduling point (every 2 ms under load) or sleeps longer: beside a
// Group of 2 at GOMAXPROCS=2 whose tasks wake every 2 ms, a plain
// goroutine's 1 ms time.Sleep overslept 1.08 ms at the median (3.2 ms at
// most), and 70-80 µs with GOMAXPROCS=3. Leave a P free
// (GOMAXPROCS = schedulers + 1) where those goroutines' latency matters.
//
// A Group runs until every task of every scheduler has finished (a task
// may hand work to another scheduler at any time, so no scheduler stops
// while the group has work), or until Stop; with WithKeepAlive, until Stop.
type Group struct {
	scheds []*Scheduler
	live   atomic.Int64 // tasks of all schedulers started and not finished
	keep   bool
	next   atomic.Uint32
	state  atomic.Int32
}

// NewGroup returns a group of n schedulers configured by opts. Each
// scheduler is named "NAME-i" (WithName) or "group-i".
func NewGroup(n int, opts ...Option) *Group {
	if n <= 0 {
		panic(fmt.Sprintf("sched: NewGroup with %d schedulers", n))
	}
	g := &Group{scheds: make([]*Scheduler, n)}
	for i := range g.scheds {
		s := New(opts...)
		g.keep = s.opts.keepAlive
		base := s.opts.name
		if base == "" {
			base = "group"
		}
		s.label = fmt.Sprintf("%s-%d", base, i)
		// Each scheduler waits for work from the others; the group stops
		// them all when its last task ends.
		s.opts.keepAlive = true
		s.group = g
		g.scheds[i] = s
	}
	return g
}

// Len returns the number of schedulers.
func (g *Group) Len() int { return len(g.scheds) }

// Scheduler returns the i-th scheduler, 0 ≤ i < Len().
func (g *Group) Scheduler(i int) *Scheduler { return g.scheds[i] }

// Schedulers returns the group's schedulers in index order, in a new slice
// (a netio.Server serves on such a list).
func (g *Group) Schedulers() []*Scheduler { return slices.Clone(g.scheds) }

// Go starts fn on the group's schedulers in turn (round robin) and returns
// its task.
func (g *Group) Go(fn func()) *Task {
	if len(g.scheds) == 0 {
		panic("sched: Group.Go: Group used without NewGroup")
	}
	i := int(g.next.Add(1)-1) % len(g.scheds)
	return g.scheds[i].Go(fn)
}

// Run runs every scheduler of g on its own goroutine and OS thread and
// returns when all have returned: the errors of their Runs, joined. A
// scheduler whose Run returns an error (its poller or its CPUs could not
// be set up, see WithCPUs) stops the others. If a
// task panics (with no panic handler), every scheduler is stopped and Run
// panics with that task's *PanicError once all have returned.
func (g *Group) Run() error {
	if !g.state.CompareAndSwap(stateIdle, stateRunning) {
		return errors.New("sched: Group.Run called twice")
	}
	defer g.state.Store(stateFinished)
	if !g.keep && g.live.Load() == 0 {
		g.Stop()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(g.scheds))
	panics := make([]any, len(g.scheds))
	for i, s := range g.scheds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exited := true
			defer func() {
				if p := recover(); p != nil {
					panics[i] = p
				} else if exited {
					panics[i] = fmt.Errorf("sched: a task of %s called runtime.Goexit", s)
				}
				if panics[i] != nil {
					g.Stop()
				}
			}()
			errs[i] = s.Run()
			exited = false
			if errs[i] != nil {
				// A scheduler that could not start (its poller, its
				// CPUs) or failed: its share of the group's work would
				// wait for it forever.
				g.Stop()
			}
		}()
	}
	wg.Wait()
	for _, p := range panics {
		if p != nil {
			panic(p)
		}
	}
	return errors.Join(errs...)
}

// Stop stops every scheduler of g (see Scheduler.Stop). It may be called
// from any goroutine.
func (g *Group) Stop() {
	for _, s := range g.scheds {
		s.Stop()
	}
}

// taskStarted and taskEnded keep the group's count of live tasks; the
// group stops when it drops to zero. A group kept alive (WithKeepAlive)
// never stops by it, and keeps no count: a server's group would pay two
// locked instructions on a line all its threads share for every task, a
// ready-mode request's included.
func (g *Group) taskStarted() {
	if !g.keep {
		g.live.Add(1)
	}
}

func (g *Group) taskEnded() {
	if !g.keep && g.live.Add(-1) == 0 {
		g.Stop()
	}
}
