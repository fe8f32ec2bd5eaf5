package sched

import "context"

// ContextError is what the blocking calls of a task return once a context
// it is bound to (BindContext, GoContext, SpawnContext) has ended. It
// matches ErrInterrupted, so code written for Interrupt and Stop handles
// it unchanged, and the context's error and cause: errors.Is(err,
// context.Canceled), errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, cause) hold as they would for the context itself.
type ContextError struct {
	Err   error // ctx.Err(): context.Canceled or context.DeadlineExceeded
	Cause error // context.Cause(ctx); the same as Err if no cause was given
}

func (e *ContextError) Error() string {
	return "sched: interrupted: " + e.Cause.Error()
}

// Is reports whether target is ErrInterrupted.
func (e *ContextError) Is(target error) bool { return target == ErrInterrupted }

// Unwrap returns the context's error and its cause.
func (e *ContextError) Unwrap() []error {
	if e.Cause == e.Err {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

func contextError(ctx context.Context) *ContextError {
	return &ContextError{Err: ctx.Err(), Cause: context.Cause(ctx)}
}

// BindContext puts the calling task under ctx until release is called:
// when ctx ends, the task is interrupted as by Task.Interrupt, and from
// then until release each of its interruptible blocking calls (Sleep,
// Chan, Cond, WaitGroup.Wait, Select, Task.Wait, descriptor waits, and so
// netio's Read, Write and Accept) returns a *ContextError, which matches
// ErrInterrupted, ctx.Err() and context.Cause(ctx). Mutex and Offload
// waits are not interruptible: the interrupt reaches the next call that
// is. Context returns ctx while the binding lasts.
//
// Bindings nest, and the first bound context to end is the one the calls
// report; release them in reverse order (defer release() right after the
// call). A release ends what its binding caused: once no binding left has
// ended, the task's calls block again (a plain Interrupt that arrived
// after a context ended and before its release is taken with it).
//
// A task bound to a context that can still end is one that another
// goroutine can wake: the deadlock detector does not report a scheduler
// while such a task is blocked interruptibly, since it cannot know
// whether the context will be cancelled. A context that cannot end
// (Done returns nil, as context.Background's does) is not counted, nor
// is a task in a wait the interrupt would not end (a Mutex). Binding
// costs what context.AfterFunc costs; release must be called, by the
// task, before it ends.
//
// BindContext panics outside a task.
func BindContext(ctx context.Context) (release func()) {
	t := Current()
	if t == nil {
		panicNoTask("BindContext")
	}
	x := t.ext()
	b := &binding{t: t, id: t.id, ctx: ctx}
	x.binds = append(x.binds, b)
	s := t.s
	switch {
	case ctx.Done() == nil: // never ends
	case ctx.Err() != nil:
		b.fire(contextError(ctx))
	default:
		b.live = true
		b.stop = context.AfterFunc(ctx, func() {
			err := contextError(ctx)
			s.post(inboxItem{op: opCall, fn: func() { b.fire(err) }})
		})
	}
	return b.release
}

// A binding is one BindContext. Its fields belong to the scheduler thread.
type binding struct {
	t    *Task
	id   uint64 // t.id at binding time: a recycled Spawn task has another
	ctx  context.Context
	live bool          // ctx can still end, and release was not called
	err  *ContextError // ctx ended while bound
	stop func() bool   // stops the AfterFunc
	gone bool          // released
}

// fire runs on the scheduler thread when the bound context ends.
func (b *binding) fire(err *ContextError) {
	t := b.t
	if b.gone || b.err != nil || t.id != b.id || t.state == taskDone {
		return // released, or its task is gone
	}
	b.live = false
	b.err = err
	x := t.ext()
	if x.ctxErr == nil {
		x.ctxErr = err
	}
	t.s.interrupt(t)
}

// release ends the binding, on its task.
func (b *binding) release() {
	if b.gone {
		return
	}
	b.gone = true
	if b.live {
		b.live = false
		b.stop()
	}
	t := b.t
	x := t.ext()
	for i := len(x.binds) - 1; i >= 0; i-- {
		if x.binds[i] == b {
			x.binds = append(x.binds[:i], x.binds[i+1:]...)
			break
		}
	}
	was := x.ctxErr
	x.ctxErr = nil
	for _, o := range x.binds {
		if o.err != nil {
			x.ctxErr = o.err
			break
		}
	}
	if was != nil && x.ctxErr == nil {
		t.interruptPending = false
	}
}

// Context returns the context the calling task is bound to (the innermost
// BindContext, or that of GoContext and SpawnContext), or
// context.Background() if it is bound to none or the caller is not a task.
func Context() context.Context {
	if t := Current(); t != nil {
		if x := t.peekExt(); x != nil && len(x.binds) > 0 {
			return x.binds[len(x.binds)-1].ctx
		}
	}
	return context.Background()
}

// GoContext starts a task running fn(ctx) under ctx, as Go does: when ctx
// ends, the task's blocking calls return a *ContextError (see
// BindContext). The binding lasts until fn returns.
func (s *Scheduler) GoContext(ctx context.Context, fn func(ctx context.Context)) *Task {
	if fn == nil {
		panic("sched: GoContext with nil fn")
	}
	return s.Go(func() { runBound(ctx, fn) })
}

// SpawnContext is GoContext with no handle, as Spawn is Go's.
func (s *Scheduler) SpawnContext(ctx context.Context, fn func(ctx context.Context)) {
	if fn == nil {
		panic("sched: SpawnContext with nil fn")
	}
	s.Spawn(func() { runBound(ctx, fn) })
}

func runBound(ctx context.Context, fn func(context.Context)) {
	release := BindContext(ctx)
	defer release()
	fn(ctx)
}

// contextCanWake reports whether a blocked task of s is bound to a context
// that has not ended yet, in a wait its end would interrupt: some
// goroutine may still cancel it, so s is not deadlocked. It runs only
// when s would otherwise report a deadlock.
func (s *Scheduler) contextCanWake() bool {
	for t := s.all.head; t != nil; t = t.allNext {
		x := t.peekExt()
		if x == nil || t.state != taskBlocked || t.cancel == nil {
			continue
		}
		for _, b := range x.binds {
			if b.live {
				return true
			}
		}
	}
	return false
}
