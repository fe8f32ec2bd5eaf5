package sched

import "runtime"

// The scheduler's inbox: how every other thread hands work to a
// scheduler (Go, Spawn, Do, Interrupt and the wake-ups of Inbox,
// Offload and cross-scheduler joins).
//
// The fast path is a lock-free ring (ring.go) of 64-byte
// slots: an item crosses from the sender's core to the scheduler's as
// one cache line, which the scheduler, spinning before it sleeps
// (spinIdle), reads as soon as the sender has written it. When the ring
// is full, senders append to an overflow slice under s.mu instead, and
// keep to it while it is not empty, so that each sender's items are
// taken in the order it posted them: the scheduler takes the overflow
// only once the ring is drained.
//
// A sender writes the poller's wake-up (eventfd, EVFILT_USER) only if
// the scheduler is asleep in the poller, or about to be (s.sleeping), and
// only the sender that moves s.sleeping from asleep to woken writes it:
// one write per sleep at most, however many senders saw it asleep. While
// the scheduler runs or spins a hand-off costs one slot.
//
// The poller's own woken flag, which only its drain of the wake-up
// clears, cannot give that bound alone: a sender that loaded sleeping
// true before the drain, or between the drain and the end of the sleep,
// found the flag clear after it and wrote a second wake-up to a
// scheduler already awake (seen in TestOneWakeupPerBurst beside busy
// loops: two writes for one sleep, the second 0.2 µs to 0.7 ms after the
// drain). Such a sender's CAS now fails: the sleep is over, or already
// woken. A wake-up written after the poll it was meant for returned
// (the poll ended for a timer, say) is left pending, and the next poll
// returns at once and drains it: a spurious poll, never a lost wake-up.

// s.sleeping's states.
const (
	sleepAwake  = iota // running, or spinning: a hand-off needs no wake-up
	sleepAsleep        // in the poller or about to be: the next sender wakes it
	sleepWoken         // a sender is writing, or has written, this sleep's wake-up
)

// inboxItem is work queued by another goroutine.
type inboxItem struct {
	op   inboxOp
	seq  uint32     // opWake, opDo from a task: the wait of t it ends (Task.waitSeq)
	t    *Task      // opSpawn: the task; opWake, opInterrupt: whom; opDo, opExec: the calling task (nil: a goroutine)
	fn   func()     // opCall; opDo from a task
	c    *call      // opDo, opExec: the call (from a task, where its outcome goes)
	err  error      // opWake: what the blocking call returns
	from *Scheduler // opDo from a task: t's scheduler
}

// inboxSlot is an inboxItem padded so that a ring slot (its sequence
// number and the item) fills one cache line.
type inboxSlot struct {
	inboxItem
	_ [64 - 8 - 56]byte
}

// inboxRing is the number of slots of the ring; more items overflow.
const inboxRing = 128

type inboxOp uint8

const (
	opSpawn     inboxOp = iota // start task t
	opWake                     // wake task t (cross-thread completion)
	opInterrupt                // interrupt task t
	opCall                     // run fn on the scheduler thread
	opDo                       // run a Do's function in a new task and wake its caller
	opExec                     // run c.fn on the scheduler thread and complete c (exec)
)

// abandon fails an item that can no longer be delivered because the
// scheduler finished.
func (it *inboxItem) abandon() {
	switch it.op {
	case opSpawn:
		it.t.abandon()
	case opCall:
		if it.fn != nil {
			it.fn() // calls queued by Do know to check the scheduler state
		}
	case opDo:
		if it.t == nil {
			if g := it.c.s.group; g != nil {
				g.taskEnded()
			}
		}
		it.c.complete(ErrStopped)
	case opExec:
		it.c.complete(ErrStopped)
	}
}

// post queues an item from another goroutine and wakes the scheduler if it
// sleeps. It reports false, queuing nothing, if the scheduler finished.
func (s *Scheduler) post(it inboxItem) bool {
	if s.inboxN.Load() == 0 {
		ok, e := s.ring.push(inboxSlot{inboxItem: it}, ringClosed)
		if ok {
			// The push published with a full barrier: this load and the
			// scheduler's sleeping.Swap-then-look in wait are a Dekker
			// handshake, and one of the two sees the other. A sender
			// that finds the sleep woken already needs no write: the
			// scheduler looks at the inbox after its poll returns.
			if s.sleeping.Load() == sleepAsleep && s.sleeping.CompareAndSwap(sleepAsleep, sleepWoken) {
				s.wakeUp()
			}
			return true
		}
		if e&ringClosed != 0 {
			return false // finished
		}
		// Full: overflow.
	}
	s.mu.Lock()
	if s.state.Load() == stateFinished {
		s.mu.Unlock()
		return false
	}
	s.inbox = append(s.inbox, it)
	s.inboxN.Swap(int32(len(s.inbox))) // a full barrier: see wait
	if s.sleeping.CompareAndSwap(sleepAsleep, sleepWoken) && s.state.Load() == stateRunning {
		if s.poller.wake() {
			s.wakeups.Add(1)
		}
	}
	s.mu.Unlock()
	return true
}

// wakeUp makes the poller return. Waking a scheduler that is not asleep
// only costs it one spurious poll. The wake-up is written under s.mu, which
// Run's end takes before it closes the poller: a late wake-up can never
// write to a closed (or reused) descriptor.
func (s *Scheduler) wakeUp() {
	s.mu.Lock()
	if s.state.Load() == stateRunning {
		if s.poller.wake() {
			s.wakeups.Add(1)
		}
	}
	s.mu.Unlock()
}

// inboxReady reports whether drainInbox would find an item now. An item
// of the overflow counts only once the ring is drained: while a push is
// in progress, its sender will wake the scheduler if need be.
func (s *Scheduler) inboxReady() bool {
	return s.ring.ready() || (s.inboxN.Load() != 0 && s.ring.drained())
}

// inboxEmpty reports whether nothing is queued and no post is in
// progress.
func (s *Scheduler) inboxEmpty() bool {
	return s.inboxN.Load() == 0 && s.ring.drained()
}

// drainInbox takes what other goroutines queued: at most a ring's worth
// from the ring, so that a flood of posts cannot keep the thread from its
// tasks, then the overflow if the ring is drained.
func (s *Scheduler) drainInbox() {
	n := 0
	first := uint64(0)
	for ; n < inboxRing; n++ {
		it, pos, ok := s.ring.take()
		if !ok {
			break
		}
		if n == 0 {
			first = pos
		}
		s.handle(&it.inboxItem)
	}
	// The slots go back to the senders only now, off the path from a
	// sender's item to what it starts (a Do's reply, say).
	for i := range uint64(n) {
		s.ring.free(first + i)
	}
	if s.inboxN.Load() != 0 && s.ring.drained() {
		s.mu.Lock()
		items := s.inbox
		s.inbox = s.inboxSpare[:0]
		s.inboxN.Store(0)
		s.mu.Unlock()
		for i := range items {
			s.handle(&items[i])
			items[i] = inboxItem{}
		}
		s.inboxSpare = items[:0]
		n += len(items)
	}
	if n > 0 {
		// Work came from another thread: more may follow soon, so spin
		// a little before the next sleep.
		s.spin.open()
	}
}

// handle carries out one item on the scheduler thread.
func (s *Scheduler) handle(it *inboxItem) {
	switch it.op {
	case opSpawn:
		s.spawn(it.t)
	case opWake:
		if it.t.waitSeq == it.seq {
			s.wake(it.t, it.err)
		}
	case opInterrupt:
		s.interrupt(it.t)
	case opCall:
		it.fn()
	case opDo:
		t := s.pooledTask()
		t.id = s.ids.Add(1)
		if it.t == nil {
			// A goroutine's call: handOff counted the task for the Group.
			t.fn = it.c.run
		} else {
			t.fn = s.doRunner(it).run
			if g := s.group; g != nil {
				g.taskStarted()
			}
		}
		s.spawn(t)
	case opExec:
		it.c.fn()
		it.c.complete(nil)
	}
}

// closeInbox ends the inbox when the scheduler finishes: later posts
// fail, and what was queued is abandoned. Called with s.mu held and the
// state set to finished.
func (s *Scheduler) closeInbox() []inboxItem {
	setFlag(&s.ring.enq, ringClosed)
	items := s.inbox
	s.inbox = nil
	s.inboxN.Store(0)
	return items
}

// abandonRing abandons what the ring holds, waiting for pushes that
// claimed a slot before the ring closed to publish it.
func (s *Scheduler) abandonRing() {
	for {
		for {
			it, ok := s.ring.pop(0)
			if !ok {
				break
			}
			it.abandon()
		}
		if s.ring.drained() {
			return
		}
		runtime.Gosched() // a sender between its claim and its publish
	}
}
