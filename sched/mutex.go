package sched

// Sync primitives for the tasks of one scheduler: Mutex (this file), Cond,
// WaitGroup, Chan and Select, and Inbox for hand-offs from other
// goroutines.
//
// Tasks of one scheduler never run at once, so the primitives need no lock
// and no atomic: their state belongs to the scheduler thread. Each binds
// to the scheduler of the first task that uses it, and panics when used
// from a task of another scheduler or from outside any task: a plain
// goroutine hands work to a scheduler with Scheduler.Go or an Inbox.
//
// Costs: every call makes one Current lookup (about 5 ns); the paths that
// do not block allocate nothing and touch only the primitive.

// bindTask returns the calling task, after binding the primitive whose
// scheduler field is owner to the task's scheduler on first use. It panics,
// naming the call what, outside a task and on a task of another scheduler.
func bindTask(owner **Scheduler, what string) *Task {
	t := Current()
	if t == nil || t.s != *owner {
		bindSlow(owner, t, what)
	}
	return t
}

// bindThread is bindTask for calls that never block: besides the tasks of
// the owning scheduler, its host loop may make them (a descriptor's read
// hook signalling a channel, say). It returns the calling task, or nil on
// the host loop.
func bindThread(owner **Scheduler, what string) *Task {
	t := Current()
	if t == nil && *owner != nil && (*owner).onHost() {
		return nil
	}
	if t == nil || t.s != *owner {
		bindSlow(owner, t, what)
	}
	return t
}

func bindSlow(owner **Scheduler, t *Task, what string) {
	switch {
	case t == nil:
		panic("sched: " + what + " called outside a task")
	case *owner == nil:
		*owner = t.s
	default:
		panic("sched: " + what + " called from a task of " + t.s.String() +
			", but it belongs to " + (*owner).String())
	}
}

// queuedIn reports whether t is in the wait queue l. It is valid for a
// task that is blocked (it is in no queue but the one it waits in) or that
// is running (it is in no queue at all, or still in l if its blocking call
// returned at once on a pending interrupt).
func queuedIn(l *taskList, t *Task) bool {
	return t.prev != nil || l.head == t
}

// removeQueued takes t out of l if it is there.
func removeQueued(l *taskList, t *Task) {
	if queuedIn(l, t) {
		l.remove(t)
	}
}

// A Mutex is a mutual exclusion lock for the tasks of one scheduler. The
// zero value is an unlocked Mutex; a Mutex must not be copied after first
// use. It binds to the scheduler of the first task that uses it.
//
// Ownership passes in FIFO order: Unlock hands the Mutex to the task that
// has waited longest, so a task that unlocks and locks again queues behind
// it and no waiter starves. As with sync.Mutex, a locked Mutex belongs to
// no particular task: one task may lock it and another unlock it.
//
// Only a task that holds a Mutex across a blocking call makes others wait:
// code between two blocking calls already runs alone on the scheduler.
type Mutex struct {
	s       *Scheduler // bound on first use
	locked  bool
	waiters taskList // tasks blocked in Lock, oldest first
}

// Lock locks m, parking the calling task until m is available. Lock is
// not interruptible, like sync.Mutex.Lock: an interrupt that arrives while
// the task waits is reported by its next interruptible call.
func (m *Mutex) Lock() {
	t := bindTask(&m.s, "Mutex.Lock")
	if !m.locked {
		m.locked = true
		return
	}
	m.waiters.push(t)
	// Unlock hands m over before waking us: nothing to do after.
	m.s.block(t, waitMutex, nil, nil)
}

// TryLock locks m if it is free and reports whether it did.
func (m *Mutex) TryLock() bool {
	bindThread(&m.s, "Mutex.TryLock")
	if m.locked {
		return false
	}
	m.locked = true
	return true
}

// Unlock unlocks m, handing it to the first waiting task if there is one.
// Unlock of an unlocked Mutex panics.
func (m *Mutex) Unlock() {
	bindThread(&m.s, "Mutex.Unlock")
	if !m.locked {
		panic("sched: unlock of unlocked Mutex")
	}
	if w := m.waiters.pop(); w != nil {
		m.s.wake(w, nil) // w owns m now: it stays locked
		return
	}
	m.locked = false
}

// relockForUnwind marks m locked for a task whose Cond.Wait is unwound at
// the end of Run, so that its deferred Unlock finds m locked.
func (m *Mutex) relockForUnwind() {
	m.locked = true
}
