package sched

import (
	"context"
	"fmt"
	"log"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopgo/coop/asm"
	"github.com/coopgo/coop/internal/coro"
	"github.com/coopgo/coop/internal/gmap"
)

type worker = coro.Coro[*Task]

// pollEvery bounds how many tasks may run, switching directly from one to
// the next, before the host loop polls for I/O, timers and the inbox
// again, so that a few busy tasks cannot starve the rest (the runtime's
// scheduler checks its global queue every 61 ticks for the same reason).
const pollEvery = 61

// Scheduler states, in Scheduler.state.
const (
	stateIdle     = iota // not yet running
	stateRunning         // in Run
	stateFinished        // Run has returned
)

// A Scheduler runs tasks on one OS thread, switching only when a task
// blocks or yields. Create one with New; it starts running with Run. A
// zero Scheduler is not usable: asked to run or to take work (Run, Go,
// Do, Register, a timer...) it panics with a message that says so.
type Scheduler struct {
	// Owned by the scheduler thread: the host loop and the running task.
	grp         coro.Group[*Task]
	cur         *Task // the running task; nil while the host loop runs
	runq        taskList
	all         taskList // every live task, for Stop, Dump and deadlock reports
	timers      timerHeap
	poller      poller
	fds         []*FD // registered descriptors, by descriptor number
	nFDs        int
	nHooks      int // armed descriptor hooks: work that an event will start
	nFuncs      int // pending AfterFuncs: work that a timer will start
	fdSeq       uint32
	pollReady   bool // poller initialized
	pollErr     error
	nTasks      int        // live tasks
	nExternal   int        // blocked tasks that an event from outside can wake
	sinceHost   int        // tasks run since the host loop last polled
	polledEmpty bool       // a task's poll (pollHere) just found nothing: wait need not poll again before it sleeps
	hookPanic   *hookPanic // a hook run by a worker's poll panicked: the host loop raises it (pollWorker)
	idNext      uint64     // the last task number given from the block taken (nextID)
	idEnd       uint64     // the block's last number
	lastGosched int64      // real clock (ns since base) of the last yieldToRuntime
	clockStale  bool       // a poll found work since the clock was last read (polledWork)
	clockPolls  int        // polls that found work since the clock was last read
	polledAt    int64      // the timers' clock: every event that came before it has been reported (polled)
	fullSince   int64      // the clock before the first of the full polls in a row (polled)
	fullPolls   int        // full polls in a row
	vnow        int64      // virtual clock, ns since the virtual start
	stopping    bool
	panicErr    *PanicError
	freeTasks   *Task // ended Spawn tasks, for reuse (linked by next)
	nFree       int
	stats       counters
	offload     offloadPool
	bufs        BufferPool
	spin        window    // how long to spin for work from other threads before sleeping (spin.go)
	freeDo      *doRunner // for Do from tasks of other schedulers (call.go)

	inboxSpare []inboxItem // the previous inbox, reused (under mu)

	// Shared with other goroutines. The inbox's fields share one cache
	// line, and no line with the fields above, which the thread writes
	// all the time: a hand-off from another thread moves this line and
	// the items' between the two cores, and nothing else (post.go).
	_        [64]byte
	mu       sync.Mutex
	inboxN   atomic.Int32  // len(inbox), readable without the lock; not 0: senders use the overflow
	sleeping atomic.Uint32 // awake, asleep (in or about to enter the poller) or woken (post.go)
	state    atomic.Int32  // stateIdle, stateRunning, stateFinished
	inbox    []inboxItem   // the overflow, when ring is full
	_        [64 - 8 - 4 - 4 - 4 - 4 - 24]byte
	ring     ring[inboxSlot] // the inbox (post.go)

	stopReq atomic.Bool
	host    atomic.Uintptr // asm.G of the goroutine in Run
	now     atomic.Int64   // the real clock at the last poll, ns since base (see Now); written by the thread
	ids     atomic.Uint64  // task numbers, given by Go
	wd      watchdogState

	// Hand-offs from other threads (post.go, call.go).
	wakeups  atomic.Uint64 // poller wake-ups written by other threads
	callSpin atomicWindow  // how long goroutines in Do and exec spin for the reply

	opts   options
	base   time.Time // real clock origin (monotonic)
	label  string
	labels context.Context // pprof labels of the worker goroutines
	group  *Group          // nil unless s belongs to a Group
}

// byG maps the goroutine of each live worker to it, for the package-level
// calls (Current, Yield, Sleep, Now) that must find the caller's task
// without being handed it. Workers are pooled, so entries change rarely.
var byG gmap.Map[worker]

var schedIDs atomic.Uint64

// New returns a scheduler configured by opts. It does not run until Run.
func New(opts ...Option) *Scheduler {
	s := &Scheduler{opts: defaultOptions(), base: time.Now()}
	s.bufs.s = s
	s.ring.init(inboxRing)
	s.ring.ownLines = true
	for _, o := range opts {
		o(&s.opts)
	}
	id := schedIDs.Add(1)
	s.label = s.opts.name
	if s.label == "" {
		s.label = "sched-" + strconv.FormatUint(id, 10)
	}
	if s.opts.logger == nil {
		s.opts.logger = log.Default()
	}
	s.offload.init(s.opts.offloadLimit)
	return s
}

// String returns the scheduler's name.
func (s *Scheduler) String() string { return s.label }

// mustBeNew panics, naming the call what, unless s was made by New (which
// always sets a label). A zero Scheduler has no inbox, options or clock
// origin; rather than fail deep inside, or half work (a descriptor
// registered with a scheduler that cannot run), each entry point that
// would reach them checks first, where it already does work off a task's
// path: Run, Do, Go and Spawn from outside, the calls that hand work to
// the thread (exec), the timers' constructors, Buffers and NewInbox. A
// zero Scheduler's cheap accessors (String, Now, Current, OnThread, Group,
// Stop) work as on a scheduler that has not run.
func (s *Scheduler) mustBeNew(what string) {
	if s == nil || s.label == "" {
		panicNotNew(s, what)
	}
}

func panicNotNew(s *Scheduler, what string) {
	if s == nil {
		panic("sched: " + what + " with nil Scheduler")
	}
	panic("sched: " + what + ": Scheduler used without New")
}

// Run locks the calling goroutine to its OS thread and runs tasks until
// every task has finished, no descriptor hook is armed (see
// FD.SetReadHook) and no AfterFunc is pending, then returns nil. With WithKeepAlive it runs
// until Stop. Run returns an error matching ErrDeadlock if tasks remain
// that nothing can wake, after unwinding them. If a task panics and no
// panic handler is set, Run unwinds the other tasks and panics with the
// task's *PanicError. If a task calls runtime.Goexit, Run unwinds the
// other tasks and the goroutine that called Run exits.
//
// A Scheduler runs once: Run on a scheduler that is running or has run
// returns an error.
func (s *Scheduler) Run() (err error) {
	s.mustBeNew("Scheduler.Run")
	// s.mu excludes calls made under it before Run (exec) and wake-ups
	// (post), which must not touch a poller that is being created.
	s.mu.Lock()
	ok := s.state.CompareAndSwap(stateIdle, stateRunning)
	var err0 error
	if ok {
		err0 = s.initPoller()
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("sched: Run called twice on %s", s)
	}
	// The lock must come before any coroutine is made: the runtime
	// requires a coroutine to be resumed with the thread-lock state of the
	// goroutine that created it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	awake.Add(1)
	defer awake.Add(-1)
	if err0 != nil {
		s.finish()
		return err0
	}
	restore, err0 := s.pinThread()
	if err0 != nil {
		s.finish()
		s.poller.close()
		return err0
	}
	if restore != nil {
		// Deferred after the unlock, so run before it: the thread goes
		// back to the runtime with the CPUs it had.
		defer s.unpinThread(restore)
	}
	s.host.Store(asm.G())
	hosts.Store(asm.G(), s)
	defer hosts.Delete(asm.G())
	s.labels = pprof.WithLabels(context.Background(), pprof.Labels("coop.sched", s.label))
	s.grp.Init((*engine)(s))
	s.grp.Enter = s.enterWorker
	s.grp.Leave = func(w *worker) { byG.Delete(w.G) }
	if s.opts.watchdog > 0 {
		s.startWatchdog()
	}
	defer func() {
		// Also on the way out of a panic or a Goexit of the host: every
		// task is unwound and every descriptor released.
		s.grp.End()
		s.stopWatchdog()
		s.finish()
		if s.pollReady {
			s.poller.close()
		}
	}()
	err = s.loop()
	s.grp.End()
	if s.grp.Goexiting() != nil {
		runtime.Goexit()
	}
	if s.panicErr != nil {
		panic(s.panicErr)
	}
	return err
}

// initPoller creates the poller on first need: the first Register (which
// may come before Run) or Run. It runs on the scheduler thread or under
// s.mu before Run.
func (s *Scheduler) initPoller() error {
	if !s.pollReady && s.pollErr == nil {
		s.pollErr = s.poller.init()
		s.pollReady = s.pollErr == nil
	}
	return s.pollErr
}

// finish marks the scheduler finished and fails whatever other goroutines
// queued for it since.
func (s *Scheduler) finish() {
	s.mu.Lock()
	s.state.Store(stateFinished)
	items := s.closeInbox()
	s.mu.Unlock()
	s.abandonRing()
	for _, it := range items {
		it.abandon()
	}
	s.offload.close()
}

func (s *Scheduler) enterWorker(w *worker) {
	byG.Store(w.G, w)
	pprof.SetGoroutineLabels(s.labels) // one labelled context per scheduler, shared
	if s.wd.enabled {
		s.wd.recordGoid(w)
	}
}

// loop is the host: it runs tasks, and when none is runnable it waits in
// the poller for descriptors, timers and the inbox.
//
// The clock is read when the loop polls (see tick and polledWork): the
// sleeping poll's timeout uses that reading, and the tasks' Now a reading
// taken after the last poll. The timers go by the clock as it stood at
// the last poll that saw all input (timerNow): a task that held the
// thread past a deadline and then read the clock does not make the
// deadline fire before the poll that reports the input that came in time.
func (s *Scheduler) loop() error {
	s.tick()
	polled := true
	for {
		if s.inboxReady() {
			s.drainInbox()
		}
		if s.stopReq.Load() && !s.stopping {
			s.stopAll()
		}
		s.runTimers()
		if s.runq.empty() {
			if s.nTasks == 0 && s.nHooks == 0 && s.nFuncs == 0 && !s.opts.keepAlive && s.inboxEmpty() {
				return nil
			}
			if s.nTasks == 0 && s.stopping {
				return nil
			}
			if err := s.checkDeadlock(); err != nil {
				return err
			}
			if err := s.wait(); err != nil {
				return err
			}
			polled = true
			continue
		}
		if !polled {
			if s.nFDs > 0 {
				// Tasks ran pollEvery in a row and more are runnable:
				// look at the descriptors without sleeping, so I/O
				// keeps flowing. (Timers and the inbox need no system
				// call.)
				if err := s.pollNow(0); err != nil {
					return err
				}
			} else {
				s.tick() // with no descriptor there is nothing to poll
			}
		}
		polled = false
		t := s.runq.pop()
		s.sinceHost = 0
		s.polledEmpty = false
		s.runFromHost(t)
		if hp := s.hookPanic; hp != nil {
			s.hookPanic = nil
			panic(hp.v)
		}
		if s.panicErr != nil || s.grp.Goexiting() != nil {
			return nil
		}
		s.yieldToRuntime()
	}
}

// goschedEvery is how often a busy scheduler gives the Go runtime a
// scheduling point.
const goschedEvery = 2 * time.Millisecond

// yieldToRuntime calls runtime.Gosched when the scheduler has been busy
// for goschedEvery. Switches between tasks are coroutine switches, which
// the runtime does not count as scheduling: to its monitor thread (sysmon)
// a busy scheduler looks like one goroutine that never yields, so every
// 10 ms it preempts it with a signal, and it keeps waking every 20 µs on
// the scheduler's own CPU meanwhile. A voluntary Gosched every few ms
// costs a thread hand-off or two and keeps the monitor asleep: in the
// http example's measurements it cut the monitor's context switches from
// 0.11 to 0.02 per request, and the server's CPU per request by a fifth.
func (s *Scheduler) yieldToRuntime() {
	now := s.now.Load()
	if now-s.lastGosched < int64(goschedEvery) {
		return
	}
	s.lastGosched = now
	runtime.Gosched()
}

// runFromHost switches from the host loop to t and returns when some task
// switches back to the host.
func (s *Scheduler) runFromHost(t *Task) {
	w := t.w
	if w == nil {
		w = s.attach(t)
	}
	t.state = taskRunning
	s.cur = t
	s.stats.switches++
	s.wd.note(s)
	s.prefetchNext()
	if s.grp.Ending {
		s.grp.Switch(w)
		return
	}
	// Group.Switch written out, as in block: the frames alive across a
	// coroutine switch are returns the CPU mispredicts when the host is
	// resumed, so none sits between here and coroswitch. The host never
	// exits during End (Resumed is false for it), and End is called only
	// by the host, so nothing is left to check when the switch returns.
	from := s.grp.Prepare(w)
	if sl := from.In(); sl.Pending() {
		sl.Yield()
	} else {
		sl.Next()
	}
}

// wait sleeps in the poller until the next timer, a descriptor event or a
// wake-up from another goroutine. With virtual time, it jumps the clock to
// the next timer instead, unless only the outside world can make progress.
func (s *Scheduler) wait() error {
	next := s.timers.next()
	if s.opts.virtual && next != nil && !s.timersCanWake() {
		// Only ticks that no task waits for: the clock does not jump to
		// them (a jump would find nothing to run, and the next one
		// again, for ever); only the outside world can make progress.
		next = nil
	}
	// Offloads in flight hold the virtual clock: they finish by
	// themselves, and letting time jump past them would make a run depend
	// on how fast they are.
	if s.opts.virtual && next != nil && s.offload.n == 0 {
		// Pick up what is already there, then jump.
		if err := s.pollNow(0); err != nil {
			return err
		}
		if s.runq.empty() && s.inboxEmpty() {
			if next.when > s.vnow {
				s.vnow = next.when
			}
		}
		return nil
	}
	if next != nil && !s.opts.virtual && next.when <= s.now.Load() {
		// Due by the clock, which a task read, but not by the last poll
		// that saw all input (runTimers): look at the descriptors, without
		// sleeping, before it fires. That poll is as of the reading, which
		// makes the timer due.
		return s.pollNow(0)
	}
	timeout := int64(-1)
	if next != nil {
		timeout = max(next.when-s.nanotime(), 0)
	}
	if s.polledEmpty {
		// The task that parked last polled without sleeping and found
		// nothing (pollHere); nothing ran since.
		s.polledEmpty = false
		if timeout != 0 && next != nil {
			s.tick()
			timeout = max(next.when-s.nanotime(), 0)
		}
	} else if timeout != 0 && s.nFDs > 0 {
		// Under load the next events are usually there already: a
		// non-blocking poll, a raw system call, finds them without the
		// runtime's syscall bookkeeping, and without giving its monitor a
		// blocked thread to take the processor from (as the hand-written
		// epoll loop of the study does). Only if it finds nothing to run
		// does the thread sleep.
		hooks := s.stats.hooks
		s.stats.polls++
		before := s.now.Load()
		saw, err := s.poller.wait(s, 0)
		if err != nil {
			s.tick()
			return err // an *os.SyscallError of the poller's system call
		}
		s.polled(before, saw)
		if !s.runq.empty() || s.stats.hooks != hooks {
			// Hooks that ran may have ended the last work or set an
			// earlier timer: the loop looks again before anyone sleeps.
			s.polledWork()
			return nil
		}
		// Nothing came: the clock is read here only if a timer needs the
		// fresh reading for the sleep's timeout. Otherwise the sleeping
		// poll below reads it when it returns, and nothing in between
		// looks at it: one clock read (20-40 ns) less per sleep, which
		// a server at moderate load pays for about every request.
		if next != nil {
			s.tick()
			timeout = max(next.when-s.nanotime(), 0) // by the fresh clock
		}
	}
	if timeout != 0 {
		// Work from other threads may be on its way: watch for it a
		// little before sleeping, which would cost the sender a system
		// call and this thread a wake-up.
		if found, err := s.spinIdle(timeout); found || err != nil {
			return err
		}
		if next != nil {
			timeout = max(next.when-s.nanotime(), 0) // less the spin
		}
	}
	// sleeping and the inbox (a ring slot's sequence number, or inboxN)
	// are the two sides of a Dekker handshake with post: each side
	// stores its flag, then loads the other's, and at least one must see
	// the other's store. That needs store-to-load
	// order, which a plain atomic store does not give on every platform
	// Go runs on as Go's memory model promises it (under qemu-user, arm64's
	// STLR then LDAR runs as two plain x86 moves, and the store can pass
	// the load): both stores are read-modify-writes, full barriers
	// everywhere.
	s.stats.sleeps++ // each admits one wake-up (post's asleep → woken)
	s.sleeping.Swap(sleepAsleep)
	if s.inboxReady() || s.stopReq.Load() {
		timeout = 0
	}
	awake.Add(-1)
	err := s.pollNow(timeout)
	awake.Add(1)
	s.sleeping.Store(sleepAwake)
	return err
}

// pollNow asks the poller for events, waiting at most timeout ns (-1:
// forever), and readies the tasks waiting for them.
//
// A poll that may sleep ages the clock's reading by the sleep: what runs
// before the next reading (the hooks this poll runs, the tasks' Now, a
// deadline set) reads the clock on first need. After the sleep, the
// clock is read at once only if a timer is pending, which must fire by
// the time the sleep ended; otherwise nothing needs it until a task asks
// (Now) or the next reading (polledWork). A server with no timer pending
// paid a clock read for each sleep, about one per request at moderate
// load.
func (s *Scheduler) pollNow(timeout int64) error {
	s.stats.polls++
	if timeout != 0 {
		s.clockStale = true
	}
	before := s.now.Load()
	saw, err := s.poller.wait(s, timeout)
	if err != nil || (timeout != 0 && s.timers.len() > 0) {
		s.tick()
	} else {
		s.polledWork()
	}
	if err != nil {
		return err // an *os.SyscallError of the poller's system call
	}
	s.polled(before, saw)
	return nil
}

// polled moves the timers' clock (timerNow) after a poll that began with
// the clock's reading at before, by what the poll saw: everything that
// came before it began (seenAtStart), or before it returned, having slept
// its timeout with nothing coming (seenAtEnd: then the reading taken
// since, if any, counts); or, for a full batch (seenPartly), nothing yet:
// the events left are reported ahead of later ones by the next polls, and
// once the full polls in a row have taken as many events as the kernel
// can hold pending, they have reported all that was pending when the
// first began. Under a load that fills every batch the timers' clock
// thus lags by that many polls (nFDs/eventBatch), and never stops.
//
// It costs the hot path a load before the poll and a store after: no
// clock read (a reading taken after a poll that found work counts only
// as of the poll's start, which the reading before already bounds).
func (s *Scheduler) polled(before int64, saw seen) {
	switch saw {
	case seenAtStart:
		s.polledAt, s.fullPolls = before, 0
	case seenAtEnd:
		s.polledAt, s.fullPolls = s.now.Load(), 0
	default:
		if s.fullPolls == 0 {
			s.fullSince = before
		}
		s.fullPolls++
		if s.fullPolls*eventBatch >= (s.nFDs+1)*eventsPerFD {
			// The wake-up's entry counts as one descriptor's.
			s.polledAt = s.fullSince
			s.fullSince, s.fullPolls = before, 1
		}
	}
}

// fdOf returns the FD registered for descriptor fd, or nil.
func (s *Scheduler) fdOf(fd int32) *FD {
	if fd < 0 || int(fd) >= len(s.fds) {
		return nil
	}
	return s.fds[fd]
}

// event is called by the poller for each descriptor event.
// hup says the event reports a hang-up or error (EPOLLRDHUP, EPOLLHUP,
// EPOLLERR, EV_EOF): the descriptor stays readable from then on.
func (s *Scheduler) event(fd int32, seq uint32, read, write, hup bool) {
	f := s.fdOf(fd)
	if f == nil || f.seq != seq {
		return // closed, or a stale event for a reused descriptor
	}
	if read {
		f.rd.ready = true
		f.rd.hup = f.rd.hup || hup
		if !f.rd.waiters.empty() {
			s.wakeAll(&f.rd, nil)
		} else if f.rd.hook != nil {
			f.runHook(&f.rd, nil)
		}
	}
	if write {
		f.wr.ready = true
		if !f.wr.waiters.empty() {
			s.wakeAll(&f.wr, nil)
		} else if f.wr.hook != nil {
			f.runHook(&f.wr, nil)
		}
	}
}

// runTimers fires every timer that is due by the timers' clock.
func (s *Scheduler) runTimers() {
	if s.timers.len() == 0 {
		return
	}
	now := s.timerNow()
	for {
		t := s.timers.next()
		if t == nil || t.when > now {
			return
		}
		s.timers.stop(t)
		t.owner.fire(t.arg)
	}
}

// nanotime is the scheduler clock: ns since the scheduler was made, as
// read at the last poll, or virtual ns since the virtual start. On the
// scheduler thread only.
func (s *Scheduler) nanotime() int64 {
	if s.opts.virtual {
		return s.vnow
	}
	return s.now.Load()
}

// timerNow is the clock the timers are judged by: the real clock as it
// stood when the scheduler last looked at its descriptors and saw all
// their input (polled), so that a timer due at D fires only after a poll
// at or after D has reported what came before D. A task that holds the
// thread past D and then reads the clock (Sleep, a timeout, Yield, Now)
// moves nanotime past D before any poll; then the host loop polls without
// sleeping (wait) before the timer fires, and the input that came in time
// wins over it. With no descriptor registered there is no input to wait
// for, and the timers follow nanotime; the virtual clock is its own.
func (s *Scheduler) timerNow() int64 {
	if s.opts.virtual {
		return s.vnow
	}
	if s.nFDs == 0 {
		return s.now.Load()
	}
	return s.polledAt
}

// freshNanotime is nanotime read from the clock now, for what must not
// start early by the age of the last reading (Sleep, timeouts): it also
// refreshes the reading. On the scheduler thread only.
func (s *Scheduler) freshNanotime() int64 {
	if s.opts.virtual {
		return s.vnow
	}
	s.tick()
	return s.now.Load()
}

// tick reads the real clock into s.now, on the scheduler thread: after
// each poll that slept while a timer was pending, and every clockEvery
// other polls (polledWork). Reading the clock costs a vDSO call
// (about 20 ns here), and a request-response session asked for it
// several times a request: for its deadlines, for its timers, for every
// pass of the host loop.
func (s *Scheduler) tick() {
	s.stats.clockReads++
	s.now.Store(int64(time.Since(s.base)))
	s.clockStale = false
	s.clockPolls = 0
}

// clockEvery is how many polls that find work without sleeping may pass
// before the scheduler reads the clock for its timers.
const clockEvery = 8

// polledWork follows a poll that did not sleep, or slept with no timer
// pending (pollNow): under load, one poll per request or so. It reads
// the clock only every clockEvery such polls; in between it marks the
// reading stale, and the tasks' Now reads the clock at its first call
// after the poll (Scheduler.Now), so Now is exactly as fresh as when
// every poll read it, as is a deadline's check whether it has already
// passed (freshenedNanotime). What uses the stale reading is the
// scheduler's own bookkeeping, which a few polls' delay does not change:
// a timer that falls due without a sleep is found at the next reading,
// that many polls later at most (and a Sleep or timeout is still
// measured from a fresh reading: freshNanotime), and the runtime's
// Gosched (yieldToRuntime) comes as late. A ready-mode request paid a
// clock read on every poll (15-20 ns, with nothing reading the result).
func (s *Scheduler) polledWork() {
	s.clockPolls++
	if s.clockPolls >= clockEvery {
		s.tick()
		return
	}
	s.clockStale = true
}

// freshenedNanotime is nanotime, read from the clock first if a poll has
// left the reading stale (polledWork, pollNow): for a deadline's check
// whether it has already passed, which must not take the age of the
// reading for time still to come. On the scheduler thread only.
func (s *Scheduler) freshenedNanotime() int64 {
	if s.clockStale && !s.opts.virtual {
		s.tick()
	}
	return s.nanotime()
}

// clockOf converts a time to the scheduler clock. On virtual time, a time
// with a monotonic clock reading was derived from time.Now(): it is taken
// as its distance from the real now, rounded to the millisecond so that a
// deadline set at once lands where its code meant it to, and that far from
// the virtual now. Any other time is a point on the virtual clock.
func (s *Scheduler) clockOf(t time.Time) int64 {
	if s.opts.virtual {
		if hasMonotonic(t) {
			return s.vnow + int64(time.Until(t).Round(time.Millisecond))
		}
		return int64(t.Sub(s.opts.virtualStart))
	}
	return int64(t.Sub(s.base))
}

// hasMonotonic reports whether t carries a monotonic clock reading, as
// the times of time.Now and the times derived from them do: Round(0)
// strips the reading and leaves every other time unchanged.
func hasMonotonic(t time.Time) bool { return t != t.Round(0) }

// timeOf converts the scheduler clock to a wall time.
func (s *Scheduler) timeOf(ns int64) time.Time {
	if s.opts.virtual {
		return s.opts.virtualStart.Add(time.Duration(ns))
	}
	return s.base.Add(time.Duration(ns))
}

// Stop interrupts every task of s: their current and future blocking calls
// return ErrInterrupted. Run returns once they have all finished. Stop may
// be called from any goroutine, any number of times.
func (s *Scheduler) Stop() {
	s.stopReq.Store(true)
	if s.onThread() {
		if !s.stopping {
			s.stopAll()
		}
		return
	}
	s.wakeUp()
}

// stopAll interrupts every live task.
func (s *Scheduler) stopAll() {
	s.stopping = true
	for t := s.all.head; t != nil; t = t.allNext {
		s.interrupt(t)
	}
}

// OnThread reports whether the caller runs on s's thread with s's state
// at its disposal: a task of s, or s's host loop running a descriptor
// hook (FD.SetReadHook). Code that does not block, such as netio's
// TryWrite, may then act at once instead of handing its work to the
// thread with Do, which a hook must not call.
func (s *Scheduler) OnThread() bool { return s.onThread() }

// onThread reports whether the caller runs on s's thread: a task of s,
// the goroutine in s.Run, or a ucontext context hosted by either. It reads
// nothing another thread writes unsynchronized: s.cur must not be
// consulted before this says yes.
func (s *Scheduler) onThread() bool {
	if s.grp.Running(asm.G()) {
		return true // a task of s, or its host loop: the common case, without a lookup
	}
	if c := Current(); c != nil {
		return c.s == s
	}
	if s.state.Load() != stateRunning {
		return false
	}
	if s.host.Load() == asm.G() {
		return true
	}
	ts, _ := threadOf()
	return ts == s
}

// onHost reports whether the caller runs s's host loop's work, outside any
// task: the goroutine in s.Run, or a worker between tasks polling for it
// (pollWorker), running poller events and hooks.
func (s *Scheduler) onHost() bool {
	g := asm.G()
	if s.grp.Running(g) {
		// The host loop, or a worker between tasks running hooks for
		// it (pollWorker); a worker's task is not the host.
		return s.grp.Cur.Data == nil && s.state.Load() == stateRunning
	}
	return s.host.Load() == g && s.state.Load() == stateRunning
}

// checkDeadlock returns a *DeadlockError when tasks remain, none is
// runnable and nothing can wake one: no timer that can (a Ticker or Timer
// no task waits on cannot: timersCanWake), no descriptor or other
// outside event awaited, no task bound to a context that can still end
// (context.go), no keep-alive. The package doc's "Deadlock reports" is
// the contract. It cannot see a wake-up that only a
// goroutine holding a *Task can send (Interrupt, Go on a task's behalf):
// those must come through what it can see (an Inbox, a context).
func (s *Scheduler) checkDeadlock() error {
	if s.nTasks == 0 || s.nExternal > 0 || s.nHooks > 0 || s.opts.keepAlive || !s.runq.empty() {
		return nil
	}
	if s.timers.len() > 0 && s.timersCanWake() {
		return nil
	}
	if !s.inboxEmpty() || s.contextCanWake() {
		return nil
	}
	e := &DeadlockError{}
	for t := s.all.head; t != nil; t = t.allNext {
		e.Tasks = append(e.Tasks, t.describe())
	}
	return e
}

// errNotOnThread is the panic message for scheduler-thread-only calls.
func errNotOnThread(what string) string {
	return "sched: " + what + " must be called from a task of its scheduler"
}
