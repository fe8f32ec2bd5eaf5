package ucontext

import (
	"fmt"
	"runtime"

	"github.com/coopgo/coop/asm"
	"github.com/coopgo/coop/internal/coro"
	"github.com/coopgo/coop/internal/gmap"
	"github.com/coopgo/coop/internal/nest"
)

// state is a context's life cycle. It is written only by the running
// participant of the context's Run.
type state uint8

const (
	stateNew       state = iota // made, never run
	stateSuspended              // switched away from
	stateRunning                // the running context of its Run
	stateDone                   // its function returned, or it was unwound
)

func (s state) String() string {
	switch s {
	case stateNew:
		return "new"
	case stateSuspended:
		return "suspended"
	case stateRunning:
		return "running"
	default:
		return "done"
	}
}

type worker = coro.Coro[*Context]

// A Context is a user context: a function with its own stack, run on the
// turn of the goroutine that called [Run]. Create one with [Make].
type Context struct {
	r      *run
	fn     func()
	link   *Context
	exitTo *Context // where control goes when fn ends: link, or Set's target
	w      *worker  // the goroutine running fn, from its first run to its end
	state  state
	id     uint64
}

// String returns a short description, such as "context 3 (suspended)".
func (c *Context) String() string {
	if c == nil {
		return "<nil context>"
	}
	return fmt.Sprintf("context %d (%v)", c.id, c.state)
}

// run is the state of one call to Run, owned by its running participant.
type run struct {
	grp      coro.Group[*Context]
	cur      *Context // the running context; nil while the host runs
	host     uintptr  // asm.G of the goroutine that called Run
	ids      uint64
	panicked bool
	panicVal any
}

// byG maps the goroutine of each live worker to it, for Current and the
// misuse messages. The switch path does not use it: it identifies the
// caller by comparing asm.G() with the running context's goroutine.
var byG gmap.Map[worker]

// Package sched asks which goroutine hosts a context, to know whether a
// caller that is not a task runs on a scheduler's thread (package nest).
func init() {
	nest.SetHostOf(func(g uintptr) uintptr {
		if w := byG.Load(g); w != nil && w.Data != nil {
			return w.Data.r.host
		}
		return 0
	})
}

// Run hosts contexts on the calling goroutine. It runs fn as the first
// context, whose link is nil, and returns when a context whose link is nil
// returns. Before Run returns, every context it hosted that has not finished
// is unwound: its deferred calls run and its goroutine exits. If a context
// panics, the others are unwound and the panic continues out of Run with
// the original value.
func Run(fn func()) {
	if fn == nil {
		panic("ucontext: Run with nil fn")
	}
	r := &run{host: asm.G()}
	r.grp.Init(r)
	r.grp.Enter = func(w *worker) { byG.Store(w.G, w) }
	r.grp.Leave = func(w *worker) { byG.Delete(w.G) }
	defer r.grp.End() // also when the host itself panics or Goexits
	first := r.make(fn, nil)
	r.switchTo(first)
	// Back on the host: a context with a nil link returned, a context
	// panicked, or one called runtime.Goexit.
	r.grp.End()
	if r.grp.Goexiting() != nil {
		runtime.Goexit()
	}
	if r.panicked {
		panic(r.panicVal)
	}
}

// switchTo makes to the running context, giving it a worker if it has none,
// and switches to it. It returns true if the caller must unwind.
func (r *run) switchTo(to *Context) bool {
	w := to.w
	if w == nil {
		w = r.attach(to)
	}
	to.state = stateRunning
	r.cur = to
	return r.grp.Switch(w)
}

// attach gives to, which has never run, a worker.
func (r *run) attach(to *Context) *worker {
	w := r.grp.Get()
	w.Data = to
	to.w = w
	return w
}

// Work runs on a worker: the context in w.Data, then wherever control goes
// next. It returns true when the worker must exit.
func (r *run) Work(w *worker) bool {
	c := w.Data
	r.call(c)
	c.state = stateDone
	c.w = nil
	if r.grp.Ending {
		return true
	}
	next := c.exitTo
	r.grp.Put(w)
	if next != nil && next.state == stateDone && !r.panicked {
		r.panicked = true
		r.panicVal = fmt.Sprintf("ucontext: %v ended and passed control to finished %v", c, next)
	}
	if next == nil || r.panicked {
		r.cur = nil
		return r.grp.Switch(&r.grp.Host)
	}
	if next.w == nil {
		// Usually the worker we just put back: run next here, no switch.
		if r.attach(next) == w {
			next.state = stateRunning
			r.cur = next
			return false
		}
	}
	return r.switchTo(next)
}

// call runs c's function. It recovers the panics this package raises to
// unwind a context (Set, the end of Run) and records the first other panic
// for Run to re-raise once every context is unwound.
func (r *run) call(c *Context) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(*exitSignal); ok {
				return
			}
			if !r.panicked {
				r.panicked = true
				r.panicVal = p
			}
		}
	}()
	c.exitTo = c.link
	c.fn()
}

// exitSignal is the panic value with which a context unwinds itself, for
// Set and for the end of its Run.
type exitSignal struct{ why string }

// Error makes the value print clearly should user code recover and report
// it; such code must re-panic it.
func (e *exitSignal) Error() string { return "ucontext: " + e.why }

var (
	unwindSignal = &exitSignal{"context unwound because its Run is ending"}
	setSignal    = &exitSignal{"context ended by Set"}
)

// Make returns a new context that will run fn when first switched to
// (makecontext). When fn returns, control passes to link (uc_link); if link
// is nil, the Run ends. Make must be called from a context, and link, if
// not nil, must belong to the same Run. The new context holds no goroutine
// until it first runs.
//
// Make reads link when it is called: unlike C's uc_link, a field that may
// be filled in after makecontext, a *Context variable assigned later does
// not count, and a nil one ends the Run. Make the context to link to first
// (a chain back to front), or link to Current and Swap on from there.
func Make(fn func(), link *Context) *Context {
	if fn == nil {
		panic("ucontext: Make with nil fn")
	}
	cur := Current()
	if cur == nil {
		panic("ucontext: Make called outside Run")
	}
	if link != nil && link.r == nil {
		panic("ucontext: Make with a link not made by Make")
	}
	if link != nil && link.r != cur.r {
		panic(fmt.Sprintf("ucontext: Make with link %v of another Run", link))
	}
	return cur.r.make(fn, link)
}

func (r *run) make(fn func(), link *Context) *Context {
	r.ids++
	return &Context{r: r, fn: fn, link: link, id: r.ids}
}

// Swap saves the running context and switches to to (swapcontext). It
// returns when some context switches back to the caller's context.
//
// Swap panics if it is called outside a context, or if to is nil, a zero
// Context (not made by Make), finished, the running context, or a context
// of another Run.
func Swap(to *Context) {
	if to == nil || to.r == nil {
		misuse("Swap", to)
	}
	r := to.r
	cur := r.cur
	if cur == nil || cur.w.G != asm.G() || to.state > stateSuspended || r.grp.Ending {
		misuse("Swap", to)
	}
	cur.state = stateSuspended
	w := to.w
	if w == nil {
		w = r.attach(to)
	}
	to.state = stateRunning
	r.cur = to
	// Group.Switch, written out: no frame between here and coroswitch.
	from := r.grp.Prepare(w)
	if s := from.In(); s.Pending() {
		s.Yield()
	} else {
		s.Next()
	}
	if r.grp.Ending && r.grp.Resumed(from) {
		panic(unwindSignal)
	}
}

// Set ends the running context and switches to to (setcontext). The
// deferred calls of the current context run before to resumes. Set never
// returns.
//
// Set panics if it is called outside a context, or if to is nil, a zero
// Context (not made by Make), finished, the running context, or a context
// of another Run.
func Set(to *Context) {
	if to == nil || to.r == nil {
		misuse("Set", to)
	}
	r := to.r
	cur := r.cur
	if cur == nil || cur.w.G != asm.G() || to.state > stateSuspended || r.grp.Ending {
		misuse("Set", to)
	}
	cur.exitTo = to
	panic(setSignal)
}

// Current returns the running context of the calling goroutine's Run
// (getcontext), or nil if the caller is not a context.
func Current() *Context {
	if w := byG.Load(asm.G()); w != nil {
		return w.Data
	}
	return nil
}

// misuse is the slow path of Swap and Set: it panics with a message naming
// what is wrong with a switch to to, or, for a deferred call of a context
// being unwound at the end of its Run, continues the unwinding.
func misuse(op string, to *Context) {
	if to == nil {
		panic("ucontext: " + op + " to a nil context")
	}
	if to.r == nil {
		// A zero Context: no Run hosts it, and it has no function.
		panic("ucontext: " + op + " to a Context not made by Make")
	}
	caller := Current()
	switch {
	case caller != nil && caller.r == to.r && to.r.grp.Ending:
		panic(unwindSignal)
	case caller == nil:
		panic("ucontext: " + op + " called outside Run")
	case caller.r != to.r:
		panic(fmt.Sprintf("ucontext: %s to %v of another Run", op, to))
	case to == caller:
		panic("ucontext: " + op + " to the running context")
	case to.state == stateDone:
		panic(fmt.Sprintf("ucontext: %s to finished %v", op, to))
	default:
		panic(fmt.Sprintf("ucontext: %s to %v in an unexpected state", op, to))
	}
}
