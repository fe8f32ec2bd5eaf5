package sched

import (
	"slices"
	"sync"
)

// An Inbox hands values from ordinary goroutines, or tasks of other
// schedulers, to the tasks of one scheduler: the way into a scheduler for
// the rest of a Go program.
//
// Send may be called from any goroutine and never blocks: it takes the
// Inbox's mutex for a few instructions and, if a task waits, queues its
// wake-up with the scheduler, which never busy-waits. Recv and TryRecv
// are for the tasks of the Inbox's scheduler. Values from one sender are
// received in the order it sent them.
//
// Make an Inbox with NewInbox; the zero value is not usable.
type Inbox[T any] struct {
	s     *Scheduler
	limit int // 0: unbounded

	mu      sync.Mutex
	buf     []T // ring buffer, grown as needed up to limit
	head    int
	n       int
	closed  bool
	waiters []inboxWaiter // tasks blocked in Recv, oldest first
}

// inboxWaiter is a task blocked in Recv and the wait it is in, so that a
// late wake-up cannot end a later wait.
type inboxWaiter struct {
	t   *Task
	seq uint32
}

// NewInbox returns an Inbox for the tasks of s that holds up to capacity
// values; capacity 0 means unbounded.
func NewInbox[T any](s *Scheduler, capacity int) *Inbox[T] {
	s.mustBeNew("NewInbox")
	if capacity < 0 {
		panic("sched: NewInbox with negative capacity")
	}
	return &Inbox[T]{s: s, limit: capacity}
}

// Send queues v for the Inbox's tasks. It never blocks: it returns
// ErrWouldBlock if the Inbox is full, ErrClosed if it is closed, and
// ErrStopped if its scheduler has finished; else nil. Send may be called
// from any goroutine.
func (in *Inbox[T]) Send(v T) error {
	if in.s == nil {
		panic("sched: Inbox.Send on an Inbox not made by NewInbox")
	}
	if in.s.state.Load() == stateFinished {
		return ErrStopped
	}
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return ErrClosed
	}
	if in.limit > 0 && in.n >= in.limit {
		in.mu.Unlock()
		return ErrWouldBlock
	}
	if in.n == len(in.buf) {
		in.grow()
	}
	i := in.head + in.n
	if i >= len(in.buf) {
		i -= len(in.buf)
	}
	in.buf[i] = v
	in.n++
	var w inboxWaiter
	if len(in.waiters) > 0 {
		w = in.popWaiter()
	}
	in.mu.Unlock()
	if w.t != nil {
		in.wake(w)
	}
	return nil
}

// grow enlarges the ring, keeping the order of its values. Under mu.
func (in *Inbox[T]) grow() {
	size := max(2*len(in.buf), 16)
	if in.limit > 0 {
		size = min(size, in.limit)
	}
	buf := make([]T, size)
	k := copy(buf, in.buf[in.head:])
	copy(buf[k:], in.buf[:in.head])
	in.buf = buf
	in.head = 0
}

// pop takes the oldest value. Under mu, with in.n > 0.
func (in *Inbox[T]) pop() T {
	var zero T
	v := in.buf[in.head]
	in.buf[in.head] = zero
	in.head++
	if in.head == len(in.buf) {
		in.head = 0
	}
	in.n--
	return v
}

// popWaiter takes the oldest waiter. Under mu, with waiters.
func (in *Inbox[T]) popWaiter() inboxWaiter {
	w := in.waiters[0]
	n := copy(in.waiters, in.waiters[1:])
	in.waiters[n] = inboxWaiter{}
	in.waiters = in.waiters[:n]
	return w
}

// wake ends the wait of w, which the caller took out of in.waiters: at
// once from a task of in's scheduler, else through the scheduler's own
// inbox, which wakes its poller.
func (in *Inbox[T]) wake(w inboxWaiter) {
	if c := Current(); c != nil && c.s == in.s {
		if w.t.waitSeq == w.seq {
			in.s.wake(w.t, nil)
		}
		return
	}
	in.s.post(inboxItem{op: opWake, t: w.t, seq: w.seq})
}

// task returns the calling task, which must be a task of in's scheduler.
func (in *Inbox[T]) task(what string) *Task {
	if in.s == nil {
		panic("sched: " + what + " on an Inbox not made by NewInbox")
	}
	return bindTask(&in.s, what)
}

// Recv returns the oldest value, parking the calling task until there is
// one. It returns ErrClosed once the Inbox is closed and drained, and
// ErrInterrupted if the task is interrupted while it waits. Recv is for
// the tasks of the Inbox's scheduler.
func (in *Inbox[T]) Recv() (T, error) {
	t := in.task("Inbox.Recv")
	var zero T
	for {
		in.mu.Lock()
		if in.n > 0 {
			v := in.pop()
			in.mu.Unlock()
			return v, nil
		}
		if in.closed {
			in.mu.Unlock()
			return zero, ErrClosed
		}
		if t.interruptPending || in.s.stopping {
			// block will return at once: register nothing, or a
			// sender could wake this task's next, unrelated wait.
			in.mu.Unlock()
			return zero, in.s.block(t, waitInbox, nil, in)
		}
		in.waiters = append(in.waiters, inboxWaiter{t: t, seq: t.waitSeq})
		in.mu.Unlock()
		if err := in.s.block(t, waitInbox, nil, in); err != nil {
			return zero, err
		}
	}
}

// cancelWait takes an interrupted task out of the waiters. If a sender
// already took it out, to wake it for a value, the value goes to the next
// waiter instead (the sender's wake-up is stale once the task is woken
// with ErrInterrupted).
func (in *Inbox[T]) cancelWait(t *Task) {
	in.mu.Lock()
	for i, w := range in.waiters {
		if w.t == t {
			in.waiters = slices.Delete(in.waiters, i, i+1)
			in.mu.Unlock()
			return
		}
	}
	var next inboxWaiter
	if in.n > 0 && len(in.waiters) > 0 {
		next = in.popWaiter()
	}
	in.mu.Unlock()
	if next.t != nil && next.t.waitSeq == next.seq {
		in.s.wake(next.t, nil) // on the scheduler thread: a task of s
	}
}

// TryRecv returns the oldest value if there is one, else ErrWouldBlock,
// or ErrClosed if the Inbox is closed and drained. It never waits: it may
// be called on the thread of the Inbox's scheduler (its tasks, its hooks),
// and from anywhere while that scheduler does not run.
func (in *Inbox[T]) TryRecv() (T, error) {
	if in.s == nil {
		panic("sched: Inbox.TryRecv on an Inbox not made by NewInbox")
	}
	bindThread(&in.s, "Inbox.TryRecv")
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.n > 0 {
		return in.pop(), nil
	}
	var zero T
	if in.closed {
		return zero, ErrClosed
	}
	return zero, ErrWouldBlock
}

// Close closes the Inbox: later Sends return ErrClosed, and receivers get
// what is queued, then ErrClosed. Close may be called from any goroutine,
// any number of times.
func (in *Inbox[T]) Close() {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.closed = true
	ws := in.waiters
	in.waiters = nil
	in.mu.Unlock()
	for _, w := range ws {
		in.wake(w)
	}
}

// Len returns the number of queued values. It may be called from any
// goroutine.
func (in *Inbox[T]) Len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.n
}
