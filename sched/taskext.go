package sched

// taskExt is what fewer tasks still use than taskExtra's timer and join
// state: a context binding, a name, task-local values. taskExtra holds
// one pointer to it, allocated on first use, so that a task that uses
// none of it pays 8 bytes of its extra. Owned by the task's scheduler
// thread. recycle drops it: a recycled Spawn task starts with none.
type taskExt struct {
	binds  []*binding    // BindContext's bindings, innermost last
	ctxErr *ContextError // the error of the first bound context to end, while bound: what blocking calls return
	name   string        // SetName
	values map[any]any   // SetValue
}

// ext returns t's extension, allocating it on first use.
func (t *Task) ext() *taskExt {
	x := t.extra()
	if x.ext == nil {
		x.ext = new(taskExt)
	}
	return x.ext
}

// peekExt returns t's extension, or nil if it has none; it allocates
// nothing.
func (t *Task) peekExt() *taskExt {
	if t.x == nil {
		return nil
	}
	return t.x.ext
}

// interruptErr is what an interrupted blocking call of t returns:
// ErrInterrupted, or, once a context t is bound to has ended, a
// *ContextError that also matches the context's error and cause. That one
// is sticky while the binding lasts, as a Go context stays done: the
// interrupt is left pending again for t's next blocking call.
func (t *Task) interruptErr() error {
	if x := t.peekExt(); x != nil && x.ctxErr != nil {
		t.interruptPending = true
		return x.ctxErr
	}
	return ErrInterrupted
}
