package netio

import (
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/coopgo/coop/sched"
)

// ErrUnsupported is returned on systems without readiness polling.
var ErrUnsupported = errors.ErrUnsupported

// wrapSyscall wraps an errno as *os.SyscallError, as internal/poll does.
func wrapSyscall(name string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*os.SyscallError); ok {
		return err
	}
	return os.NewSyscallError(name, err)
}

// mapErr turns the scheduler's errors into the standard library's: a
// closed descriptor reads "use of closed network connection" (net.ErrClosed)
// and a stopped scheduler is a closed connection too.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sched.ErrClosed), errors.Is(err, sched.ErrStopped):
		return net.ErrClosed
	}
	return err
}

// mustScheduler panics, naming the exported function fn, if s is nil:
// a nil scheduler would otherwise fail as a nil dereference deep inside,
// far from the call that passed it (sched.NewInbox does the same). A zero
// Scheduler, not made by sched.New, panics in package sched as soon as it
// is asked to take a descriptor or run a call.
func mustScheduler(s *sched.Scheduler, fn string) {
	if s == nil {
		panic("netio: " + fn + " with nil Scheduler")
	}
}

// mustGroup is mustScheduler for a *sched.Group: nil, or a zero Group
// (no schedulers), which would listen nowhere.
func mustGroup(g *sched.Group, fn string) {
	if g == nil {
		panic("netio: " + fn + " with nil Group")
	}
	if g.Len() == 0 {
		panic("netio: " + fn + " with a Group not made by sched.NewGroup")
	}
}

// opError builds the *net.OpError a net.Conn method returns.
func opError(op, network string, source, addr net.Addr, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: network, Source: source, Addr: addr, Err: mapErr(err)}
}

// errnoErr wraps a failed system call's errno with the call's name.
func errnoErr(call string, e syscall.Errno) error {
	return os.NewSyscallError(call, e)
}
