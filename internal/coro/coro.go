// Package coro is the switching engine under ucontext and sched: symmetric
// transfer of control between goroutine-backed coroutines on one thread,
// in a single runtime coroutine switch, built only on iter.Pull.
//
// # Slots
//
// iter.Pull returns next and yield closures around a runtime coro, which is
// a slot holding exactly one blocked goroutine. Calling next or yield on a
// slot blocks the caller in it and resumes the goroutine that was blocked
// there; nothing in the runtime ties a slot to the goroutine that created
// it, only the alternation next, yield, next, ... is checked (iter.Pull
// panics otherwise). So a switch from the running coroutine to any other is
// one call on the slot the target is blocked in, with the call the slot's
// alternation asks for. A host loop in the middle, the obvious design,
// costs a second switch on every transfer.
//
// The engine keeps, for every participant, the slot it is blocked in
// (Coro.in) and, for every slot, which participant is blocked in it
// (slot.occ) and which call it expects next (slot.pending). Invariant: with
// n live worker goroutines there are n live slots (one per worker, from its
// iter.Pull), the host and the n workers make n+1 goroutines, exactly one
// runs and each of the others is blocked in exactly one slot.
//
// # Workers, the host and the end
//
// A Group is hosted by one goroutine (Host). Workers run client work
// functions and are reused: after its work a worker asks the client what to
// do next and may be handed new work later, so a finished coroutine costs
// no goroutine creation the next time (the stack cache of State Threads and
// libdill). End, called on the host, exits every worker: it names a victim,
// switches to it, and the victim unwinds and returns from its body. The
// runtime's coroexit then resumes whoever was blocked in the victim's own
// slot; if that is not the host, it hops straight back to the host. So each
// round of End exits exactly one worker and returns to the host, and when
// End returns no goroutine is left behind.
//
// # Panics and Goexit
//
// Clients recover panics of their work themselves, so no panic ever travels
// through iter.Pull's own propagation (which would deliver it to whichever
// goroutine happens to be blocked in the slot). runtime.Goexit cannot be
// recovered: a worker that Goexits parks on the host (Goexiting reports it),
// the host ends the group with that worker last. When the host is the one
// blocked in that worker's own slot, the worker's exit hands the Goexit to
// the host, as iter.Pull does; otherwise End simply returns. Either way the
// host must then call runtime.Goexit itself (see Goexiting), which ucontext
// and sched do.
//
// A worker handed out by Get but never switched to is started by End: its
// goroutine begins, and Work is called with Ending set, so a client's Work
// checks Ending before running anything.
//
// All fields are owned by the running participant; control passes only
// through coroswitch, which orders memory between the goroutines (and tells
// the race detector so, through iter.Pull's annotations).
package coro

import (
	"iter"
	"sync/atomic"
	"unsafe"

	"github.com/coopgo/coop/asm"
)

// Slot is one runtime coro, reached through its iter.Pull closures.
type Slot[T any] struct {
	next    func() (struct{}, bool)
	yield   func(struct{}) bool
	pending bool     // next was called last; the next call must be yield
	occ     *Coro[T] // the participant blocked in this slot
}

// Resume blocks the caller in s and resumes the participant blocked there,
// with the call the slot's alternation asks for. Callers inline its body in
// their hottest paths (see Switch); this is the out-of-line form.
func (s *Slot[T]) Resume() {
	if s.pending {
		s.pending = false
		s.yield(struct{}{})
	} else {
		s.pending = true
		s.next()
	}
}

// Pending reports whether the next call on s must be yield.
func (s *Slot[T]) Pending() bool { return s.pending }

// Yield resumes the participant blocked in s, which called next; it must
// follow Pending() == true, and is the first half of an inlined Resume.
func (s *Slot[T]) Yield() { s.pending = false; s.yield(struct{}{}) }

// Next resumes the participant blocked in s, which called yield or has
// not started; it must follow Pending() == false.
func (s *Slot[T]) Next() { s.pending = true; s.next() }

// Coro is a participant of a Group: the host or a worker goroutine.
type Coro[T any] struct {
	// Data is the client's object for the work this worker runs now.
	Data T
	// G is the goroutine token (asm.G) of this participant while it lives.
	G uintptr
	// SP is, for the client's use, an address in the participant's stack
	// where it last switched away: a scheduler prefetches the lines around
	// it (and G) before switching back. Only a hint; never dereferenced.
	SP uintptr
	// in is the slot this participant is blocked in; nil if running. It
	// is next to G and SP: a switch to a parked participant reads all
	// three, and a scheduler asks for them ahead (TestPrefetchAddrs).
	in *Slot[T]

	grp      *Group[T]
	own      Slot[T] // the worker's own iter.Pull; unused for the host
	returned bool    // the body returned normally (no Goexit)

	nextIdle           *Coro[T]
	prevLive, nextLive *Coro[T]
}

// Group is a set of coroutines hosted by one goroutine.
type Group[T any] struct {
	// Host is the goroutine that created the group; it runs when no worker
	// does. Its G is set by Init.
	Host Coro[T]
	// Cur is the running participant.
	Cur *Coro[T]
	// Ending is set by End: every switch now ends in the victim's exit.
	Ending bool

	// work is the client (see Worker).
	work Worker[T]
	// Enter and Leave, if set, run on a worker's goroutine when it starts
	// and when it exits (to register its G with the client, say).
	Enter, Leave func(c *Coro[T])

	// running is the goroutine token (asm.G) of the participant that
	// runs, kept with every switch so that any goroutine can ask "am I
	// the one running in this group?" (Running) with one load and no
	// lookup. Only the group's thread writes it; a goroutine elsewhere
	// reads some other participant's token, never its own.
	running atomic.Uintptr

	victim    *Coro[T]
	goexiting *Coro[T]
	idle      *Coro[T]
	live      *Coro[T]
	nIdle     int
	nLive     int
}

// A Worker is the client of a Group: what its workers run.
type Worker[T any] interface {
	// Work runs the client's work on worker c (c.Data), then transfers
	// control to where the client wants it, typically with Switch. It
	// returns true when c must exit: the result of a Switch made during
	// End. It must not panic.
	//
	// Work is a method of an interface rather than a func field: a method
	// value would add a wrapper frame to every worker's stack.
	Work(c *Coro[T]) (exit bool)
}

// Init prepares g to be hosted by the calling goroutine, running w's work.
func (g *Group[T]) Init(w Worker[T]) {
	g.Host.grp = g
	g.Host.G = asm.G()
	g.Cur = &g.Host
	g.running.Store(g.Host.G)
	g.work = w
}

// Running reports whether the goroutine with token gid is the running
// participant of g: the host, or a worker between its switches. It may be
// called from any goroutine; it is false before Init and after End.
func (g *Group[T]) Running(gid uintptr) bool { return g.running.Load() == gid }

// Get returns an idle worker, or a new one (whose goroutine starts on the
// first switch to it). The worker is not running; hand it work through Data
// and Switch to it.
func (g *Group[T]) Get() *Coro[T] {
	if c := g.idle; c != nil {
		g.idle = c.nextIdle
		c.nextIdle = nil
		g.nIdle--
		return c
	}
	c := &Coro[T]{grp: g}
	c.own.next, _ = iter.Pull(c.body)
	c.own.occ = c
	c.in = &c.own
	c.nextLive = g.live
	if g.live != nil {
		g.live.prevLive = c
	}
	g.live = c
	g.nLive++
	return c
}

// Put makes worker c idle: a later Get may hand it new work. A worker puts
// itself when its work is done, then switches away.
func (g *Group[T]) Put(c *Coro[T]) {
	var zero T
	c.Data = zero
	c.nextIdle = g.idle
	g.idle = c
	g.nIdle++
}

// HasIdle reports whether Get would return an idle worker rather than
// create one.
func (g *Group[T]) HasIdle() bool { return g.idle != nil }

// Live reports the number of worker goroutines and how many are idle.
func (g *Group[T]) Live() (workers, idle int) { return g.nLive, g.nIdle }

// Goexiting returns the worker that called runtime.Goexit and parked on
// the host, or nil. The host should End the group, then Goexit itself.
func (g *Group[T]) Goexiting() *Coro[T] { return g.goexiting }

// Switch transfers control from the running participant to c, which must
// be blocked. It returns when some participant switches back to the
// caller. The result is true only during End, for the victim: the caller
// must unwind and exit (return true from Work).
func (g *Group[T]) Switch(c *Coro[T]) (exit bool) {
	if g.Ending {
		return g.switchEnding(c)
	}
	from := g.Prepare(c)
	from.in.Resume()
	return g.Resumed(from)
}

// Prepare is the bookkeeping half of Switch: it records that the running
// participant blocks in the slot c is blocked in, and that c runs next, and
// returns the running participant, whose in field is that slot. The caller
// must then resume the slot at once and, when that returns, call Resumed.
// Hot paths write this sequence out so that no call frame sits between
// them and the runtime's coroswitch: every such frame is a return the CPU
// mispredicts after the stack changes under it, several ns each. Prepare
// must not be used during End (check Ending first).
func (g *Group[T]) Prepare(c *Coro[T]) (from *Coro[T]) {
	from = g.Cur
	s := c.in
	c.in, s.occ, from.in, g.Cur = nil, from, s, c
	g.running.Store(c.G) // 0 for a worker not started yet: body stores its own
	return from
}

// Client returns the Worker of c's group: for a client that finds a
// participant by its goroutine and must know whose it is.
func (c *Coro[T]) Client() Worker[T] { return c.grp.work }

// PrefetchIn asks the CPU for the lines of the slot c is blocked in, which
// a switch to c reads (see asm.Prefetch); c must be blocked, and its
// first 32 bytes should be in the cache already: else this waits for them.
func (c *Coro[T]) PrefetchIn() {
	asm.Prefetch(uintptr(unsafe.Pointer(c.in)), 2)
}

// PrefetchCall asks for the iter.Pull closure that a switch to c calls
// first (callAddr). c must be blocked, and its slot's line should be in
// the cache already (PrefetchIn): else this waits for it.
func (c *Coro[T]) PrefetchCall() {
	if p := c.callAddr(); p != nil {
		asm.Prefetch(uintptr(p), 1)
	}
}

// PrefetchCallees asks for what the closure a switch to c calls reaches
// first: the two words it captures, iter.Pull's state and the runtime's
// coro, which the switch reads and writes (a locked compare-and-swap on
// the coro). The closure's line should be in the cache already
// (PrefetchCall): else this waits for it. The words are read as
// addresses only, never dereferenced: should a Go release lay iter.Pull's
// closures out otherwise, this asks for useless lines, and nothing else.
func (c *Coro[T]) PrefetchCallees() {
	if p := c.callAddr(); p != nil {
		asm.Prefetch(*(*uintptr)(unsafe.Add(p, 8)), 1)
		asm.Prefetch(*(*uintptr)(unsafe.Add(p, 16)), 1)
	}
}

// callAddr is the closure a switch to c calls: the next or the yield of
// the slot c is blocked in, as its alternation asks (a func value is a
// pointer to its closure). nil if c is not blocked.
func (c *Coro[T]) callAddr() unsafe.Pointer {
	s := c.in
	if s == nil {
		return nil
	}
	if s.pending {
		return *(*unsafe.Pointer)(unsafe.Pointer(&s.yield))
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(&s.next))
}

// In returns the slot c is blocked in; after Prepare, the one to resume.
func (c *Coro[T]) In() *Slot[T] { return c.in }

// Resumed is the tail of Switch, run by from once resumed: during End it
// decides whether from must exit.
func (g *Group[T]) Resumed(from *Coro[T]) (exit bool) {
	if g.Ending {
		return g.resumedEnding(from)
	}
	return false
}

// switchEnding is Switch during End.
func (g *Group[T]) switchEnding(c *Coro[T]) bool {
	from := g.Cur
	if from != &g.Host {
		// A worker unwinding during End (say, a deferred call trying to
		// switch): it may only exit.
		return true
	}
	g.Prepare(c).in.Resume()
	return g.resumedEnding(from)
}

// resumedEnding decides what a participant resumed during End does: the
// victim exits, the host carries on, and anyone else (woken because it was
// blocked in the slot of a worker that just exited) returns to the host.
func (g *Group[T]) resumedEnding(from *Coro[T]) bool {
	if from == g.victim {
		return true
	}
	if from == &g.Host {
		return false
	}
	// Woken by an exit during End: give control back to the host, and
	// wait to be named victim.
	for from != g.victim {
		g.Prepare(&g.Host).in.Resume()
	}
	return true
}

// body is the goroutine of a worker.
func (c *Coro[T]) body(yield func(struct{}) bool) {
	c.own.yield = yield
	c.G = asm.G()
	g := c.grp
	g.running.Store(c.G) // it runs: it was switched to
	defer c.exit()
	if g.Enter != nil {
		g.Enter(c)
	}
	for !g.work.Work(c) {
	}
	c.returned = true
}

// exit runs when a worker's body ends, normally (End named it the victim)
// or by runtime.Goexit.
func (c *Coro[T]) exit() {
	g := c.grp
	if !c.returned && !g.Ending {
		// Goexit in the client's work: park on the host, which ends the
		// group with this worker last.
		g.goexiting = c
		g.Switch(&g.Host)
	}
	if g.Leave != nil {
		g.Leave(c)
	}
	// Unlink, and hand the thread to whoever is blocked in our own slot:
	// the runtime's coroexit resumes it when this function returns.
	if c.prevLive != nil {
		c.prevLive.nextLive = c.nextLive
	} else {
		g.live = c.nextLive
	}
	if c.nextLive != nil {
		c.nextLive.prevLive = c.prevLive
	}
	g.nLive--
	occ := c.own.occ
	occ.in = nil
	g.Cur = occ
	g.running.Store(occ.G) // before this goroutine, and its token, are gone
	c.G = 0
}

// End exits every worker of g and returns when none is left. It must be
// called on the host. After End, Switch must not be called again.
func (g *Group[T]) End() {
	g.Ending = true
	g.idle = nil
	g.nIdle = 0
	for g.live != nil {
		v := g.live
		if v == g.goexiting && v.nextLive != nil {
			v = v.nextLive // the worker that Goexits goes last
		}
		g.victim = v
		g.Switch(v)
	}
	g.victim = nil
	g.running.Store(0) // the host's token outlives the group
}
