package sched

import "sync"

// A Cond is a condition variable for the tasks of one scheduler: a
// rendezvous point for tasks waiting for, or announcing, an event. It
// binds to the scheduler of the first task that uses it.
//
// L is held while the condition is observed or changed; it is typically a
// *Mutex, and must be one if tasks hold it across other blocking calls.
// A Cond must not be copied after first use.
//
// Unlike sync.Cond, Wait is interruptible: it returns ErrInterrupted, with
// L locked again, when the task is interrupted.
type Cond struct {
	L sync.Locker

	s       *Scheduler // bound on first use
	waiters taskList   // tasks blocked in Wait, oldest first
}

// NewCond returns a Cond with locker l.
func NewCond(l sync.Locker) *Cond {
	return &Cond{L: l}
}

// Wait unlocks c.L, parks the calling task until Signal or Broadcast
// wakes it, and locks c.L again before returning. As with sync.Cond, the
// caller must hold c.L, and should check its condition in a loop:
//
//	mu.Lock()
//	for !condition() {
//		if err := c.Wait(); err != nil {
//			... // interrupted: mu is locked
//		}
//	}
//	... use the condition ...
//	mu.Unlock()
//
// Wait returns ErrInterrupted if the task is interrupted while it waits,
// or was interrupted before the call; else nil.
func (c *Cond) Wait() error {
	t := bindTask(&c.s, "Cond.Wait")
	c.L.Unlock()
	c.waiters.push(t)
	relocked := false
	defer func() {
		if !relocked {
			// The task is unwinding at the end of Run: let its
			// deferred Unlock find L held, as it would after Wait.
			if m, ok := c.L.(*Mutex); ok {
				m.relockForUnwind()
			}
		}
	}()
	err := c.s.block(t, waitCond, nil, c)
	removeQueued(&c.waiters, t) // block returned at once on a pending interrupt
	c.L.Lock()
	relocked = true
	return err
}

// cancelWait takes an interrupted task out of c's waiters.
func (c *Cond) cancelWait(t *Task) {
	removeQueued(&c.waiters, t)
}

// Signal wakes the task that has waited longest on c, if any. The caller
// need not hold c.L.
func (c *Cond) Signal() {
	bindThread(&c.s, "Cond.Signal")
	if t := c.waiters.pop(); t != nil {
		c.s.wake(t, nil)
	}
}

// Broadcast wakes every task waiting on c. The caller need not hold c.L.
func (c *Cond) Broadcast() {
	bindThread(&c.s, "Cond.Broadcast")
	for t := c.waiters.pop(); t != nil; t = c.waiters.pop() {
		c.s.wake(t, nil)
	}
}
