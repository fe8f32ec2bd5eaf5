package sched

import (
	"github.com/coopgo/coop/asm"
	"github.com/coopgo/coop/internal/gmap"
	"github.com/coopgo/coop/internal/nest"
)

// Calls from outside a task. The package comment's table is the contract;
// this file enforces it. A caller that is not a task is in one of three
// places:
//
//   - on a scheduler's thread: its host loop (a descriptor hook), or a
//     ucontext context hosted, at any depth, by one of its tasks or by
//     its host loop. Blocking there blocks every task of the scheduler.
//   - a goroutine of its own, which may block as it likes.
//   - either of them while the scheduler in question does not run (before
//     Run, after it returns), when nothing else touches its state.
//
// Calls that wait park a task; with no task to park they either have a
// goroutine meaning (Sleep, Yield, Offload, and the hand-offs: Do,
// Task.Wait, FD.Read...) or none (Select, the primitives' waits). Nothing
// falls back to blocking a scheduler's thread: there, every call that
// would wait panics, naming itself and the place.

// hosts maps the goroutine in each running Scheduler's Run to it. Each
// entry is stored and deleted by that goroutine, as gmap requires.
var hosts gmap.Map[Scheduler]

// maxNest bounds the walk from a context to the goroutine that hosts its
// Run; ucontext Runs nested deeper than this are not seen through.
const maxNest = 64

// threadOf returns the scheduler whose thread runs the caller, which is
// not a task: that of the host loop or the task the caller's ucontext Run
// is hosted by (in, nil for a host loop), or nil for a goroutine of its
// own. Its lookups cost a few ns each; it runs only off the paths of tasks.
func threadOf() (s *Scheduler, in *Task) {
	g := asm.G()
	for range maxNest {
		if g == 0 {
			break
		}
		if w := byG.Load(g); w != nil {
			if w.Data != nil {
				return w.Data.s, w.Data
			}
			// A worker between tasks, running descriptor hooks for
			// its host loop (pollWorker): the host loop's rules.
			return (*Scheduler)(w.Client().(*engine)), nil
		}
		if s := hosts.Load(g); s != nil {
			return s, nil
		}
		g = nest.HostOf(g) // the host is suspended while its context runs
	}
	return nil, nil
}

// onThreadPanic is the message for a call that would wait on s's thread,
// outside a task.
func onThreadPanic(what string, s *Scheduler, in *Task) string {
	where := "on its host loop (in a descriptor hook, or a ucontext context it hosts)"
	if in != nil {
		where = "in a ucontext context hosted by " + in.String()
	}
	return "sched: " + what + " called on the thread of " + s.String() + " outside a task, " + where +
		": it would block every task of " + s.String() + "; wait in the task itself, or in a goroutine of its own"
}

// mustNotBlockThread panics if the caller, which is not a task, runs on a
// scheduler's thread, where what would block it.
func mustNotBlockThread(what string) {
	if s, in := threadOf(); s != nil {
		panic(onThreadPanic(what, s, in))
	}
}

// bindTask returns the calling task for a call that parks it, after
// binding the primitive whose scheduler field is owner to the task's
// scheduler on first use. It panics, naming the call what, outside a task
// and on a task of another scheduler.
func bindTask(owner **Scheduler, what string) *Task {
	if o := *owner; o != nil {
		if t := o.Current(); t != nil {
			return t // the common case, without a lookup
		}
	}
	t := Current()
	if t == nil || t.s != *owner {
		bindTaskSlow(owner, t, what)
	}
	return t
}

func bindTaskSlow(owner **Scheduler, t *Task, what string) {
	switch {
	case t != nil && *owner == nil:
		*owner = t.s
	case t != nil:
		panic("sched: " + what + " called from a task of " + t.s.String() +
			", but it belongs to " + (*owner).String())
	default:
		panicNoTask(what)
	}
}

// panicNoTask panics for a call that parks the calling task, made outside
// any task.
func panicNoTask(what string) {
	if s, in := threadOf(); s != nil {
		panic(onThreadPanic(what, s, in))
	}
	panic("sched: " + what + " called outside a task: it parks the calling task; " +
		"a goroutine hands work to a scheduler with Scheduler.Go, Do or an Inbox")
}

// bindThread is for calls that never wait. They may be made on the
// owner's thread — its tasks, its host loop (a descriptor hook), a
// ucontext context of one of its tasks — and, from any goroutine, while
// the owner does not run: the setup before Run, as with any Go value
// handed to other goroutines, must happen before the tasks that use it
// start (the Go that starts them, or Run, orders it). A primitive that no
// task has used yet has no owner, and may be set up so from anywhere. It
// returns the calling task, or nil.
func bindThread(owner **Scheduler, what string) *Task {
	if o := *owner; o != nil {
		if t := o.Current(); t != nil {
			return t // the common case, without a lookup
		}
	}
	t := Current()
	if t != nil && t.s == *owner {
		return t
	}
	if t == nil && *owner != nil && (*owner).onHost() {
		return nil
	}
	return bindThreadSlow(owner, t, what)
}

func bindThreadSlow(owner **Scheduler, t *Task, what string) *Task {
	if t != nil {
		bindTaskSlow(owner, t, what)
		return t
	}
	s, _ := threadOf()
	switch {
	case s != nil && (*owner == nil || *owner == s):
		*owner = s
	case *owner == nil:
		// Setup, before any task used it.
	case (*owner).state.Load() != stateRunning:
		// Its scheduler has not started, or has finished.
	default:
		panic("sched: " + what + " called from outside " + (*owner).String() + " while it runs: " +
			"only its tasks (and hooks) may use it then; hand the call to it with Scheduler.Go or Do")
	}
	return nil
}
