//go:build darwin || dragonfly || freebsd

package sched

import "golang.org/x/sys/unix"

// The wake-up is an EVFILT_USER event. NetBSD has EVFILT_USER only since
// 10.0 and golang.org/x/sys/unix does not define it there, so netbsd uses
// the pipe of poll_kqueue_pipe.go, as the runtime does.
type kqWake struct {
	kq int
}

// wakeIdent identifies the wake-up event among EVFILT_USER events ("coop";
// it must fit an int on 32-bit systems).
const wakeIdent = 0x636f6f70

func (w *kqWake) init(kq int) error {
	// EV_CLEAR: returning the event resets the trigger, so that
	// consuming the wake-up takes no system call.
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], wakeIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	if err := kevent(kq, ev[:]); err != nil {
		return wrapSyscall("kevent", err)
	}
	w.kq = kq
	return nil
}

func (w *kqWake) close() {} // closing the kqueue removes the event

func (w *kqWake) is(ev *unix.Kevent_t) bool {
	return ev.Filter == unix.EVFILT_USER && ev.Ident == wakeIdent
}

func (w *kqWake) drain() {} // done by the kernel when it returned the event

// trigger may run on any goroutine. It has no error to return: the event
// exists as long as the kqueue, and on a kqueue closed since, waking is moot.
func (w *kqWake) trigger() {
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], wakeIdent, unix.EVFILT_USER, 0)
	ev[0].Fflags = unix.NOTE_TRIGGER
	kevent(w.kq, ev[:])
}
