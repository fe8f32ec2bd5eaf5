package sched

import "sync"

// A call is a function that another thread hands to a scheduler and waits
// for: Scheduler.Do (run in a new task, which may block) and exec (run on
// the scheduler thread, which must not). It carries the caller's wait: a
// task of another scheduler parks, and the call's end posts its wake-up
// to that scheduler's inbox; a goroutine spins for a short window, then
// parks (parker). Calls are pooled: a Do allocates nothing.
type call struct {
	s   *Scheduler // where fn runs
	fn  func()
	err error  // the outcome, written before the caller is woken
	run func() // c.runTask, bound once per call object

	// The caller: a task (t, seq) of another scheduler, or a goroutine.
	// Both wait on p's state: a goroutine spins, then parks on p's
	// channel; a task spins, then parks in its scheduler (and is woken
	// through that scheduler's inbox, by complete).
	t   *Task
	seq uint32
	p   parker

	// The object is written by the thread that runs fn (err, p.state)
	// and by the caller's (everything else): alone on its lines, a call
	// in flight shares no line with another.
	_ [128 - 72]byte
}

var calls = sync.Pool{New: func() any {
	c := new(call)
	c.run = c.runTask
	return c
}}

func getCall(s *Scheduler, fn func()) *call {
	c := calls.Get().(*call)
	c.s, c.fn = s, fn
	c.p.reset()
	return c
}

func putCall(c *call) {
	c.s, c.fn, c.err, c.t = nil, nil, nil, nil
	calls.Put(c)
}

// complete ends c with err and wakes its caller. The caller may reuse c
// as soon as it is woken, so nothing here touches c after the wake-up.
func (c *call) complete(err error) {
	c.err = err
	if t := c.t; t != nil {
		finishReply(&c.p, t, c.seq, err)
		return
	}
	c.p.unpark()
}

// finishReply ends the wait of task t (its wait seq) for a call whose
// outcome, err, is written: if t still spins on p's state, the swap is
// the whole reply; if it parked, its scheduler wakes it. Nothing here
// touches p after the swap unless t parked (and then t waits for the
// wake-up before it reuses p).
func finishReply(p *parker, t *Task, seq uint32, err error) {
	if p.state.Swap(parkNotified) == parkParked {
		t.s.post(inboxItem{op: opWake, t: t, seq: seq, err: err})
	}
}

// replied is what a task waiting for a call's outcome watches while it
// spins (spinUntil).
type replied struct{ p *parker }

func (r replied) met() bool { return r.p.state.Load() == parkNotified }

// awaitReply waits, in task t, for the outcome of a call that another
// thread completes through p (finishReply): it spins for s's call window
// while t's scheduler has nothing else to run, then parks t. A reply
// that comes during the spin costs the other side one write, and this
// side no switch, no inbox item and no pass of its host loop.
func (s *Scheduler) awaitReply(t *Task, p *parker) {
	if spinUntil(t, &s.callSpin, replied{p}, yieldAfter) {
		return
	}
	if !p.state.CompareAndSwap(parkIdle, parkParked) {
		return // the reply came after the spin
	}
	// Not interruptible: s holds a reference to the caller until the
	// call has run.
	t.s.block(t, waitExternal, s, nil)
	// The reply came from another thread while t slept: the next one may
	// come as quickly, so spin for it first.
	s.callSpin.open()
}

// runTask is the body of a Do task. It completes the call however fn
// ends: normally; with a panic, which it hands to the scheduler's panic
// handling (the handler, or the end of Run) as the task's own panic would
// have been; or unwound at the end of Run, which goes on.
func (c *call) runTask() {
	done := false
	defer func() {
		if done {
			return
		}
		p := recover()
		switch {
		case p == nil: // runtime.Goexit: it goes on, and Run ends
			c.complete(ErrStopped)
		case p == unwindSignal:
			c.complete(ErrStopped)
			panic(p)
		default:
			s := c.s
			c.complete(s.recovered(s.cur, p)) // never nil here: p is the task's own panic
		}
	}()
	c.fn()
	done = true
	c.complete(nil)
}

// handOff hands fn to s, as op (opDo or opExec), and waits for it: a
// task of another scheduler parks, a goroutine blocks. It returns
// ErrStopped if s has finished.
func (s *Scheduler) handOff(op inboxOp, fn func()) error {
	if caller := Current(); caller != nil {
		c := getCall(s, fn)
		c.t, c.seq = caller, caller.waitSeq
		it := inboxItem{op: op, t: caller, seq: caller.waitSeq, c: c}
		if op == opDo {
			// The item carries everything the Do's task needs to run fn
			// (doRunner): s reads no line that the caller's thread wrote
			// but the item's own, until it writes the reply into c.
			it.fn, it.from = fn, caller.s
		}
		if !s.post(it) {
			putCall(c)
			return ErrStopped
		}
		s.awaitReply(caller, &c.p)
		err := c.err
		putCall(c)
		return err
	}
	c := getCall(s, fn)
	// A Do's task counts for its Group from now on, as a task started
	// by Go does, so that the Group does not stop with it in the inbox.
	g := s.group
	if op == opDo && g != nil {
		g.taskStarted()
	}
	if !s.post(inboxItem{op: op, c: c}) {
		if op == opDo && g != nil {
			g.taskEnded()
		}
		putCall(c)
		return ErrStopped
	}
	c.p.wait(&s.callSpin)
	err := c.err
	putCall(c)
	return err
}

// exec runs fn, which must not block, serialized with s's thread, and
// waits for it: directly on the thread, under s.mu before Run, through the
// inbox during Run (the caller parks if it is a task of another
// scheduler). It returns ErrStopped, without running fn, once s has
// finished.
//
// what names the caller's call, for the panic of a zero Scheduler: a zero
// Scheduler is never on the thread, so the check costs the calls made
// there nothing.
func (s *Scheduler) exec(what string, fn func()) error {
	if s.onThread() {
		fn()
		return nil
	}
	s.mustBeNew(what)
	if s.state.Load() == stateIdle {
		s.mu.Lock()
		if s.state.Load() == stateIdle {
			fn()
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
	}
	if Current() == nil {
		mustNotBlockThread("a call on a descriptor or scheduler of " + s.String())
	}
	return s.handOff(opExec, fn)
}

// Do runs fn in a task of s and waits for it to return. Called from a task
// of s it simply calls fn. From a goroutine of its own it starts a task and
// blocks that goroutine until fn returns; from a task of another scheduler
// it parks that task. This is how code outside s uses what belongs to s
// (descriptors, sync primitives) blocking-style. On a scheduler's thread
// outside a task (a descriptor hook, a ucontext context of a task) it
// panics: on s's own thread the task could never run. Do returns
// ErrStopped if s has finished (or finishes before fn has run), a
// *PanicError if fn panicked and s has a panic handler (to a goroutine,
// whether or not it has one), and nil otherwise.
//
// A Do from another thread is a cross-thread hand-off, and costs one: if
// s sleeps in its poller, a wake-up system call and the time its thread
// takes to run again (tens of µs on a virtual machine whose idle vCPU
// halted), and the same for the caller's reply if it slept. While the two
// threads exchange work often, both sides spin for a short while before
// they sleep (see the package doc, "Working with the rest of a program"),
// and a Do costs a few times a round trip between two goroutines over
// channels. Calls in a loop cost a hand-off each: batch them in one Do.
func (s *Scheduler) Do(fn func()) error {
	t := Current()
	if t != nil && t.s == s {
		fn()
		return nil
	}
	s.mustBeNew("Scheduler.Do")
	if t == nil {
		mustNotBlockThread("Do")
	}
	return s.handOff(opDo, fn)
}

// A doRunner is the body of the task that runs a Do for a task of
// another scheduler: the function, and whom to wake with its outcome.
// Runners belong to the scheduler that runs them (a free list on its
// thread), so that a Do touches no memory of the caller's thread but
// the inbox slots that carry it there and back.
type doRunner struct {
	s      *Scheduler
	fn     func()
	caller *Task
	seq    uint32
	from   *Scheduler // the caller's
	reply  *call      // where the outcome goes (finishReply)
	run    func()     // r.runTask, bound once per runner
	next   *doRunner  // in s.freeDo
}

// doRunner returns a runner for the opDo item it; on s's thread.
func (s *Scheduler) doRunner(it *inboxItem) *doRunner {
	r := s.freeDo
	if r != nil {
		s.freeDo = r.next
		r.next = nil
	} else {
		r = &doRunner{s: s}
		r.run = r.runTask
	}
	r.fn, r.caller, r.seq, r.from, r.reply = it.fn, it.t, it.seq, it.from, it.c
	return r
}

// runTask runs the Do's function and wakes its caller with the outcome,
// as call.runTask does for a goroutine.
func (r *doRunner) runTask() {
	done := false
	defer func() {
		if done {
			return
		}
		p := recover()
		switch {
		case p == nil: // runtime.Goexit: it goes on, and Run ends
			r.finish(ErrStopped)
		case p == unwindSignal:
			r.finish(ErrStopped)
			panic(p)
		default:
			s := r.s
			r.finish(s.recovered(s.cur, p)) // never nil here
		}
	}()
	r.fn()
	done = true
	r.finish(nil)
}

// finish wakes the caller with err and puts r back on the free list.
func (r *doRunner) finish(err error) {
	r.reply.err = err
	finishReply(&r.reply.p, r.caller, r.seq, err)
	s := r.s
	r.fn, r.caller, r.from, r.reply = nil, nil, nil, nil
	r.next = s.freeDo
	s.freeDo = r
}
