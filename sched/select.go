package sched

import (
	"math"
	"time"
	"unsafe"
)

// A Case is one channel operation of a Select, made by Chan.RecvCase or
// Chan.SendCase. The zero Case, like a case of a nil *Chan, is never
// ready: as with a nil channel in a Go select statement, it disables a
// case without renumbering the others.
type Case struct {
	ch   selectable // nil: never ready
	p    any        // *T: RecvCase's destination (maybe nil), SendCase's value
	send bool
}

// RecvCase returns a Select case that receives from c into *dst; dst may
// be nil to drop the value. If the case proceeds because c is closed,
// Select reports ErrClosed for it and stores the zero value.
func (c *Chan[T]) RecvCase(dst *T) Case {
	if c == nil {
		return Case{}
	}
	return Case{ch: c, p: dst}
}

// SendCase returns a Select case that sends v on c. If the case proceeds
// because c is closed, Select reports ErrClosed for it and v is not sent.
func (c *Chan[T]) SendCase(v T) Case {
	if c == nil {
		return Case{send: true}
	}
	return Case{ch: c, p: &v, send: true}
}

// Select waits until one of the cases can proceed, performs it, and
// returns its index. If several can, it picks one pseudo-randomly, so
// that no case starves. The error is nil, or ErrClosed if the case
// proceeded because its channel is closed. Select returns -1 and
// ErrInterrupted if the task is interrupted while it waits. With no
// usable case, Select waits until interrupted.
//
// The choice among ready cases comes from a generator kept in the channel
// of the first usable case and seeded the same way in every program run:
// a run that is otherwise deterministic (virtual time, no input from
// outside) makes the same choices every time.
//
// Select allocates nothing: the cases stay on the caller's stack, and a
// task that blocks waits in one node per case taken from each channel's
// free list.
func Select(cases ...Case) (int, error) {
	t := Current()
	if t == nil {
		return selectGoroutine(hideCases(cases), -1, "Select")
	}
	return selectCases(t, hideCases(cases), -1)
}

// SelectTimeout is Select with a limit on the wait: after d on the
// scheduler's clock it returns -1 and an error matching
// os.ErrDeadlineExceeded. With d <= 0 it does not wait: if no case can
// proceed at once it returns -1 and ErrWouldBlock.
func SelectTimeout(d time.Duration, cases ...Case) (int, error) {
	t := Current()
	if t == nil {
		return selectGoroutine(hideCases(cases), max(d, 0), "SelectTimeout")
	}
	return selectCases(t, hideCases(cases), max(d, 0))
}

// hideCases returns cases unchanged, hidden from escape analysis.
//
// Select calls the cases' channels through an interface, and escape
// analysis must assume that whatever reaches an interface call escapes: a
// Select would move to the heap each receive destination and send value,
// and the cases array itself. None of them is ever kept: the cases are
// read by the selecting task alone, in its own frames, while its caller's
// frame is live (a send value is copied into the waiting node, a received
// value is copied out of it after the wake). The pointers stay typed in
// those frames, so the runtime adjusts them if the stack moves.
//
//go:nocheckptr
//go:nosplit
func hideCases(cases []Case) []Case {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(cases)))
	return unsafe.Slice((*Case)(unsafe.Add(nil, p)), len(cases))
}

// selectable is a Chan[T] or an XChan[T], seen by Select. An XChan's
// methods are called with its mutex held (xselect.go).
type selectable interface {
	selBind(t *Task)
	selReady(send bool) bool
	selDo(send bool, p any) error
	// selEnqueue queues a waiter for the case; sl is the Select's
	// sleeper when it has XChan cases, else nil.
	selEnqueue(t *Task, send bool, p any, idx int, sl *sleeper) selNode
	selRand() *uint64
	selCross() crossChan // nil for a Chan
}

// selNode is a *waiter[T] of a blocked Select.
type selNode interface {
	canceler
	unqueue()
	sibling() selNode
	setSibling(selNode)
	index() int
	// finish withdraws the waiter, reports whether its operation
	// happened and whether because its channel closed, and recycles it.
	finish(cases []Case) (done, closed bool)
}

// selectCases runs a select for task t. timeout < 0 waits for ever, 0
// polls.
func selectCases(t *Task, cs []Case, timeout time.Duration) (int, error) {
	for i := range cs {
		if cs[i].ch != nil && cs[i].ch.selCross() != nil {
			return selectMixed(t, cs, timeout)
		}
	}
	// Ready cases: count them, then take the k-th, for a uniform choice.
	// (A case found ready can fail when a Select with XChan cases, whose
	// waiter headed its queue, completes on another thread meanwhile:
	// then look again.)
again:
	var first selectable
	ready := 0
	for i := range cs {
		c := &cs[i]
		if c.ch == nil {
			continue
		}
		c.ch.selBind(t)
		if first == nil {
			first = c.ch
		}
		if c.ch.selReady(c.send) {
			ready++
		}
	}
	if ready > 0 {
		k := 0
		if ready > 1 {
			k = randN(first.selRand(), ready)
		}
		for i := range cs {
			c := &cs[i]
			if c.ch != nil && c.ch.selReady(c.send) {
				if k == 0 {
					err := c.ch.selDo(c.send, c.p)
					if err == ErrWouldBlock {
						goto again
					}
					return i, err
				}
				k--
			}
		}
	}
	if timeout == 0 {
		return -1, ErrWouldBlock
	}

	// Wait in every channel at once, the nodes linked in a ring: whoever
	// completes one withdraws the others.
	var head, last selNode
	for i := range cs {
		c := &cs[i]
		if c.ch == nil {
			continue
		}
		n := c.ch.selEnqueue(t, c.send, c.p, i, nil)
		if head == nil {
			head = n
		} else {
			last.setSibling(n)
		}
		last = n
	}
	var cancel canceler = nopCanceler{}
	if head != nil {
		last.setSibling(head)
		cancel = head
	}
	s := t.s
	if timeout > 0 {
		tm := t.timer()
		s.timers.set(tm, deadlineAfter(s.freshNanotime(), timeout))
		tm.arg = timerTimeout
	}
	err := s.block(t, waitSelect, nil, cancel)
	if t.timerPending() {
		s.timers.stop(&t.x.timer)
	}
	idx := -1
	if head != nil {
		for x := head; ; {
			next, i := x.sibling(), x.index() // finish recycles x
			if done, _ := x.finish(cs); done {
				idx = i
			}
			if next == head {
				break
			}
			x = next
		}
	}
	if idx < 0 && err == nil {
		panic("sched: internal error: Select woken with no case done")
	}
	return idx, err
}

// nopCanceler makes a Select with no usable case interruptible: there is
// nothing to withdraw.
type nopCanceler struct{}

func (nopCanceler) cancelWait(*Task) {}

// deadlineAfter returns now+d on the scheduler clock, saturating.
func deadlineAfter(now int64, d time.Duration) int64 {
	if int64(d) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(d)
}

// randN advances the splitmix64 generator *state and returns a number in
// [0, n).
func randN(state *uint64, n int) int {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return int((z >> 32) * uint64(n) >> 32)
}

// Chan[T] as a selectable.

func (c *Chan[T]) selBind(t *Task) {
	if c.s != t.s {
		bindTaskSlow(&c.s, t, "Select on a Chan")
	}
}

func (c *Chan[T]) selReady(send bool) bool {
	if c.closed {
		return true
	}
	if send {
		return c.recvq.live() || c.n < len(c.buf)
	}
	return c.n > 0 || c.sendq.live()
}

func (c *Chan[T]) selDo(send bool, p any) error {
	if send {
		return c.trySend(*p.(*T))
	}
	v, err := c.tryRecv()
	if dst := p.(*T); dst != nil {
		*dst = v
	}
	return err
}

func (c *Chan[T]) selEnqueue(t *Task, send bool, p any, idx int, sl *sleeper) selNode {
	w := c.getWaiter(t, send)
	w.idx, w.sl = idx, sl
	if send {
		w.v = *p.(*T)
		c.sendq.push(w)
	} else {
		c.recvq.push(w)
	}
	return w
}

func (c *Chan[T]) selRand() *uint64 { return &c.rnd }

func (c *Chan[T]) selCross() crossChan { return nil }

// *waiter[T] as a selNode.

func (w *waiter[T]) sibling() selNode     { return w.sib }
func (w *waiter[T]) setSibling(n selNode) { w.sib = n }
func (w *waiter[T]) index() int           { return w.idx }

// finish withdraws w and returns it to its channel's free list. If its
// operation happened it reports true, and a receive stores its value
// through the case's destination.
func (w *waiter[T]) finish(cases []Case) (done, closed bool) {
	w.unqueue()
	done, closed = w.done, w.closed
	if done && !w.send {
		if dst := cases[w.idx].p.(*T); dst != nil {
			*dst = w.v
		}
	}
	w.c.putWaiter(w)
	return done, closed
}
