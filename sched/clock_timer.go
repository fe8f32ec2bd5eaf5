package sched

import (
	"strings"
	"time"
)

// A Timer is a single event on its scheduler's clock, as time.Timer is on
// the wall clock: it follows WithVirtualTime, and waiting for it parks a
// task, not the thread. A Timer made by NewTimer sends the time on C when
// it fires; one made by AfterFunc starts its function in a new task
// instead, and its C is nil.
//
// C is an ordinary Chan of capacity 1, so a task waits for the timer with
// C.Recv or with a case of a Select among others. Only the timer sends on
// C; do not send on it or close it.
//
// As in the time package since Go 1.23, Stop and Reset discard a time
// that fired and was not received: after either returns, C holds no stale
// value, and a Timer that fired but was not received from still counts as
// active in what they return.
//
// A Timer belongs to its scheduler's thread, like the other primitives:
// its tasks, its descriptor hooks, and, while the scheduler does not run,
// any goroutine setting it up (see the package's table of calls from
// outside a task). A pending Timer costs one entry of the scheduler's
// timer heap and no goroutine; when the scheduler stops, pending timers
// stop with it. As with time.Timer, the zero Timer is not usable: its
// Stop and Reset panic.
type Timer struct {
	C  *Chan[time.Time] // the channel on which the time is sent; nil for AfterFunc
	ct clockTimer
}

// clockTimer is a Timer or a Ticker: an entry of the scheduler's timer
// heap that sends on a Chan, or starts a task.
type clockTimer struct {
	s      *Scheduler
	tm     timer
	c      *Chan[time.Time] // NewTimer, NewTicker: the channel ticks go to
	f      func()           // AfterFunc: what a new task runs
	period int64            // a Ticker's, in ns; 0 for a Timer
}

// NewTimer returns a Timer on s's clock that sends the time on its C
// after at least d. A d of zero or less fires at once, on the next pass of
// s's loop.
func (s *Scheduler) NewTimer(d time.Duration) *Timer {
	t := &Timer{}
	t.C = t.ct.init(s, "Scheduler.NewTimer", true)
	t.ct.start(d)
	return t
}

// AfterFunc waits for d on s's clock and then starts f in a new task of
// s, as Spawn would (time.AfterFunc starts it in a goroutine of its own).
// f may block like any task; Stop and Reset do not wait for it. It
// returns a Timer, with a nil C, whose Stop cancels the call.
//
// Run does not return while an AfterFunc is pending: like a running task,
// it is work the scheduler has still to do. Scheduler.Stop drops pending
// calls (their f never starts), and a call that fires while the
// scheduler stops starts a task that, like every task then, is
// interrupted.
func (s *Scheduler) AfterFunc(d time.Duration, f func()) *Timer {
	if f == nil {
		panic("sched: AfterFunc with nil f")
	}
	t := &Timer{}
	t.ct.init(s, "Scheduler.AfterFunc", false)
	t.ct.f = f
	t.ct.start(d)
	return t
}

// NewTimer is Scheduler.NewTimer on the calling task's scheduler. On a
// scheduler's thread outside a task (a descriptor hook, a ucontext
// context of a task) it is that scheduler's; anywhere else it panics: a
// goroutine of its own has time.NewTimer.
func NewTimer(d time.Duration) *Timer {
	return callerScheduler("NewTimer").NewTimer(d)
}

// AfterFunc is Scheduler.AfterFunc on the calling task's scheduler, with
// NewTimer's rule outside a task.
func AfterFunc(d time.Duration, f func()) *Timer {
	return callerScheduler("AfterFunc").AfterFunc(d, f)
}

// Stop prevents the Timer from firing. It returns true if the call stops
// the timer, false if the timer had already fired and its value was
// received (or its function started), or had been stopped. Stop does not
// wait for an AfterFunc's task that has started. After Stop, C holds no
// value, and a task waiting on C stays waiting.
func (t *Timer) Stop() bool {
	t.ct.bind("Timer.Stop")
	return t.ct.stop()
}

// Reset changes the timer to fire after d, and returns what Stop would
// have: whether the timer was active. A value that fired and was not
// received is discarded, so a receive after Reset gets only the new
// time. An AfterFunc's Reset schedules f to start again, whether or not
// it started before.
func (t *Timer) Reset(d time.Duration) bool {
	t.ct.bind("Timer.Reset")
	active := t.ct.stop()
	t.ct.start(d)
	return active
}

// init binds ct to s and makes its channel if it has one; what is the
// calling constructor, for the panics of bind.
func (ct *clockTimer) init(s *Scheduler, what string, withChan bool) *Chan[time.Time] {
	s.mustBeNew(what)
	ct.s = s
	ct.tm.init(ct, 0)
	ct.bind(what)
	if withChan {
		ct.c = NewChan[time.Time](1)
		ct.c.s = s
	}
	return ct.c
}

// bind checks that the caller may touch ct: its scheduler's thread, or
// anywhere while that scheduler does not run (the rule of the calls that
// never wait).
//
// A zero Timer or Ticker, which no constructor made, panics: its zero heap
// index would read as pending, and Stop would take another timer out of
// the heap.
func (ct *clockTimer) bind(what string) {
	if ct.tm.owner == nil {
		panicZeroTimer(what)
	}
	bindThread(&ct.s, what)
}

// panicZeroTimer panics for a call, such as "Timer.Stop", on a zero Timer
// or Ticker, naming the constructors to use.
func panicZeroTimer(what string) {
	typ, _, _ := strings.Cut(what, ".")
	ctors := "NewTimer or AfterFunc"
	if typ == "Ticker" {
		ctors = "NewTicker"
	}
	panic("sched: " + what + " on a zero " + typ + ": make it with " + ctors +
		" (or the Scheduler method of the same name)")
}

// start sets the timer d from now.
func (ct *clockTimer) start(d time.Duration) {
	s := ct.s
	s.timers.set(&ct.tm, deadlineAfter(s.freshNanotime(), d))
	if ct.f != nil {
		s.nFuncs++
	}
}

// stop takes ct out of the heap and drops a tick not yet received,
// reporting whether either was there.
func (ct *clockTimer) stop() bool {
	active := ct.tm.pending()
	if active {
		ct.s.timers.stop(&ct.tm)
		if ct.f != nil {
			ct.s.nFuncs--
		}
	}
	if c := ct.c; c != nil && c.n > 0 {
		c.tryRecv()
		active = true
	}
	return active
}

// fire runs on the scheduler's host loop when the timer is due; the heap
// has taken it out.
func (ct *clockTimer) fire(uint8) {
	s := ct.s
	if ct.f != nil {
		s.nFuncs--
		s.Spawn(ct.f)
		return
	}
	now := s.nanotime()
	// A full C means the last tick has not been received: this one is
	// dropped, as a slow receiver of a time.Ticker drops ticks.
	ct.c.trySend(s.timeOf(now))
	if p := ct.period; p > 0 {
		// The next tick on the period's grid after now: ticks missed by a
		// busy scheduler are skipped, not queued.
		when := deadlineAfter(ct.tm.when, time.Duration(p))
		if when <= now {
			when = deadlineAfter(when, time.Duration(p*((now-when)/p+1)))
		}
		if when <= now {
			return // the end of the clock (math.MaxInt64 ns): no later tick
		}
		s.timers.set(&ct.tm, when)
	}
}

// canWake reports whether firing ct can make progress for some task: an
// AfterFunc starts one; a channel's tick wakes a task only if one waits
// on C (a Recv, or a Select with a case on it). A tick into a C nobody
// waits on is dropped or kept for a receive that only some other wake-up
// could lead to, so such a timer does not keep a deadlock from being
// reported, nor, with virtual time, the clock jumping to it.
func (ct *clockTimer) canWake() bool {
	return ct.f != nil || ct.c.recvq.live()
}

// timersCanWake reports whether some pending timer can make progress for
// a task: every timer but those of Timers and Tickers no task waits on.
// It looks at the earliest first, which in the common case decides.
func (s *Scheduler) timersCanWake() bool {
	for _, tm := range s.timers.h {
		ct, ok := tm.owner.(*clockTimer)
		if !ok || ct.canWake() {
			return true
		}
	}
	return false
}

// callerScheduler returns the scheduler of the calling task or, outside
// a task, of the thread the caller runs on; it panics in a goroutine of
// its own, naming the call what.
func callerScheduler(what string) *Scheduler {
	if t := Current(); t != nil {
		return t.s
	}
	if s, _ := threadOf(); s != nil {
		return s
	}
	panic("sched: " + what + " called outside a task: it uses the calling task's scheduler; " +
		"call Scheduler." + what + " on the scheduler, or use package time in a goroutine of its own")
}
