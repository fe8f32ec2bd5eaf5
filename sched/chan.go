package sched

// A Chan is a channel between the tasks of one scheduler: Go's channel
// semantics, with errors instead of panics, interruptible blocking calls
// and [Select]. The zero value is an unbuffered channel ready to
// use; NewChan makes a buffered one. A Chan must not be copied after first
// use. It binds to the scheduler of the first task that uses it.
//
// On an unbuffered Chan a Send waits for a Recv and hands its value
// directly to it (and the other way round). A buffered Chan is a ring of
// its capacity, allocated once; blocked senders and receivers wait in
// FIFO order. Nothing allocates per message: a task that blocks waits in a
// node taken from the Chan's own free list.
//
// Closing a Chan wakes every blocked receiver and sender with ErrClosed;
// receivers then drain what is buffered before they get ErrClosed.
type Chan[T any] struct {
	s      *Scheduler // bound on first use
	buf    []T        // ring buffer; len(buf) is the capacity
	head   int        // index of the oldest buffered value
	n      int        // buffered values
	closed bool
	recvq  waitq[T] // receivers waiting: nothing buffered, no sender waiting
	sendq  waitq[T] // senders waiting: the buffer is full, no receiver waiting
	free   *waiter[T]
	rnd    uint64 // state of Select's choice when this Chan is its first case
}

// NewChan returns a Chan that buffers up to capacity values; capacity 0
// makes an unbuffered Chan, the same as the zero value.
func NewChan[T any](capacity int) *Chan[T] {
	if capacity < 0 {
		panic("sched: NewChan with negative capacity")
	}
	c := new(Chan[T])
	if capacity > 0 {
		c.buf = make([]T, capacity)
	}
	return c
}

// A waiter is a task blocked on a Chan, like the runtime's sudog: a plain
// Send or Recv waits in one, a Select in one per channel case, linked in a
// ring through sib.
type waiter[T any] struct {
	t          *Task
	c          *Chan[T]
	q          *waitq[T] // the queue the waiter is in; nil when in none
	next, prev *waiter[T]
	v          T    // a sender's value; the value a receiver got
	send       bool // a sender: in c.sendq
	done       bool // the operation happened: a value moved, or c closed
	closed     bool // it happened because c closed

	// Select only.
	sib selNode  // the next waiter of the same Select; nil for Send, Recv
	idx int      // the index of its case
	sl  *sleeper // a Select with XChan cases: taken by the case that completes it
}

// waitq is a FIFO of waiters.
type waitq[T any] struct {
	head, tail *waiter[T]
}

func (q *waitq[T]) push(w *waiter[T]) {
	w.q = q
	w.next = nil
	w.prev = q.tail
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
}

// pop takes the oldest waiter that can still complete: the waiters of a
// Select with XChan cases (sl set) must take its sleeper first, and are
// dropped if an XChan case completed it on another thread.
func (q *waitq[T]) pop() *waiter[T] {
	for w := q.head; w != nil; w = q.head {
		q.remove(w)
		if w.sl == nil || w.sl.take() {
			return w
		}
	}
	return nil
}

// live reports whether pop would return a waiter, dropping dead heads.
func (q *waitq[T]) live() bool {
	for w := q.head; w != nil; w = q.head {
		if w.sl == nil || w.sl.state.Load() == 0 {
			return true
		}
		q.remove(w)
	}
	return false
}

func (q *waitq[T]) remove(w *waiter[T]) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.next, w.prev, w.q = nil, nil, nil
}

// unqueue takes w out of its queue, if it is in one.
func (w *waiter[T]) unqueue() {
	if w.q != nil {
		w.q.remove(w)
	}
}

// cancelWait takes an interrupted or timed-out task's waiters out of
// their queues: w, and for a Select all of its siblings.
func (w *waiter[T]) cancelWait(*Task) {
	w.unqueue()
	if w.sib != nil {
		for x := w.sib; x != selNode(w); x = x.sibling() {
			x.unqueue()
		}
	}
}

// getWaiter returns a clean waiter for t from c's free list.
func (c *Chan[T]) getWaiter(t *Task, send bool) *waiter[T] {
	w := c.free
	if w != nil {
		c.free = w.next
		w.next = nil
	} else {
		w = &waiter[T]{c: c}
	}
	w.t = t
	w.send = send
	return w
}

// putWaiter returns w, out of every queue, to c's free list.
func (c *Chan[T]) putWaiter(w *waiter[T]) {
	*w = waiter[T]{c: c, next: c.free} // drops the value for the GC
	c.free = w
}

// complete ends the wait of w, which its partner or Close has just taken
// out of its queue, and wakes its task with err. For a Select the other
// cases are withdrawn at once, so no one else can complete them.
func (c *Chan[T]) complete(w *waiter[T], err error) {
	w.done = true
	w.closed = err == ErrClosed
	if w.sib != nil && w.sl == nil {
		for x := w.sib; x != selNode(w); x = x.sibling() {
			x.unqueue()
		}
	}
	c.s.wake(w.t, err)
}

// Send sends v on c, parking the calling task until a receiver takes it
// (unbuffered) or there is room in the buffer. It returns nil, ErrClosed
// if c is closed or is closed while the task waits (v is then not sent),
// or ErrInterrupted if the task is interrupted while it waits.
func (c *Chan[T]) Send(v T) error {
	t := bindTask(&c.s, "Chan.Send")
	if err := c.trySend(v); err != ErrWouldBlock {
		return err
	}
	w := c.getWaiter(t, true)
	w.v = v
	c.sendq.push(w)
	err := c.s.block(t, waitChanSend, nil, w)
	w.unqueue() // block returned at once on a pending interrupt
	c.putWaiter(w)
	return err
}

// TrySend sends v on c if that needs no waiting: a receiver is waiting or
// the buffer has room. Else it returns ErrWouldBlock, or ErrClosed if c is
// closed.
func (c *Chan[T]) TrySend(v T) error {
	bindThread(&c.s, "Chan.TrySend")
	return c.trySend(v)
}

func (c *Chan[T]) trySend(v T) error {
	if c.closed {
		return ErrClosed
	}
	if w := c.recvq.pop(); w != nil {
		w.v = v
		c.complete(w, nil)
		return nil
	}
	if c.n < len(c.buf) {
		c.buf[c.slot(c.n)] = v
		c.n++
		return nil
	}
	return ErrWouldBlock
}

// slot is the ring index of the i-th buffered value.
func (c *Chan[T]) slot(i int) int {
	i += c.head
	if i >= len(c.buf) {
		i -= len(c.buf)
	}
	return i
}

// Recv receives a value from c, parking the calling task until a sender
// provides one. It returns ErrClosed once c is closed and its buffer
// drained, and ErrInterrupted if the task is interrupted while it waits.
func (c *Chan[T]) Recv() (T, error) {
	t := bindTask(&c.s, "Chan.Recv")
	if v, err := c.tryRecv(); err != ErrWouldBlock {
		return v, err
	}
	w := c.getWaiter(t, false)
	c.recvq.push(w)
	err := c.s.block(t, waitChanRecv, nil, w)
	w.unqueue() // block returned at once on a pending interrupt
	v := w.v    // zero unless a sender completed w
	c.putWaiter(w)
	return v, err
}

// TryRecv receives a value from c if one is buffered or a sender is
// waiting. Else it returns ErrWouldBlock, or ErrClosed if c is closed and
// drained.
func (c *Chan[T]) TryRecv() (T, error) {
	bindThread(&c.s, "Chan.TryRecv")
	return c.tryRecv()
}

func (c *Chan[T]) tryRecv() (T, error) {
	var zero T
	if c.n > 0 {
		v := c.buf[c.head]
		c.buf[c.head] = zero
		c.head = c.slot(1)
		c.n--
		if w := c.sendq.pop(); w != nil {
			// Room for the sender that waited longest.
			c.buf[c.slot(c.n)] = w.v
			c.n++
			c.complete(w, nil)
		}
		return v, nil
	}
	if w := c.sendq.pop(); w != nil {
		v := w.v
		c.complete(w, nil)
		return v, nil
	}
	if c.closed {
		return zero, ErrClosed
	}
	return zero, ErrWouldBlock
}

// Close closes c: later sends fail with ErrClosed, receivers drain the
// buffer and then get ErrClosed, and every task blocked in Send, Recv or
// a Select on c wakes with ErrClosed. Closing a closed Chan returns
// ErrClosed.
func (c *Chan[T]) Close() error {
	bindThread(&c.s, "Chan.Close")
	if c.closed {
		return ErrClosed
	}
	c.closed = true
	for w := c.recvq.pop(); w != nil; w = c.recvq.pop() {
		c.complete(w, ErrClosed)
	}
	for w := c.sendq.pop(); w != nil; w = c.sendq.pop() {
		c.complete(w, ErrClosed)
	}
	return nil
}

// Len returns the number of buffered values. Like the other methods it is
// for the tasks of c's scheduler, but it does not check its caller.
func (c *Chan[T]) Len() int { return c.n }

// Cap returns c's capacity; 0 for an unbuffered Chan.
func (c *Chan[T]) Cap() int { return len(c.buf) }
