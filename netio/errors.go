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
