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
	busy    bool
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
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cond == nil {
		l.cond = sched.NewCond(&l.mu)
	}
	l.waiting++
	defer func() { l.waiting-- }()
	for l.busy {
		if err := l.cond.Wait(); err != nil {
			return err
		}
	}
	l.busy = true
	return nil
}

func (l *writeLock) unlock() {
	l.busy = false
	if l.waiting > 0 {
		l.mu.Lock()
		l.cond.Signal()
		l.mu.Unlock()
	}
}
