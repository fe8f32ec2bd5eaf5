//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package sched

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The kqueue backend. The wake-up differs by what the kernel offers:
// poll_kqueue_user.go (EVFILT_USER) or poll_kqueue_pipe.go (a pipe); each
// provides type kqWake and the methods init, close, is, drain and trigger.
//
// Every call goes through unix.Kevent, that is the runtime's syscall path,
// even the ones that cannot block: darwin and openbsd allow system calls
// only through libc, and one code path for all five systems is worth the
// ~35 ns of bookkeeping on registration and on non-blocking polls.
type poller struct {
	kq     int
	live   bool // kq is open (descriptor 0 is a valid kqueue)
	events [eventBatch]unix.Kevent_t
	ts     unix.Timespec // wait's timeout, here so that it does not escape per call

	// seqs[fd] is the seq of fd's current registration. Udata cannot
	// carry it portably: it is an integer on netbsd but a *byte on the
	// others, and an integer stored in a pointer field (by us, or by the
	// kernel when it copies events back into p.events) is a bad pointer
	// to the garbage collector. The table is exact because kqueue, unlike
	// epoll, ties a registration to the descriptor number: close(2)
	// removes the descriptor's filters and any event already queued for
	// them, so every event kevent returns belongs to the registration
	// that is current when it is read, whose seq is here.
	seqs []uint32

	wk    kqWake
	woken atomic.Bool // a wake-up is triggered and not yet consumed
}

// eventsPerFD is how many entries of kqueue's queue a descriptor can
// hold at once: its read and its write filter (see seenPartly).
const eventsPerFD = 2

// maxWaitSec caps a kevent timeout: darwin fails with EINVAL beyond 1e8
// seconds. The runtime uses the same cap; the scheduler simply waits again.
const maxWaitSec = 1e6

func (p *poller) init() error {
	kq, err := unix.Kqueue()
	if err != nil {
		return wrapSyscall("kqueue", err)
	}
	unix.CloseOnExec(kq)
	if err := p.wk.init(kq); err != nil {
		unix.Close(kq)
		return err
	}
	p.kq, p.live = kq, true
	return nil
}

func (p *poller) close() {
	if p.live {
		p.wk.close()
		unix.Close(p.kq)
		p.live = false
	}
}

func (p *poller) add(fd int, seq uint32) error {
	if fd >= len(p.seqs) {
		p.seqs = append(p.seqs, make([]uint32, fd+1-len(p.seqs))...)
	}
	p.seqs[fd] = seq
	ch := filters(fd, unix.EV_ADD|unix.EV_CLEAR)
	if err := kevent(p.kq, ch[:]); err != nil {
		// Without an event list, kevent stops at the first change that
		// fails, so the read filter may be in: take it out again, so
		// that a registration is always both filters or neither.
		ch = filters(fd, unix.EV_DELETE)
		kevent(p.kq, ch[:1])
		return wrapSyscall("kevent", err)
	}
	return nil
}

// addExclusive is add: kqueue wakes every kqueue that watches a shared
// descriptor, and has no flag to wake only one.
func (p *poller) addExclusive(fd int, seq uint32) error { return p.add(fd, seq) }

func (p *poller) del(fd int) error {
	// add installs both filters or neither, so ENOENT (on the first
	// filter, which stops the call) means there is nothing to remove.
	ch := filters(fd, unix.EV_DELETE)
	err := kevent(p.kq, ch[:])
	if err == unix.ENOENT {
		err = nil
	}
	return wrapSyscall("kevent", err)
}

// filters returns the changes that apply flags to fd's read and write
// filters, read first.
func filters(fd, flags int) [2]unix.Kevent_t {
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, flags)
	unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, flags)
	return ch
}

// kevent applies changes only. The kernel applies all of them before it
// would return EINTR, but, as the runtime does, retry to be sure; adding
// or deleting twice is harmless.
func kevent(kq int, changes []unix.Kevent_t) error {
	for {
		_, err := unix.Kevent(kq, changes, nil, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

func (p *poller) wait(s *Scheduler, timeout int64) (seen, error) {
	var tsp *unix.Timespec
	if timeout >= 0 {
		p.ts = unix.NsecToTimespec(timeout)
		p.ts.Sec = min(p.ts.Sec, maxWaitSec)
		tsp = &p.ts
	}
	n, err := unix.Kevent(p.kq, nil, p.events[:], tsp)
	if err != nil {
		// ETIMEDOUT: darwin has been seen to return it for a timed
		// wait (go.dev/issue/59679); it means no events, as EINTR does.
		if err == unix.ETIMEDOUT && timeout != 0 {
			return seenAtEnd, nil
		}
		if err == unix.EINTR || err == unix.ETIMEDOUT {
			return seenAtStart, nil
		}
		return seenAtStart, wrapSyscall("kevent", err)
	}
	if n == 0 && timeout != 0 {
		// Slept until the timeout (or maxWaitSec) with nothing coming.
		return seenAtEnd, nil
	}
	for i := range n {
		ev := &p.events[i]
		if p.wk.is(ev) {
			// Consume, then clear: a wake-up that finds the flag still
			// set between the two is not lost, since this wait returns
			// and the loop looks at the inbox afterwards; clearing first
			// could let a wake-up's trigger be consumed here while its
			// flag stays set, and every later wake-up would be skipped.
			p.wk.drain()
			p.woken.Store(false)
			continue
		}
		fd := int(ev.Ident)
		if fd >= len(p.seqs) {
			continue // cannot happen: only add registers descriptors
		}
		// One event per filter; EV_EOF (peer closed, or on the read side
		// of a pipe whose other end is gone, where no write event comes)
		// and EV_ERROR wake both directions, whose retried calls then
		// see the condition.
		read := ev.Filter == unix.EVFILT_READ
		write := ev.Filter == unix.EVFILT_WRITE
		hup := ev.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0
		if hup {
			read, write = true, true
		}
		s.event(int32(fd), p.seqs[fd], read, write, hup)
	}
	if n == len(p.events) {
		return seenPartly, nil
	}
	return seenAtStart, nil
}

func (p *poller) wake() bool {
	if p.woken.Swap(true) {
		return false // a wake-up is already pending
	}
	p.wk.trigger()
	return true
}
