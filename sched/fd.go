package sched

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/coopgo/coop/internal/fdhint"
)

// An FD is a descriptor registered with a scheduler's poller: a socket, a
// pipe, an eventfd, a signalfd, a terminal. It is registered once,
// edge-triggered, for both directions; tasks wait for it to become
// readable or writable, with deadlines, and Close wakes them with an error
// matching net.ErrClosed.
//
// The descriptor must be in non-blocking mode. Register does not change
// that: the caller owns the descriptor's flags.
//
// # Threading
//
// The readiness methods (Readable, ClearReadable, WaitRead, CheckRead and
// their write twins) are for tasks of the FD's scheduler only; they panic
// elsewhere. This is the fast path: the state they touch belongs to the
// scheduler thread, so they need no lock and no atomic. Read, Write,
// Close and the deadline setters may be called from any goroutine: off the
// scheduler thread they are handed to it and wait for the result.
//
// # Readiness
//
// An FD remembers the last edge in each direction: Readable is true from an
// event until the owner of the descriptor says the data is drained
// (ClearReadable, after a read that returned EAGAIN, or a short read on a
// stream socket). Reading only when Readable saves the read that returns
// EAGAIN, 0.26 µs a request on the machines of the study: after a short
// read the next read waits for the next edge instead. A new registration
// starts not readable and not writable; epoll reports the current state
// at once as a first edge.
type FD struct {
	// An FD is 128 bytes, a size class of its own, so Go allocates it on
	// a 128-byte boundary: the first cache line holds everything an
	// event, a read and a write touch (a session at thousands of
	// connections finds its FD cold on every request), the second what
	// closing it and deadlines need. The deadline timers, 64 bytes, are
	// allocated on the first deadline.
	rd, wr fdDir
	s      *Scheduler
	seq    uint32
	closed bool

	sysfd     int
	tm        *fdTimers // the deadlines, once one is set
	closeMu   sync.Mutex
	sysClosed bool // under closeMu: closing when the scheduler is not running, from any goroutine
	// hint holds the addresses of what a task waiting on f touches first
	// when it wakes (netio's Conn and Reader, through internal/fdhint),
	// which the scheduler prefetches ahead of switching to the task
	// (prefetchTask). Only addresses: never dereferenced, and no
	// references that keep the objects alive.
	hint [fdhint.N]uintptr
	_    [16]byte
}

func init() {
	fdhint.Register(func(fd any, i int, p uintptr) {
		if f, ok := fd.(*FD); ok && f.ok() && i >= 0 && i < len(f.hint) {
			f.hint[i] = p
		}
	})
}

// fdDir is one direction of an FD.
type fdDir struct {
	waiters taskRing    // tasks in WaitRead or WaitWrite
	hook    func(error) // SetReadHook's or SetWriteHook's function while armed
	ready   bool
	hup     bool // reading: the peer hung up; readable from now on
	expired bool // the deadline has passed
	// timed: this direction's deadline timer was set and not stopped
	// since (it may have fired). Clearing a deadline stops the timer only
	// then: a ready-mode server clears the read deadline each time a
	// connection goes back to idle, and f.tm is in the second cache line.
	timed bool
}

// fdTimers are an FD's deadlines.
type fdTimers struct {
	rd, wr timer
}

// timers returns f's deadline timers, allocating them on first need.
func (f *FD) timers() *fdTimers {
	if f.tm == nil {
		f.tm = &fdTimers{}
		f.tm.rd.init(f, fdTimerRead)
		f.tm.wr.init(f, fdTimerWrite)
	}
	return f.tm
}

// timer returns the deadline timer of direction d.
func (f *FD) timer(d *fdDir) *timer {
	if d == &f.rd {
		return &f.timers().rd
	}
	return &f.timers().wr
}

// Timer arguments of an FD.
const (
	fdTimerRead uint8 = iota
	fdTimerWrite
)

// Register registers the non-blocking descriptor fd with s's poller and
// returns its FD. It may be called from any goroutine, before or during
// Run; the caller keeps owning fd until the FD's Close, which closes it.
func (s *Scheduler) Register(fd int) (*FD, error) {
	if fd < 0 {
		return nil, fmt.Errorf("sched: Register: bad descriptor %d", fd)
	}
	var f *FD
	var err error
	if xerr := s.exec("Scheduler.Register", func() { f, err = s.register(fd, false) }); xerr != nil {
		return nil, xerr
	}
	return f, err
}

func (s *Scheduler) register(fd int, exclusive bool) (*FD, error) {
	if err := s.initPoller(); err != nil {
		return nil, err
	}
	s.fdSeq++
	f := &FD{s: s, sysfd: fd, seq: s.fdSeq}
	add := s.poller.add
	if exclusive {
		add = s.poller.addExclusive
	}
	if err := add(fd, f.seq); err != nil {
		return nil, err
	}
	for fd >= len(s.fds) {
		s.fds = append(s.fds, make([]*FD, len(s.fds)+64)...)
	}
	s.fds[fd] = f
	s.nFDs++
	return f, nil
}

// Sysfd returns the descriptor number.
func (f *FD) Sysfd() int { return f.sysfd }

// Scheduler returns the scheduler f is registered with.
func (f *FD) Scheduler() *Scheduler { return f.s }

// String returns a short description such as "fd 7".
func (f *FD) String() string { return "fd " + strconv.Itoa(f.sysfd) }

// ok reports whether f was made by Register: a zero (or nil) FD's Read,
// Write, Close and deadline setters return errNotRegistered, as a nil
// *os.File's methods return os.ErrInvalid, rather than dereference its
// nil scheduler. The calls only a task of f's scheduler may make
// (WaitRead, WaitWrite, the hooks) panic instead, as they do off the
// thread.
func (f *FD) ok() bool { return f != nil && f.s != nil }

// errNotRegistered is what the methods of an FD not made by Register
// return. It matches os.ErrInvalid.
var errNotRegistered = fmt.Errorf("sched: FD not made by Register: %w", os.ErrInvalid)

// mustBeRegistered panics, naming the call FD.what, unless f was made by
// Register: for the calls only a task of f's scheduler may make.
func (f *FD) mustBeRegistered(what string) {
	if !f.ok() {
		panic("sched: FD." + what + ": FD not made by Register")
	}
}

// mustTask returns the calling task, which must be a task of f's scheduler.
func (f *FD) mustTask(what string) *Task {
	f.mustBeRegistered(what)
	t := f.s.Current()
	if t == nil {
		panic(errNotOnThread("FD." + what))
	}
	return t
}

// Readable reports whether an edge said f is readable and no read since
// found it drained. Only for tasks of f's scheduler.
func (f *FD) Readable() bool { return f.rd.ready }

// Writable reports whether an edge said f is writable and no write since
// found it full. Only for tasks of f's scheduler.
func (f *FD) Writable() bool { return f.wr.ready }

// ClearReadable records that f's input is drained: the next WaitRead waits
// for a new edge. Call it after a read returned EAGAIN, or a short read on
// a stream socket. Once the peer has hung up (an edge reported it), f stays
// readable: no further edge will come, and reads return what is left, then
// end of stream.
func (f *FD) ClearReadable() { f.rd.ready = f.rd.hup }

// ClearHangup is ClearReadable for a descriptor whose hang-up or error is
// not final: it also forgets that an edge reported one. On a datagram
// socket an error (EPOLLERR after an ICMP error on a connected UDP
// socket) is consumed by the receive that reports it, and a new error
// brings a new edge; kept, it would make every later receive retry at
// once, forever. Only for tasks of f's scheduler.
func (f *FD) ClearHangup() { f.rd.ready, f.rd.hup = false, false }

// ClearWritable records that f's output buffer is full: call it after a
// write returned EAGAIN or wrote short.
func (f *FD) ClearWritable() { f.wr.ready = false }

// MarkWritable records that f is writable without waiting for an edge to
// say so: a freshly connected or accepted socket nearly always is, and a
// wrong guess costs one write that returns EAGAIN.
func (f *FD) MarkWritable() { f.wr.ready = true }

// CheckRead returns the error a read must fail with before touching the
// descriptor — closed (matching net.ErrClosed) or past its read deadline
// (matching os.ErrDeadlineExceeded) — or nil.
func (f *FD) CheckRead() error { return f.check(&f.rd) }

// CheckWrite is CheckRead for writes.
func (f *FD) CheckWrite() error { return f.check(&f.wr) }

func (f *FD) check(d *fdDir) error {
	if f.closed {
		return ErrClosed
	}
	if d.expired {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// WaitRead parks the calling task until f is readable, and returns nil; or
// returns the error that ends the wait: f closed (net.ErrClosed), the read
// deadline (os.ErrDeadlineExceeded), an interrupt (ErrInterrupted). It
// returns at once if f is already readable. A nil error means f is still
// open when the task runs again: a close that came after the edge that
// woke it is reported, not hidden behind that edge. A deadline that passes
// after the edge is not: the input came first (the scheduler fires a
// deadline only after it has looked at the descriptors at or after it),
// and the caller reads it, as with package net; the next wait reports the
// deadline.
//
// WaitRead and WaitWrite are written out rather than sharing a helper: an
// idle connection's task keeps these frames on its stack.
func (f *FD) WaitRead() error {
	t := f.mustTask("WaitRead")
	if err := f.check(&f.rd); err != nil || f.rd.ready {
		return err
	}
	f.rd.waiters.push(t)
	if err := f.s.block(t, waitRead, f, fdCanceler{&f.rd}); err != nil {
		return err
	}
	// The edge that woke t and a Close can come in one turn of the host
	// loop, the close last: the caller must not touch a descriptor that
	// is gone, or whose number another one now has.
	if f.closed {
		return ErrClosed
	}
	return nil
}

// WaitWrite is WaitRead for writability.
func (f *FD) WaitWrite() error {
	t := f.mustTask("WaitWrite")
	if err := f.check(&f.wr); err != nil || f.wr.ready {
		return err
	}
	f.wr.waiters.push(t)
	if err := f.s.block(t, waitWrite, f, fdCanceler{&f.wr}); err != nil {
		return err
	}
	if f.closed { // as in WaitRead
		return ErrClosed
	}
	return nil
}

// fdCanceler takes an interrupted task off a direction's waiters.
type fdCanceler struct{ d *fdDir }

func (c fdCanceler) cancelWait(t *Task) { c.d.waiters.remove(t) }

// wakeAll wakes every waiter of d with err.
func (s *Scheduler) wakeAll(d *fdDir, err error) {
	for t := d.waiters.pop(); t != nil; t = d.waiters.pop() {
		s.wake(t, err)
	}
}

// fire is a deadline of f passing, on the scheduler thread.
func (f *FD) fire(arg uint8) {
	d := &f.rd
	if arg == fdTimerWrite {
		d = &f.wr
	}
	d.expired, d.timed = true, false
	f.s.wakeAll(d, os.ErrDeadlineExceeded)
	f.runHook(d, os.ErrDeadlineExceeded)
}

// SetReadHook arms h to be called once, on the scheduler thread, when f
// next becomes readable while no task waits to read it: with nil when an
// edge arrives (or at once if f is already readable), with an error
// matching os.ErrDeadlineExceeded when the read deadline passes, or one
// matching net.ErrClosed when f is closed. h must not block; it typically
// starts a task (Scheduler.Go and Spawn from the thread are direct) or
// signals one (the non-blocking calls of Chan, Cond, WaitGroup and Mutex
// work there). The hook is disarmed before it is called; arm it again to
// be told again. A nil h disarms. This is what lets an idle connection
// hold no task and no stack (netio's ready mode), and what a hand-written
// state machine runs on. Only on the scheduler thread: in its tasks, or
// in a hook.
func (f *FD) SetReadHook(h func(error)) { f.setHook(true, h, "SetReadHook") }

// SetWriteHook is SetReadHook for writability.
func (f *FD) SetWriteHook(h func(error)) { f.setHook(false, h, "SetWriteHook") }

func (f *FD) setHook(read bool, h func(error), what string) {
	f.mustBeRegistered(what)
	d := &f.wr
	if read {
		d = &f.rd
	}
	if !f.s.onThread() {
		panic(errNotOnThread("FD." + what))
	}
	if (d.hook == nil) != (h == nil) {
		if h == nil {
			f.s.nHooks--
		} else {
			f.s.nHooks++
		}
	}
	d.hook = h
	if h == nil {
		return
	}
	switch {
	case f.closed:
		f.runHook(d, ErrClosed)
	case d.expired:
		f.runHook(d, os.ErrDeadlineExceeded)
	case d.ready:
		f.runHook(d, nil)
	}
}

// runHook calls and disarms d's hook, if armed.
func (f *FD) runHook(d *fdDir, err error) {
	if h := d.hook; h != nil {
		d.hook = nil
		f.s.nHooks--
		f.s.stats.hooks++
		h(err)
	}
}

// SetReadDeadline sets the time after which waits for reading fail with
// os.ErrDeadlineExceeded, including a wait already in progress; the zero
// time means none. A deadline in the past fails reads at once, even if
// data is waiting. It may be called from any goroutine. The deadline is on
// the scheduler's clock: the real clock, or the virtual one with
// WithVirtualTime, where a time derived from time.Now() counts as its
// distance from now (see WithVirtualTime).
func (f *FD) SetReadDeadline(t time.Time) error { return f.setDeadline(t, true, false) }

// SetWriteDeadline is SetReadDeadline for writes.
func (f *FD) SetWriteDeadline(t time.Time) error { return f.setDeadline(t, false, true) }

// SetDeadline sets both deadlines.
func (f *FD) SetDeadline(t time.Time) error { return f.setDeadline(t, true, true) }

func (f *FD) setDeadline(t time.Time, read, write bool) error {
	if !f.ok() {
		return errNotRegistered
	}
	s := f.s
	if s.onThread() {
		return f.setDeadlineOnThread(t, read, write)
	}
	var err error
	if xerr := s.exec("FD.SetDeadline", func() { err = f.setDeadlineOnThread(t, read, write) }); xerr != nil {
		return xerr
	}
	return err
}

func (f *FD) setDeadlineOnThread(t time.Time, read, write bool) error {
	if f.closed {
		return ErrClosed
	}
	var when int64
	if !t.IsZero() {
		when = f.s.clockOf(t)
		if when <= 0 {
			when = -1 // before the scheduler's epoch: already past
		}
	}
	if read {
		f.s.setFDDeadline(f, &f.rd, when)
	}
	if write {
		f.s.setFDDeadline(f, &f.wr, when)
	}
	return nil
}

func (s *Scheduler) setFDDeadline(f *FD, d *fdDir, when int64) {
	switch {
	case when == 0:
		d.expired = false
		if d.timed {
			d.timed = false
			s.timers.stop(f.timer(d))
		}
	case when <= s.freshenedNanotime():
		if d.timed {
			d.timed = false
			s.timers.stop(f.timer(d))
		}
		d.expired = true
		s.wakeAll(d, os.ErrDeadlineExceeded)
		f.runHook(d, os.ErrDeadlineExceeded)
	default:
		d.expired = false
		d.timed = true
		s.timers.set(f.timer(d), when)
	}
}

// Close unregisters f, wakes its waiters with an error matching
// net.ErrClosed and closes the descriptor. It may be called from any
// goroutine, and more than once: later calls return an error matching
// net.ErrClosed.
func (f *FD) Close() error {
	if !f.ok() {
		return errNotRegistered
	}
	var err error
	if xerr := f.s.exec("FD.Close", func() { err = f.closeOnThread() }); xerr != nil {
		// The scheduler has finished: nothing else can touch f.
		return f.closeSys()
	}
	return err
}

func (f *FD) closeOnThread() error {
	if f.closed {
		return ErrClosed
	}
	f.closed = true
	s := f.s
	if s.fds != nil && f.sysfd < len(s.fds) && s.fds[f.sysfd] == f {
		s.fds[f.sysfd] = nil
		s.nFDs--
		s.poller.del(f.sysfd) // closing the descriptor unregisters it anyway
	}
	if f.tm != nil {
		s.timers.stop(&f.tm.rd)
		s.timers.stop(&f.tm.wr)
	}
	s.wakeAll(&f.rd, ErrClosed)
	s.wakeAll(&f.wr, ErrClosed)
	f.runHook(&f.rd, ErrClosed)
	f.runHook(&f.wr, ErrClosed)
	return f.closeSys()
}

func (f *FD) closeSys() error {
	f.closeMu.Lock()
	defer f.closeMu.Unlock()
	if f.sysClosed {
		return ErrClosed
	}
	f.sysClosed = true
	return wrapSyscall("close", closeFD(f.sysfd))
}

// Read reads from f into p: it waits for readability and retries on
// EAGAIN. It may be called from any goroutine: off the scheduler thread it
// runs in a task of f's scheduler and waits for it. A read of 0 bytes with
// no error on a non-empty p is end of file.
func (f *FD) Read(p []byte) (n int, err error) {
	if !f.ok() {
		return 0, errNotRegistered
	}
	if f.s.Current() == nil {
		if derr := f.s.Do(func() { n, err = f.Read(p) }); derr != nil {
			return 0, derr
		}
		return n, err
	}
	for {
		if err := f.CheckRead(); err != nil {
			return 0, err
		}
		if !f.rd.ready {
			if err := f.WaitRead(); err != nil {
				return 0, err
			}
		}
		n, err := readFD(f.sysfd, p)
		if err == errAgain {
			f.rd.ready = false
			continue
		}
		if err != nil {
			return 0, wrapSyscall("read", err)
		}
		return n, nil
	}
}

// Write writes all of p to f, waiting for writability as needed. Like
// Read, it may be called from any goroutine.
func (f *FD) Write(p []byte) (n int, err error) {
	if !f.ok() {
		return 0, errNotRegistered
	}
	if f.s.Current() == nil {
		if derr := f.s.Do(func() { n, err = f.Write(p) }); derr != nil {
			return 0, derr
		}
		return n, err
	}
	for n < len(p) {
		if err := f.CheckWrite(); err != nil {
			return n, err
		}
		if !f.wr.ready {
			if err := f.WaitWrite(); err != nil {
				return n, err
			}
		}
		m, err := writeFD(f.sysfd, p[n:])
		if err == errAgain {
			f.wr.ready = false
			continue
		}
		if err != nil {
			return n, wrapSyscall("write", err)
		}
		n += m
	}
	return n, nil
}
