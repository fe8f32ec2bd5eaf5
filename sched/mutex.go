package sched

// Sync primitives for the tasks of one scheduler: Mutex (this file), Cond,
// WaitGroup, Chan and Select, and Inbox for hand-offs from other
// goroutines.
//
// Tasks of one scheduler never run at once, so the primitives need no lock
// and no atomic: their state belongs to the scheduler thread. Each binds
// to the scheduler of the first task that uses it; who may call what from
// outside its tasks is the package's one rule (outside.go, and the table
// in the package comment).
//
// Costs: every call makes one Current lookup (about 5 ns); the paths that
// do not block allocate nothing and touch only the primitive.

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
