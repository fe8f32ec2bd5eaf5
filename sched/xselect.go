package sched

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Select with XChan cases. A Select of Chan cases alone runs on its
// task's thread with no lock (select.go); an XChan case can be completed
// by any thread, so a Select that has one works as the runtime's
// selectgo does: it locks every XChan of its cases (in address order, so
// that two Selects cannot deadlock), performs a ready case, or queues a
// waiter in every case with one sleeper shared by all, and unlocks. The
// operation that takes the sleeper first completes the Select; the
// others find it taken and drop their waiter. A task's Select may mix
// Chan and XChan cases; outside a task a Select may have XChan cases
// only, and blocks the goroutine.

// crossChan is an XChan seen by Select: the lock over its queues.
type crossChan interface {
	selLock()
	selUnlock()
	selAddr() uintptr
	selPrepare(send bool) // with the lock: raise the waiters flag
	selSettle()           // with the lock: settle the queues and flags
}

// sleepers pools the sleepers of blocking Selects.
var sleepers sync.Pool

func getSleeper() *sleeper {
	if sl, _ := sleepers.Get().(*sleeper); sl != nil {
		return sl
	}
	return new(sleeper)
}

// selectSpin is the spin window of goroutines blocked in Select.
var selectSpin atomicWindow

// crossLocks returns the distinct XChans of cs, in address order.
func crossLocks(cs []Case) []crossChan {
	var locks []crossChan
	for i := range cs {
		if cs[i].ch == nil {
			continue
		}
		if x := cs[i].ch.selCross(); x != nil && !slices.Contains(locks, x) {
			locks = append(locks, x)
		}
	}
	slices.SortFunc(locks, func(a, b crossChan) int {
		switch {
		case a.selAddr() < b.selAddr():
			return -1
		case a.selAddr() > b.selAddr():
			return 1
		}
		return 0
	})
	return locks
}

// selectLocked performs a ready case of cs, chosen uniformly at random,
// with every XChan of cs locked and its waiters flags raised. It returns
// the case's index and error, or -1 if no case is ready.
func selectLocked(cs []Case) (int, error) {
	for {
		ready := 0
		for i := range cs {
			if c := &cs[i]; c.ch != nil && c.ch.selReady(c.send) {
				ready++
			}
		}
		if ready == 0 {
			return -1, nil
		}
		k := rand.N(ready)
		for i := range cs {
			c := &cs[i]
			if c.ch == nil || !c.ch.selReady(c.send) {
				continue
			}
			if k > 0 {
				k--
				continue
			}
			// A case found ready fails only if the waiters that made it
			// ready belonged to Selects completed meanwhile on other
			// threads; they are gone now, so look again.
			if err := c.ch.selDo(c.send, c.p); err != ErrWouldBlock {
				return i, err
			}
			break
		}
	}
}

// selectPrepare locks the XChans of cs and raises their waiters flags
// for the directions of cs's cases.
func selectPrepare(cs []Case, locks []crossChan) {
	for _, x := range locks {
		x.selLock()
	}
	for i := range cs {
		if cs[i].ch == nil {
			continue
		}
		if x := cs[i].ch.selCross(); x != nil {
			x.selPrepare(cs[i].send)
		}
	}
}

// selectRelease settles and unlocks the XChans of cs.
func selectRelease(locks []crossChan) {
	for _, x := range locks {
		x.selSettle()
		x.selUnlock()
	}
}

// selectEnqueue queues a waiter for every case, all sharing sl, and
// returns the first of their ring.
func selectEnqueue(t *Task, cs []Case, sl *sleeper) selNode {
	var head, last selNode
	for i := range cs {
		c := &cs[i]
		if c.ch == nil {
			continue
		}
		n := c.ch.selEnqueue(t, c.send, c.p, i, sl)
		if head == nil {
			head = n
		} else {
			last.setSibling(n)
		}
		last = n
	}
	if head != nil {
		last.setSibling(head)
	}
	return head
}

// selectFinish withdraws every waiter of the ring at head and returns
// the index of the case that happened, or -1, and its error.
func selectFinish(head selNode, cs []Case) (int, error) {
	idx := -1
	var err error
	if head == nil {
		return idx, err
	}
	for x := head; ; {
		next, i := x.sibling(), x.index() // finish recycles x
		if done, closed := x.finish(cs); done {
			idx = i
			if closed {
				err = ErrClosed
			}
		}
		if next == head {
			break
		}
		x = next
	}
	return idx, err
}

// selCancel takes a blocked Select's sleeper for an interrupt or a
// timeout, unless an operation took it first.
type selCancel struct{ sl *sleeper }

func (c selCancel) cancelWait(*Task) { c.sl.take() }

// selectMixed is Select for task t when some case is an XChan.
func selectMixed(t *Task, cs []Case, timeout time.Duration) (int, error) {
	for i := range cs {
		if cs[i].ch != nil {
			cs[i].ch.selBind(t)
		}
	}
	locks := crossLocks(cs)
	selectPrepare(cs, locks)
	if i, err := selectLocked(cs); i >= 0 || timeout == 0 {
		selectRelease(locks)
		if i < 0 {
			return -1, ErrWouldBlock
		}
		return i, err
	}
	sl := getSleeper()
	sl.forTask(t)
	head := selectEnqueue(t, cs, sl)
	for _, x := range locks {
		x.selUnlock()
	}
	s := t.s
	if timeout > 0 {
		tm := t.timer()
		s.timers.set(tm, deadlineAfter(s.freshNanotime(), timeout))
		tm.arg = timerTimeout
	}
	err := s.block(t, waitXChan, nil, selCancel{sl})
	if t.timerPending() {
		s.timers.stop(&t.x.timer)
	}
	if err != nil {
		// An interrupt or timeout that block reported at once, without
		// cancelWait: withdraw now, unless an operation won.
		sl.take()
	}
	idx, cerr := selectFinish(head, cs)
	sleepers.Put(sl)
	switch {
	case idx >= 0:
		if err == ErrInterrupted {
			// The operation won the race: report the interrupt with
			// the task's next call.
			t.interruptPending = true
		}
		return idx, cerr
	case err == nil:
		panic("sched: internal error: Select woken with no case done")
	}
	return -1, err
}

// selectGoroutine is Select for a goroutine, which may use XChan cases
// only. timeout < 0 waits for ever, 0 polls.
func selectGoroutine(cs []Case, timeout time.Duration, what string) (int, error) {
	for i := range cs {
		if cs[i].ch != nil && cs[i].ch.selCross() == nil {
			// A Chan case: Chans are for tasks (an XChan may be used
			// anywhere).
			panicNoTask(what)
		}
	}
	if timeout != 0 {
		mustNotBlockThread(what)
	}
	locks := crossLocks(cs)
	selectPrepare(cs, locks)
	if i, err := selectLocked(cs); i >= 0 || timeout == 0 {
		selectRelease(locks)
		if i < 0 {
			return -1, ErrWouldBlock
		}
		return i, err
	}
	sl := getSleeper()
	sl.forGoroutine()
	head := selectEnqueue(nil, cs, sl)
	for _, x := range locks {
		x.selUnlock()
	}
	if timeout < 0 {
		sl.p.wait(&selectSpin)
	} else if !sl.p.waitTimeout(&selectSpin, timeout) {
		if sl.take() {
			selectFinish(head, cs)
			sleepers.Put(sl)
			return -1, errTimeout
		}
		sl.p.finishTimeout() // an operation won the race
	}
	idx, err := selectFinish(head, cs)
	sleepers.Put(sl)
	if idx < 0 {
		panic("sched: internal error: Select woken with no case done")
	}
	return idx, err
}
