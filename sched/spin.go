package sched

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/coopgo/coop/internal/spin"
)

// Spin-then-park: how a hand-off between threads avoids a sleep.
//
// A hand-off to a thread asleep in epoll_pwait or a futex costs the
// sender a system call and the receiver a wake-up, and on a virtual
// machine whose idle vCPUs halt, the wake-up alone takes 20–35 µs. Go's
// own runtime avoids it by keeping an M spinning for a while before it
// sleeps (findRunnable). coop does the same on both sides of a hand-off:
//
//   - a scheduler that saw work from another thread recently polls its
//     inbox for a short window before it sleeps in the poller (spinIdle),
//     and a sender writes the wake-up (eventfd, EVFILT_USER) only when
//     the scheduler has gone to sleep, once per burst;
//   - a goroutine waiting for a scheduler (Scheduler.Do, and the calls
//     on its descriptors) or for an XChan polls its reply for a window
//     before it parks (parker), and a task or goroutine waiting on a
//     buffered XChan watches its ring (spinUntil).
//
// Each window adapts to the traffic (window): it opens when work comes
// from another thread, grows to cover the gaps that a spin saw end, and
// halves each time a spin ends with nothing, closing below spinMin. So
// when traffic stops a scheduler spins at most spinMax·2 (the sum of the
// halving windows) and then sleeps at no cost, and a scheduler that gets
// a message now and then spends at most spinStart+spinStart/2+... after
// each, which is about what the system call and the wake-up it replaces
// cost.
//
// Spinning holds a processor (a P of the Go runtime) that other
// goroutines could use, for at most one window. It is never done when
// GOMAXPROCS is 1 (the thread the spinner waits for would need that very
// processor), nor by a scheduler while more scheduler threads are awake
// than there are processors (they would queue for a P behind it).
//
// A spin also holds its CPU, and the kernel may have placed the thread it
// waits for on that same CPU (a new Group's threads often start so, and
// a server's scheduler shares a CPU with its clients): a spin that only
// paused would keep that thread from running for the whole window, and
// the kernel would see no two runnable threads to spread. So a spin that
// lasts past yieldAfter gives the CPU away (sched_yield) every
// yieldEvery: a system call that returns at once when nothing else waits
// for the CPU, and runs the waiting thread when something does.
const (
	spinStart = 8 * time.Microsecond  // a window opens at this
	spinMin   = 1 * time.Microsecond  // below this it closes
	spinMax   = 50 * time.Microsecond // it never grows past this
)

// window is an adaptive spin bound in ns; 0 means do not spin. Its
// methods are for one owner (a scheduler's host loop); atomicWindow is
// the same for many goroutines.
type window struct{ ns int64 }

// open opens a closed window: work came from another thread.
func (w *window) open() {
	if w.ns == 0 {
		w.ns = int64(spinStart)
	}
}

// hit records a spin that found work after waited ns: the window grows
// to twice that, so that the next such gap is covered too.
func (w *window) hit(waited int64) { w.ns = grow(w.ns, waited) }

// miss records a spin that found nothing: the window halves.
func (w *window) miss() { w.ns = shrink(w.ns) }

func grow(cur, waited int64) int64 { return min(max(cur, 2*waited, int64(spinMin)), int64(spinMax)) }

func shrink(cur int64) int64 {
	cur /= 2
	if cur < int64(spinMin) {
		return 0
	}
	return cur
}

// atomicWindow is a window shared by the goroutines waiting on one
// object. Updates race benignly: the window is a hint.
type atomicWindow struct{ ns atomic.Int64 }

func (w *atomicWindow) load() int64 { return w.ns.Load() }

func (w *atomicWindow) open() {
	if w.ns.Load() == 0 {
		w.ns.Store(int64(spinStart))
	}
}

func (w *atomicWindow) hit(waited int64) {
	if cur := w.ns.Load(); grow(cur, waited) != cur {
		w.ns.Store(grow(cur, waited))
	}
}

func (w *atomicWindow) miss() {
	if cur := w.ns.Load(); cur != 0 {
		w.ns.Store(shrink(cur))
	}
}

// monoEpoch is the origin of monotime.
var monoEpoch = time.Now()

// monotime is a monotonic clock in ns, for measuring spins.
func monotime() int64 { return int64(time.Since(monoEpoch)) }

// procs is runtime.GOMAXPROCS(0), read again at most every procsEvery:
// the runtime takes a global lock to answer.
var (
	procsN  atomic.Int32
	procsAt atomic.Int64 // monotime of the last read; 0: never read
)

const procsEvery = int64(100 * time.Millisecond)

func procs(now int64) int {
	if at := procsAt.Load(); at == 0 || now-at > procsEvery {
		procsAt.Store(now)
		procsN.Store(int32(runtime.GOMAXPROCS(0)))
	}
	return int(procsN.Load())
}

// awake counts scheduler threads that are running (not asleep in their
// poller), across the process: a scheduler spins only while there is a
// processor for every one of them.
var awake atomic.Int32

// pollSpinEvery is how often, in ns, a spinning scheduler with
// descriptors also polls them without blocking, so that I/O that arrives
// during a spin is served as soon as it would be after a sleep.
const pollSpinEvery = int64(2 * time.Microsecond)

// yieldEvery is how often, in ns, a spinner gives its CPU to another
// runnable thread (osYield), from yieldAfter ns into its spin on: when
// the thread it waits for was placed on its own CPU, a spin that only
// paused would keep that thread from running for the whole window.
const (
	yieldAfter = int64(3 * time.Microsecond)
	yieldEvery = int64(2 * time.Microsecond)
)

// waitYieldAfter is yieldAfter for a waiter that watches an XChan's ring
// (spinUntil from Send and Recv). When a new Group's two threads share
// one CPU, a stream fills the ring, and each side then spins while the
// other, on the same CPU, cannot run: with the first yield after
// yieldAfter, each lap of the ring spent 3 µs in each side's spin, and
// such runs took 64 ns per message against 17–41 ns with a CPU each (60
// runs of 20,000 messages, CPUs read with getcpu). The other side fills
// or frees a slot within ns while it runs, so a spin that has lasted
// 0.5 µs has found it not running.
const waitYieldAfter = int64(500 * time.Nanosecond)

// spinYield is a spin's schedule of yields (osYield): one after a delay
// (yieldAfter; waitYieldAfter for an XChan's waiters) into the spin, then
// one every yieldEvery. The three spins (spinIdle, parker.wait,
// spinUntil) each keep one.
type spinYield struct{ last int64 }

// startYields returns the schedule of a spin that started at start.
func startYields(start int64) spinYield { return yieldsFrom(start, yieldAfter) }

// yieldsFrom returns the schedule of a spin that started at start and
// yields first after ns.
func yieldsFrom(start, after int64) spinYield { return spinYield{start + after - yieldEvery} }

// at yields the CPU if one is due at now.
func (y *spinYield) at(now int64) {
	if now-y.last >= yieldEvery {
		y.yield(now)
	}
}

// yield is at's call when one is due, kept out of line so that at stays
// small enough to be inlined in each spin.
//
//go:noinline
func (y *spinYield) yield(now int64) {
	y.last = now
	osYield()
	if h := yieldSeen.Load(); h != nil {
		(*h)(now)
	}
}

// yieldSeen, if set, is called with the time of each yield of a spin
// (tests).
var yieldSeen atomic.Pointer[func(now int64)]

// spinIdle is the scheduler's spin before it sleeps: with nothing to run,
// it watches its inbox (and every pollSpinEvery its descriptors) for at
// most its window, or until the next timer is due within timeout ns (-1:
// none). It reports whether it found something to do; if not, the caller
// sleeps in the poller. Runs on the scheduler thread.
func (s *Scheduler) spinIdle(timeout int64) (bool, error) {
	win := s.spin.ns
	if win == 0 {
		return false, nil
	}
	start := monotime()
	if procs(start) < 2 || int(awake.Load()) > procs(start) {
		return false, nil
	}
	timerBound := timeout >= 0 && timeout < win
	if timerBound {
		win = timeout
	}
	s.stats.spins++
	lastPoll, now, yields := start, start, startYields(start)
	for {
		// Several looks per clock read: a look costs a few ns, a clock
		// read 20 to 40. The wait a hit records is the clock at the
		// last read: a few hundred ns short at most, off the hot path.
		for range 8 {
			if s.inboxReady() || s.stopReq.Load() {
				s.spin.hit(now - start)
				s.stats.spinHits++
				if now-start >= pollSpinEvery {
					s.tick() // the tasks' Now must not age by the spin
				}
				return true, nil
			}
			spin.Pause(1)
		}
		now = monotime()
		yields.at(now)
		if now-start >= win {
			if !timerBound {
				s.spin.miss()
			}
			s.tick()
			// A timer bound the spin: it is due now, which is work.
			return timerBound, nil
		}
		if s.nFDs > 0 && now-lastPoll >= pollSpinEvery {
			lastPoll = now
			hooks := s.stats.hooks
			if err := s.pollNow(0); err != nil { // reads the clock too
				return false, err
			}
			if !s.runq.empty() || s.stats.hooks != hooks {
				// I/O, not the inbox. The window is about work from
				// other threads, and this spin found none: it counts as
				// a miss, so that a server whose I/O comes in gaps
				// shorter than the window does not keep spinning
				// between requests once cross-thread traffic stops.
				// (Hooks that ran may have changed what the loop waits
				// for.)
				s.spin.miss()
				return true, nil
			}
		}
	}
}

// A parker is a goroutine (not a task) waiting for one event from
// another thread: the reply of a Scheduler.Do or exec, or an XChan
// operation. It
// spins for its window, then parks on a channel. The waker calls unpark
// exactly once per wait.
//
// state goes idle → notified (the waker came first, or during the spin),
// or idle → parked → notified (the waiter sleeps on ch and the waker
// sends on it). ch holds one token at most and is empty between waits, so
// a parker can be reused.
type parker struct {
	state atomic.Uint32
	ch    chan struct{}
}

const (
	parkIdle = iota
	parkParked
	parkNotified
)

// reset makes p ready for a wait; no waker may hold it.
func (p *parker) reset() {
	if p.ch == nil {
		p.ch = make(chan struct{}, 1)
	}
	p.state.Store(parkIdle)
}

// unpark ends the wait. The waker must not touch p afterwards: a waiter
// that sees parkNotified may reuse it at once.
func (p *parker) unpark() {
	if p.state.Swap(parkNotified) == parkParked {
		p.ch <- struct{}{}
	}
}

// wait blocks the calling goroutine until unpark, spinning for at most
// w's window first, and adapts w to what it saw.
func (p *parker) wait(w *atomicWindow) {
	if p.state.Load() == parkNotified {
		return
	}
	start := monotime()
	if win := w.load(); win > 0 && procs(start) > 1 {
		for now, yields := start, startYields(start); ; {
			for range 8 {
				if p.state.Load() == parkNotified {
					w.hit(now - start)
					return
				}
				spin.Pause(1)
			}
			if now = monotime(); now-start >= win {
				w.miss()
				break
			}
			yields.at(now)
		}
	}
	if p.state.CompareAndSwap(parkIdle, parkParked) {
		<-p.ch
		// The wake came from another thread: open the window for the
		// next wait, which will likely follow as quickly.
		w.open()
	}
}

// waitTimeout is wait with a limit: it reports false if d passed first.
// The caller must then withdraw p from wherever a waker could find it
// and, if a waker found it meanwhile, call finishTimeout.
func (p *parker) waitTimeout(w *atomicWindow, d time.Duration) bool {
	if p.state.Load() == parkNotified {
		return true
	}
	if !p.state.CompareAndSwap(parkIdle, parkParked) {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.ch:
		w.open()
		return true
	case <-t.C:
		return false
	}
}

// finishTimeout consumes the token of an unpark that raced with a
// timeout, so that p can be reused. The caller found, after waitTimeout
// returned false, that a waker had taken p: the waker saw parkParked (p
// never left it), so it sends, or has sent, one token.
func (p *parker) finishTimeout() { <-p.ch }

// taskSpinMax bounds a task's own spin (spinUntil): while a task spins,
// its scheduler polls no descriptor, so the spin is kept shorter than
// the scheduler's.
const taskSpinMax = int64(4 * time.Microsecond)

// A spinCond is what a spinning waiter watches: met reports that waiting
// is over (the ring has a value, or room; or it closed).
type spinCond interface{ met() bool }

// spinUntil spins the caller until cond is met, for at most w's window,
// and adapts w; it reports whether cond was met. It yields the CPU from
// after ns into the spin on (waitYieldAfter or yieldAfter). t is the calling task,
// or nil for a goroutine. A task spins only while nothing else of its
// scheduler could run: its run queue is empty and its inbox has nothing;
// it stops as soon as either changes. This is the spin-then-park of a
// waiter that can watch the very word it waits for (an XChan's ring),
// which costs the other side nothing: no lock, no wake-up.
func spinUntil[C spinCond](t *Task, w *atomicWindow, cond C, after int64) bool {
	win := w.load()
	if win == 0 {
		return false
	}
	var s *Scheduler
	if t != nil {
		s = t.s
		if !s.runq.empty() {
			return false
		}
		win = min(win, taskSpinMax)
	}
	start := monotime()
	if n := procs(start); n < 2 || int(awake.Load()) > n {
		return false
	}
	for now, yields := start, yieldsFrom(start, after); ; {
		for range 8 {
			if cond.met() {
				w.hit(now - start)
				return true
			}
			if s != nil && (s.inboxReady() || s.stopReq.Load()) {
				return false // the thread has other work
			}
			spin.Pause(1)
		}
		if now = monotime(); now-start >= win {
			w.miss()
			return false
		}
		yields.at(now)
	}
}

// rawSleepMax is how long, at most, a sleeping scheduler holds its
// thread's processor (a P of the Go runtime) out of the runtime's sight:
// as long as the runtime lets a goroutine run before it preempts it
// (10 ms, its forcePreemptNS).
//
// A wait that may block goes through the runtime's syscall path, which
// leaves the P with the thread; the runtime's monitor (sysmon) takes a P
// back from a thread it has seen in the same system call twice, if no
// other P is idle. A Group with as many schedulers as there are Ps (the
// study's coop-group row: two, GOMAXPROCS=2) has no idle P, so every
// sleep that spans two of the monitor's looks is taken from: a hand-off
// of the P to a spinning thread that finds nothing (a futex wake-up), and
// the sleeper's reacquiring it when it wakes. Worse, each take keeps the
// monitor polling every 20 µs (it backs off only after 50 looks in a row
// took nothing), where it otherwise wakes every 10 ms, and each of its
// polls is a timer wake-up of a vCPU. Measured at the quick study's
// equal-load rate at 100 connections (39,000 requests/s, the roles run
// directly, AMD EPYC VM): 5 of 6 fresh Group servers fell into that state
// (~8,000 monitor polls/s, 1,000-1,500 takes/s, uprobes on
// runtime.retake, handoffp, exitsyscallTryGetP) and spent 14.1-15.4 µs
// per request against 12.8 in the one that did not, and 10.5-11.2 for
// one scheduler (GOMAXPROCS=1, whose monitor stays at 10 ms).
//
// So the poller sleeps its first rawSleepMax in a raw system call, which
// the runtime sees as running code, and only the rest of a longer sleep
// in the syscall path. The bound is a timer armed at each sleep: a near
// one cost a wake-up per gap longer than it and more (a bound of 200 µs:
// 14.0 µs per request for one scheduler at 39,000 requests/s, against
// 10.8), 2 ms still cost at 80,000 requests/s, 10 ms nothing measurable
// at 39,000. While it holds the P, goroutines that wait for one may wait
// up to rawSleepMax if every P is held, about as long as behind a
// goroutine that does not yield, and as the monitor's own 10 ms look
// would leave them behind a sleep in the syscall path. The raw sleep is
// not taken while this scheduler's own goroutines may be waiting: with
// Offload calls in flight, or while cross-thread work is recent (the spin
// window is open: Do's callers and XChan's goroutines are woken by this
// thread, onto its P).
const rawSleepMax = 10 * time.Millisecond

// rawSleep returns how long, at most, the poller may sleep in a raw
// system call (rawSleepMax), or 0 for none.
func (s *Scheduler) rawSleep() int64 {
	if s.spin.ns != 0 || s.offload.n != 0 {
		return 0
	}
	return int64(rawSleepMax)
}
