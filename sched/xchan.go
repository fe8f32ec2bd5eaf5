package sched

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// An XChan is a channel between threads: tasks of any scheduler (the
// schedulers of a Group, or unrelated ones) and plain goroutines send and
// receive on it blocking-style. A task that waits parks, and its thread
// runs its other tasks; a goroutine that waits blocks. It is also the way
// back out of a scheduler, the reverse of an Inbox: a task hands results
// to ordinary goroutines without ever blocking its thread (Send parks
// only the task; TrySend never waits).
//
// Its semantics are Go's and Chan's: an unbuffered XChan hands each value
// from a sender to a receiver; a buffered one holds up to its capacity;
// blocked senders and receivers are served in FIFO order; Close makes
// sends fail and receivers drain the buffer, then get ErrClosed; Select
// takes XChan cases, mixed with Chan cases in a task or alone in a
// goroutine. Errors replace panics: ErrClosed, ErrInterrupted (a task
// interrupted while it waits), ErrWouldBlock (TrySend, TryRecv).
//
// Costs: a buffered XChan passes values through a lock-free ring (the
// bounded queue of ring.go): while nobody waits, a send or a receive is
// one compare-and-swap and one slot, and values cross between cores a
// cache line at a time, so that one-way traffic between two threads runs
// at least as fast as over a buffered Go channel. A wait takes the
// XChan's mutex, and its wake-up goes through the waiter's scheduler
// inbox, or its spin-then-park (spin.go). Values per sender keep their
// order. Nothing allocates per message: waiting nodes are pooled.
//
// The zero value is an unbuffered XChan ready to use; NewXChan makes a
// buffered one. An XChan must not be copied after first use.
type XChan[T any] struct {
	ring ring[T] // a buffered XChan's values; unused when nbuf is 0
	nbuf int

	// Mirrors of the ring's waiters flags (deq's, enq's), on a line of
	// their own that changes only when a side starts or stops waiting:
	// a sender looks at recvWaiting after every push, a receiver at
	// sendWaiting after every pop, and reading the ring's position words
	// for that instead would cost each a cache miss per value.
	_           [64]byte
	recvWaiting atomic.Bool
	sendWaiting atomic.Bool
	closing     atomic.Bool // the ring's closed flag, for receivers that find it empty and spinners (Close sets it after the flag)
	_           [61]byte

	mu     sync.Mutex
	closed bool
	recvq  xwaitq[T] // receivers waiting: the buffer is empty
	sendq  xwaitq[T] // senders waiting: the buffer is full
	nodes  sync.Pool // *xwaiter[T]
	spin   atomicWindow
}

// NewXChan returns an XChan that buffers up to capacity values; capacity
// 0 makes an unbuffered XChan, the same as the zero value.
func NewXChan[T any](capacity int) *XChan[T] {
	if capacity < 0 {
		panic("sched: NewXChan with negative capacity")
	}
	c := new(XChan[T])
	if capacity > 0 {
		c.ring.init(capacity)
		c.nbuf = capacity
	}
	return c
}

// A sleeper is whoever waits in an XChan operation: a task, which parks
// and is woken through its scheduler (directly from its own thread, else
// through its inbox), or a goroutine, which spins then parks (parker).
// The nodes of one Select share one sleeper: taking it is how exactly
// one operation completes the Select, and how an interrupt or a timeout
// wins over every operation.
type sleeper struct {
	state atomic.Uint32 // 0: waiting; 1: taken
	t     *Task
	seq   uint32
	s     *Scheduler // t's
	p     parker     // a goroutine's
}

// forTask readies sl for task t's next wait; forGoroutine for the calling
// goroutine's.
func (sl *sleeper) forTask(t *Task) {
	sl.state.Store(0)
	sl.t, sl.seq, sl.s = t, t.waitSeq, t.s
}

func (sl *sleeper) forGoroutine() {
	sl.state.Store(0)
	sl.t, sl.s = nil, nil
	sl.p.reset()
}

// take claims sl for an operation, or for its waiter's withdrawal.
func (sl *sleeper) take() bool { return sl.state.Load() == 0 && sl.state.CompareAndSwap(0, 1) }

// A wakeup is how to wake a sleeper that an operation took, read under
// the XChan's mutex: once the mutex is released, an interrupted task may
// find its operation done and reuse its node, sleeper included, before
// the waker has woken it (the wake-up is then stale, and ignored). A
// goroutine's parker stays valid: a goroutine waits for its wake-up.
type wakeup struct {
	t   *Task
	s   *Scheduler
	seq uint32
	p   *parker
}

func (sl *sleeper) wakeup() wakeup {
	if sl.t == nil {
		return wakeup{p: &sl.p}
	}
	return wakeup{t: sl.t, s: sl.s, seq: sl.seq}
}

// do wakes the waiter: a task directly if the caller runs on its thread,
// else through its scheduler's inbox; a goroutine through its parker.
func (wk wakeup) do() {
	if wk.p != nil {
		wk.p.unpark()
		return
	}
	if wk.t == nil {
		return
	}
	if wk.s.onThread() {
		if wk.t.waitSeq == wk.seq {
			wk.s.wake(wk.t, nil)
		}
		return
	}
	wk.s.post(inboxItem{op: opWake, t: wk.t, seq: wk.seq})
}

// An xwaiter is a task or goroutine waiting in an XChan's queue, as a
// Chan's waiter (the runtime's sudog); a Select waits in one per case.
// Its fields are under the XChan's mutex while it is queued.
type xwaiter[T any] struct {
	c          *XChan[T]
	q          *xwaitq[T] // the queue it is in; nil when in none
	next, prev *xwaiter[T]
	sl         *sleeper // &own, or the Select's
	v          T        // a sender's value; the value a receiver got
	send       bool
	done       bool // the operation happened: a value moved, or c closed
	closed     bool // it happened because c closed
	own        sleeper

	// Select only.
	sib selNode
	idx int
}

type xwaitq[T any] struct{ head, tail *xwaiter[T] }

func (q *xwaitq[T]) push(w *xwaiter[T]) {
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

func (q *xwaitq[T]) remove(w *xwaiter[T]) {
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

// popLive takes the oldest waiter whose sleeper it can take, dropping on
// the way the nodes of Selects that another case completed.
func (q *xwaitq[T]) popLive() *xwaiter[T] {
	for w := q.head; w != nil; w = q.head {
		q.remove(w)
		if w.sl.take() {
			return w
		}
	}
	return nil
}

// live reports whether a waiter that could be taken is queued; dead
// heads are dropped.
func (q *xwaitq[T]) live() bool {
	for w := q.head; w != nil; w = q.head {
		if w.sl.state.Load() == 0 {
			return true
		}
		q.remove(w)
	}
	return false
}

func (w *xwaiter[T]) unqueueLocked() {
	if w.q != nil {
		w.q.remove(w)
	}
}

// node returns a clean waiter of c.
func (c *XChan[T]) node(send bool) *xwaiter[T] {
	w, _ := c.nodes.Get().(*xwaiter[T])
	if w == nil {
		w = &xwaiter[T]{c: c}
	}
	w.send = send
	return w
}

// putNode recycles w, out of every queue and no longer referenced by a
// waker.
func (c *XChan[T]) putNode(w *xwaiter[T]) {
	var zero T
	w.v = zero
	w.sl, w.sib = nil, nil
	w.done, w.closed = false, false
	w.own.t, w.own.s = nil, nil
	c.nodes.Put(w)
}

// Send sends v on c, waiting (a task parks, a goroutine blocks) until a
// receiver takes it (unbuffered) or there is room in the buffer. It
// returns nil; ErrClosed if c is closed, or is closed while the caller
// waits (v is then not sent); or, in a task, ErrInterrupted if the task is
// interrupted while it waits (v is then not sent). Send may be called
// from any task and any goroutine of its own; on a scheduler's thread
// outside a task (a descriptor hook), where waiting would stall the
// scheduler, it panics: use TrySend there.
func (c *XChan[T]) Send(v T) error {
	t := Current()
	if t == nil {
		mustNotBlockThread("XChan.Send")
	}
	if err := c.trySend(v); err != ErrWouldBlock {
		return err
	}
	if c.nbuf > 0 && !c.sendWaiting.Load() {
		// Full: watch for room a little before queuing (spin.go).
		for spinUntil(t, &c.spin, ringHasRoom[T]{c}, waitYieldAfter) {
			if err := c.trySend(v); err != ErrWouldBlock {
				return err
			}
		}
	}
	c.mu.Lock()
	if c.nbuf > 0 {
		// Senders wait from now on: pushes that do not hold mu stop,
		// and receivers that free a slot refill it from sendq.
		c.waitSend()
		if ok, e := c.ring.push(v, ringClosed); ok || e&ringClosed != 0 {
			wk := c.settle()
			c.mu.Unlock()
			wk.do()
			if !ok {
				return ErrClosed
			}
			return nil
		}
	} else {
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		if w := c.recvq.popLive(); w != nil {
			w.v, w.done = v, true
			wk := w.sl.wakeup()
			c.mu.Unlock()
			wk.do()
			return nil
		}
	}
	w := c.node(true)
	w.v = v
	c.sendq.push(w)
	_, err := c.wait(w, t)
	return err
}

// TrySend sends v on c if that needs no waiting: a receiver waits
// (unbuffered) or the buffer has room and no sender waits. Else it
// returns ErrWouldBlock, or ErrClosed if c is closed. It may be called
// from any goroutine, and never blocks.
func (c *XChan[T]) TrySend(v T) error { return c.trySend(v) }

func (c *XChan[T]) trySend(v T) error {
	if c.nbuf > 0 {
		ok, e := c.ring.push(v, ringClosed|ringWaiters)
		switch {
		case ok:
			if c.recvWaiting.Load() {
				// Receivers wait: they registered after finding the
				// ring empty, so this value is theirs to get. (The push
				// published with a full barrier before this load.)
				c.mu.Lock()
				wk := c.settle()
				c.mu.Unlock()
				wk.do()
			}
			return nil
		case e&ringClosed != 0:
			return ErrClosed
		}
		return ErrWouldBlock
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	w := c.recvq.popLive()
	if w == nil {
		c.mu.Unlock()
		return ErrWouldBlock
	}
	w.v, w.done = v, true
	wk := w.sl.wakeup()
	c.mu.Unlock()
	wk.do()
	return nil
}

// Recv receives a value from c, waiting (a task parks, a goroutine
// blocks) until there is one. It returns ErrClosed once c is closed and
// drained, and, in a task, ErrInterrupted if the task is interrupted
// while it waits. Like Send, it may be called from any task and any
// goroutine of its own, and panics on a scheduler's thread outside a
// task: use TryRecv there.
func (c *XChan[T]) Recv() (T, error) {
	t := Current()
	if t == nil {
		mustNotBlockThread("XChan.Recv")
	}
	if v, err := c.tryRecv(); err != ErrWouldBlock {
		return v, err
	}
	var zero T
	if c.nbuf > 0 && !c.recvWaiting.Load() {
		// Empty: watch for a value a little before queuing (spin.go).
		for spinUntil(t, &c.spin, ringHasValue[T]{c}, waitYieldAfter) {
			if v, err := c.tryRecv(); err != ErrWouldBlock {
				return v, err
			}
		}
	}
	c.mu.Lock()
	if c.nbuf > 0 {
		// Receivers wait from now on: pops that do not hold mu stop,
		// and a push that publishes hands its value to recvq.
		c.waitRecv()
		if v, ok := c.ring.pop(0); ok {
			wk := c.settle()
			c.mu.Unlock()
			wk.do()
			return v, nil
		}
		if c.closed && c.ring.drained() {
			c.settle()
			c.mu.Unlock()
			return zero, ErrClosed
		}
	} else {
		if w := c.sendq.popLive(); w != nil {
			v := w.v
			w.done = true
			wk := w.sl.wakeup()
			c.mu.Unlock()
			wk.do()
			return v, nil
		}
		if c.closed {
			c.mu.Unlock()
			return zero, ErrClosed
		}
	}
	w := c.node(false)
	c.recvq.push(w)
	return c.wait(w, t)
}

// TryRecv receives a value from c if one is ready: buffered, or offered
// by a waiting sender (unbuffered). Else it returns ErrWouldBlock, or
// ErrClosed if c is closed and drained. It may be called from any
// goroutine, and never blocks.
func (c *XChan[T]) TryRecv() (T, error) { return c.tryRecv() }

func (c *XChan[T]) tryRecv() (T, error) {
	var zero T
	if c.nbuf > 0 {
		if v, ok := c.ring.pop(ringWaiters); ok {
			if c.sendWaiting.Load() {
				// Senders wait for room: this pop made some. (It freed
				// its slot with a full barrier before this load.)
				c.mu.Lock()
				wk := c.settle()
				c.mu.Unlock()
				wk.do()
			}
			return v, nil
		}
		// The mirror, not enq: a receiver that finds the ring empty
		// must not take the pushers' line from them to learn that.
		// (Close sets it after the ring's flag: a receiver that misses
		// a close here finds it under c.mu.)
		if c.closing.Load() && c.ring.drained() {
			return zero, ErrClosed
		}
		return zero, ErrWouldBlock
	}
	c.mu.Lock()
	w := c.sendq.popLive()
	if w == nil {
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return zero, ErrClosed
		}
		return zero, ErrWouldBlock
	}
	v := w.v
	w.done = true
	wk := w.sl.wakeup()
	c.mu.Unlock()
	wk.do()
	return v, nil
}

// wait waits in w, which the caller queued with c.mu held, and releases
// c.mu. t is the calling task, or nil for a goroutine. It returns what
// the operation got: a receiver's value, or nil; ErrClosed if it happened
// because c closed; ErrInterrupted if t was interrupted first.
func (c *XChan[T]) wait(w *xwaiter[T], t *Task) (T, error) {
	var zero T
	w.sl = &w.own
	if t == nil {
		w.own.forGoroutine()
		c.mu.Unlock()
		w.own.p.wait(&c.spin)
		return c.result(w, nil)
	}
	w.own.forTask(t)
	c.mu.Unlock()
	err := t.s.block(t, waitXChan, nil, w)
	if err == nil {
		// Another thread's operation woke the task: the next wait may
		// end as quickly, so spin for it first (spinUntil).
		c.spin.open()
		return c.result(w, nil)
	}
	// Interrupted: either this wait was withdrawn (cancelWait, or now if
	// block returned at once on a pending interrupt), or an operation
	// took it first, and then it happened: report it, and the interrupt
	// with the next call.
	c.mu.Lock()
	if !w.done && w.sl.take() {
		w.unqueueLocked()
	}
	done := w.done
	c.mu.Unlock()
	if !done {
		c.putNode(w)
		return zero, err
	}
	t.interruptPending = true
	return c.result(w, nil)
}

// result returns what w's operation got, and recycles w.
func (c *XChan[T]) result(w *xwaiter[T], err error) (T, error) {
	v := w.v
	if w.closed {
		err = ErrClosed
	}
	c.putNode(w)
	return v, err
}

// cancelWait withdraws an interrupted task's wait, unless an operation
// took it first.
func (w *xwaiter[T]) cancelWait(*Task) {
	c := w.c
	c.mu.Lock()
	if w.sl.take() {
		w.unqueueLocked()
	}
	c.mu.Unlock()
}

// wakeList holds the first wake-up settle made, to do once the mutex is
// released; any others are done at once, under it.
type wakeList struct{ first wakeup }

func (wk wakeList) do() { wk.first.do() }

func (wk *wakeList) add(sl *sleeper) {
	if wk.first == (wakeup{}) {
		wk.first = sl.wakeup()
		return
	}
	sl.wakeup().do()
}

// settle restores a buffered XChan's invariants, with c.mu held: values
// in the ring go to waiting receivers, waiting senders' values go into
// the ring's free slots, receivers of a closed and drained XChan get
// ErrClosed, and a waiters flag is clear when its queue is empty. It
// returns the sleeper to wake once c.mu is released.
func (c *XChan[T]) settle() wakeList {
	var wk wakeList
	if c.nbuf == 0 {
		return wk
	}
	for progress := true; progress; {
		progress = false
		for c.ring.ready() && c.recvq.head != nil {
			w := c.recvq.popLive()
			if w == nil {
				break
			}
			w.v, _ = c.ring.pop(0) // ready, and only mu holders pop while receivers wait
			w.done = true
			wk.add(w.sl)
			progress = true
		}
		for c.sendq.head != nil && c.ring.roomy() {
			w := c.sendq.popLive()
			if w == nil {
				break
			}
			c.ring.push(w.v, ringClosed) // room, and only mu holders push while senders wait
			w.done = true
			wk.add(w.sl)
			progress = true
		}
	}
	if c.closed && c.ring.drained() {
		for w := c.recvq.popLive(); w != nil; w = c.recvq.popLive() {
			w.done, w.closed = true, true
			wk.add(w.sl)
		}
	}
	if c.recvq.head == nil && c.recvWaiting.Load() {
		clearFlag(&c.ring.deq, ringWaiters)
		c.recvWaiting.Store(false)
	}
	if c.sendq.head == nil && c.sendWaiting.Load() {
		clearFlag(&c.ring.enq, ringWaiters)
		c.sendWaiting.Store(false)
	}
	return wk
}

// waitRecv raises the receivers-wait flag and its mirror, with c.mu
// held, before a receiver's last look at the ring: a push that publishes
// after that look sees the mirror (both sides store with a full barrier
// before they load).
func (c *XChan[T]) waitRecv() {
	if !c.recvWaiting.Load() {
		setFlag(&c.ring.deq, ringWaiters)
		c.recvWaiting.Swap(true)
	}
}

// waitSend is waitRecv for senders and room.
func (c *XChan[T]) waitSend() {
	if !c.sendWaiting.Load() {
		setFlag(&c.ring.enq, ringWaiters)
		c.sendWaiting.Swap(true)
	}
}

// Close closes c: later sends fail with ErrClosed, receivers drain the
// buffer and then get ErrClosed, and everyone waiting in Send, Recv or a
// Select on c wakes (senders with ErrClosed, their values not sent).
// Closing a closed XChan returns ErrClosed. Close may be called from any
// goroutine.
func (c *XChan[T]) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	var wk wakeList
	if c.nbuf > 0 {
		setFlag(&c.ring.enq, ringClosed)
		c.closing.Store(true)
	} else {
		for w := c.recvq.popLive(); w != nil; w = c.recvq.popLive() {
			w.done, w.closed = true, true
			wk.add(w.sl)
		}
	}
	for w := c.sendq.popLive(); w != nil; w = c.sendq.popLive() {
		w.done, w.closed = true, true
		wk.add(w.sl)
	}
	wk2 := c.settle() // receivers, once pushes in progress have landed
	c.mu.Unlock()
	wk.do()
	wk2.do()
	return nil
}

// ringHasValue and ringHasRoom are what a spinning receiver and sender
// of a buffered XChan watch (spinUntil).
type ringHasValue[T any] struct{ c *XChan[T] }

// A spinner learns of a close from the mirror closing, not from the
// ring's enq word: a receiver that watched enq would take the pushers'
// line from them between any two pushes.
func (h ringHasValue[T]) met() bool {
	return h.c.ring.ready() || h.c.closing.Load()
}

type ringHasRoom[T any] struct{ c *XChan[T] }

func (h ringHasRoom[T]) met() bool {
	return h.c.ring.roomy() || h.c.closing.Load()
}

// Len returns the number of buffered values, or about it while other
// threads send and receive.
func (c *XChan[T]) Len() int {
	if c.nbuf == 0 {
		return 0
	}
	n := int64(c.ring.enq.Load()&ringPos) - int64(c.ring.deq.Load()&ringPos)
	return int(min(max(n, 0), int64(c.nbuf)))
}

// Cap returns c's capacity; 0 for an unbuffered XChan.
func (c *XChan[T]) Cap() int { return c.nbuf }

// RecvCase returns a Select case that receives from c into *dst; dst may
// be nil to drop the value. If the case proceeds because c is closed,
// Select reports ErrClosed for it and stores the zero value.
func (c *XChan[T]) RecvCase(dst *T) Case {
	if c == nil {
		return Case{}
	}
	return Case{ch: c, p: dst}
}

// SendCase returns a Select case that sends v on c. If the case proceeds
// because c is closed, Select reports ErrClosed for it and v is not
// sent.
func (c *XChan[T]) SendCase(v T) Case {
	if c == nil {
		return Case{send: true}
	}
	return Case{ch: c, p: &v, send: true}
}

// XChan[T] in a Select (xselect.go): every method but selCross, selLock
// and selUnlock runs with c.mu held.

func (c *XChan[T]) selCross() crossChan { return c }
func (c *XChan[T]) selLock()            { c.mu.Lock() }
func (c *XChan[T]) selUnlock()          { c.mu.Unlock() }
func (c *XChan[T]) selAddr() uintptr    { return uintptr(unsafe.Pointer(c)) }
func (c *XChan[T]) selBind(*Task)       {}
func (c *XChan[T]) selRand() *uint64    { return nil }

// selPrepare raises the waiters flag for a case that may wait, before the
// readiness check, for the same handshake as Send and Recv.
func (c *XChan[T]) selPrepare(send bool) {
	if c.nbuf > 0 {
		if send {
			c.waitSend()
		} else {
			c.waitRecv()
		}
	}
}

// selSettle ends the Select's work on c: what its operation made
// possible happens (a waiting sender's value moves into the room a
// receive made, say), and the flags of empty queues clear.
func (c *XChan[T]) selSettle() { c.settle().do() }

func (c *XChan[T]) selReady(send bool) bool {
	if c.closed {
		return send || c.nbuf == 0 || c.ring.drained()
	}
	if c.nbuf > 0 {
		if send {
			return c.ring.roomy()
		}
		return c.ring.ready()
	}
	if send {
		return c.recvq.live()
	}
	return c.sendq.live()
}

func (c *XChan[T]) selDo(send bool, p any) error {
	if c.closed && (send || c.nbuf == 0 || c.ring.drained()) {
		if !send {
			storeCase(p, *new(T))
		}
		return ErrClosed
	}
	if c.nbuf > 0 {
		if send {
			if ok, _ := c.ring.push(*p.(*T), ringClosed); ok {
				return nil
			}
			return ErrWouldBlock
		}
		v, ok := c.ring.pop(0)
		if !ok {
			return ErrWouldBlock
		}
		storeCase(p, v)
		return nil
	}
	if send {
		w := c.recvq.popLive()
		if w == nil {
			return ErrWouldBlock
		}
		w.v, w.done = *p.(*T), true
		w.sl.wakeup().do()
		return nil
	}
	w := c.sendq.popLive()
	if w == nil {
		return ErrWouldBlock
	}
	storeCase(p, w.v)
	w.done = true
	w.sl.wakeup().do()
	return nil
}

// storeCase stores a received value through a RecvCase's destination.
func storeCase[T any](p any, v T) {
	if dst := p.(*T); dst != nil {
		*dst = v
	}
}

func (c *XChan[T]) selEnqueue(t *Task, send bool, p any, idx int, sl *sleeper) selNode {
	w := c.node(send)
	w.sl, w.idx = sl, idx
	if send {
		w.v = *p.(*T)
		c.sendq.push(w)
	} else {
		c.recvq.push(w)
	}
	return w
}

// *xwaiter[T] as a selNode.

func (w *xwaiter[T]) sibling() selNode     { return w.sib }
func (w *xwaiter[T]) setSibling(n selNode) { w.sib = n }
func (w *xwaiter[T]) index() int           { return w.idx }

// unqueue takes w out of its queue; it is for the Select's own thread,
// under no lock.
func (w *xwaiter[T]) unqueue() {
	w.c.mu.Lock()
	w.unqueueLocked()
	w.c.mu.Unlock()
}

func (w *xwaiter[T]) finish(cases []Case) (done, closed bool) {
	c := w.c
	c.mu.Lock()
	w.unqueueLocked()
	done, closed = w.done, w.closed
	c.mu.Unlock()
	if done && !w.send && !closed {
		storeCase(cases[w.idx].p, w.v)
	}
	c.putNode(w)
	return done, closed
}
