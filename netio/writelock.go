package netio

import "github.com/coopgo/coop/sched"

// The write lock keeps the writes of one Conn from interleaving. It lives
// on the Conn's scheduler thread, where tasks switch only when they block,
// so a write that completes without parking needs no lock at all: the lock
// matters only once a write has parked midway (a full send buffer). The
// uncontended path is therefore a flag (Conn.wbusy) — no lookup of the
// calling task, no queue — and a write that finds another parked midway
// waits, in arrival order, on a sched.Cond (Conn.wslow, made by the first
// write that has to wait). Its two fields sit apart in the Conn, the flag
// among the Conn's other flags: as a struct of its own, a bool and a
// pointer, it took 16 of the first cache line's 64 bytes.

// writeWait is the part of a writeLock that only contention needs.
type writeWait struct {
	waiting int
	mu      sched.Mutex
	cond    *sched.Cond
}

// lockWrite takes the write lock; it returns an error only if the caller,
// waiting for a write parked midway, is interrupted.
func (c *Conn) lockWrite() error {
	if !c.wbusy {
		c.wbusy = true
		return nil
	}
	return c.lockWriteSlow()
}

func (c *Conn) lockWriteSlow() error {
	if c.wslow == nil {
		c.wslow = &writeWait{}
		c.wslow.cond = sched.NewCond(&c.wslow.mu)
	}
	w := c.wslow
	w.mu.Lock()
	defer w.mu.Unlock()
	w.waiting++
	defer func() { w.waiting-- }()
	for c.wbusy {
		if err := w.cond.Wait(); err != nil {
			return err
		}
	}
	c.wbusy = true
	return nil
}

func (c *Conn) unlockWrite() {
	c.wbusy = false
	if w := c.wslow; w != nil && w.waiting > 0 {
		w.mu.Lock()
		w.cond.Signal()
		w.mu.Unlock()
	}
}
