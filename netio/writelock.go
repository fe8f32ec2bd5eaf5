package netio

import "github.com/coopgo/coop/sched"

// writeLock keeps the writes of one Conn from interleaving. It lives on
// the Conn's scheduler thread, where tasks switch only when they block, so
// a write that completes without parking needs no lock at all: the lock
// matters only once a write has parked midway (a full send buffer). The
// uncontended path is therefore a flag — no lookup of the calling task, no
// queue — and a write that finds another parked midway waits, in arrival
// order, on a sched.Cond.
type writeLock struct {
	busy bool
	slow *writeWait // made by the first write that has to wait
}

// writeWait is the part of a writeLock that only contention needs.
type writeWait struct {
	waiting int
	mu      sched.Mutex
	cond    *sched.Cond
}

// lock takes the lock; it returns an error only if the caller, waiting
// for a write parked midway, is interrupted.
func (l *writeLock) lock() error {
	if !l.busy {
		l.busy = true
		return nil
	}
	return l.lockSlow()
}

func (l *writeLock) lockSlow() error {
	if l.slow == nil {
		l.slow = &writeWait{}
		l.slow.cond = sched.NewCond(&l.slow.mu)
	}
	w := l.slow
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting++
	defer func() { w.waiting-- }()
	for l.busy {
		if err := w.cond.Wait(); err != nil {
			return err
		}
	}
	l.busy = true
	return nil
}

func (l *writeLock) unlock() {
	l.busy = false
	if w := l.slow; w != nil && w.waiting > 0 {
		w.mu.Lock()
		w.cond.Signal()
		w.mu.Unlock()
	}
}
