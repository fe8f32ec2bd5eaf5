//go:build netbsd || openbsd

package sched

import "golang.org/x/sys/unix"

// The wake-up is a byte written to a non-blocking pipe whose read end the
// kqueue watches: openbsd has no EVFILT_USER, and netbsd has it only since
// 10.0 (golang.org/x/sys/unix does not define it there). The wake flag
// keeps at most one byte in the pipe.
type kqWake struct {
	r, w int
	buf  [16]byte // drain's buffer, here so that it does not escape
}

// wakeByte is what trigger writes; read-only, shared by all pollers.
var wakeByte = []byte{0}

func (w *kqWake) init(kq int) error {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return wrapSyscall("pipe2", err)
	}
	// Level-triggered: a byte left in the pipe keeps the next wait from
	// sleeping.
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], fds[0], unix.EVFILT_READ, unix.EV_ADD)
	if err := kevent(kq, ev[:]); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return wrapSyscall("kevent", err)
	}
	w.r, w.w = fds[0], fds[1]
	return nil
}

func (w *kqWake) close() {
	unix.Close(w.r)
	unix.Close(w.w)
}

// is needs no filter check: the read end is registered for reading only,
// and no FD can have its number while it is open.
func (w *kqWake) is(ev *unix.Kevent_t) bool { return int(ev.Ident) == w.r }

func (w *kqWake) drain() { unix.Read(w.r, w.buf[:]) }

// trigger may run on any goroutine. EAGAIN (a full pipe) still leaves the
// read end readable; other errors mean the pipe is closed, and waking moot.
func (w *kqWake) trigger() { unix.Write(w.w, wakeByte) }
