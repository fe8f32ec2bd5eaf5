//go:build linux

package rawsys

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read reads from a non-blocking descriptor with a raw system call. It
// returns the bare errno (EAGAIN included) so that callers can tell a
// drained socket from a failure without an allocation.
func Read(fd int, b []byte) (int, syscall.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(r), e
}

// Write writes to a non-blocking descriptor with a raw system call.
func Write(fd int, b []byte) (int, syscall.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(r), e
}

// Accept accepts a connection from a non-blocking listener with a raw
// accept4, returning a non-blocking, close-on-exec descriptor.
func Accept(fd int) (int, syscall.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	return int(r), e
}

// Close closes a descriptor with a raw system call. Closing a socket never
// blocks unless SO_LINGER is set with a timeout, which nothing here does.
func Close(fd int) syscall.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return e
}

// BlockingRead reads from a blocking descriptor through the runtime's
// syscall path, so that the runtime may run other goroutines while this
// thread sleeps in the kernel. EINTR is retried.
func BlockingRead(fd int, b []byte) (int, syscall.Errno) {
	for {
		r, _, e := unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

// BlockingWriteAll writes all of b to a blocking descriptor through the
// runtime's syscall path, retrying short writes and EINTR.
func BlockingWriteAll(fd int, b []byte) syscall.Errno {
	for len(b) > 0 {
		r, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		b = b[r:]
	}
	return 0
}

// BlockingAccept accepts from a blocking listener through the runtime's
// syscall path and returns a blocking, close-on-exec descriptor.
func BlockingAccept(fd int) (int, syscall.Errno) {
	for {
		r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_CLOEXEC, 0, 0)
		if e != unix.EINTR && e != unix.ECONNABORTED {
			return int(r), e
		}
	}
}

// EpollPoll returns the events that are ready now, without blocking, with a
// raw epoll_pwait (timeout 0). A loop under load finds events here and never
// pays for the runtime's syscall bookkeeping.
func EpollPoll(epfd int, events []unix.EpollEvent) (int, syscall.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	return int(r), e
}

// EpollStep runs one step of a client's event loop: it handles the events
// of epfd ready now, taken with EpollPoll, or if there are none, those that
// come until the clock now reaches wake (EpollWaitNS), each with
// handle(byFD[fd], events). The study's client loops (package loadgen, the
// IRC load) step this way: under load they find events without sleeping,
// and only a wait that may sleep goes through the runtime. Reaching wake
// with no events is not an error: callers check their own deadlines.
func EpollStep[T any](epfd int, events []unix.EpollEvent, wake int64, now func() int64, byFD []T, handle func(T, uint32) error) error {
	n, e := EpollPoll(epfd, events)
	if e == 0 && n == 0 {
		d := wake - now()
		if d <= 0 {
			return nil
		}
		n, e = EpollWaitNS(epfd, events, d)
	}
	if e != 0 {
		return os.NewSyscallError("epoll_pwait", e)
	}
	for i := range n {
		ev := &events[i]
		if err := handle(byFD[ev.Fd], ev.Events); err != nil {
			return err
		}
	}
	return nil
}

// ClientSocket returns a non-blocking, close-on-exec TCP socket for a
// client of the study's loops: TCP_NODELAY on, and closed with a reset
// (SO_LINGER 0), so that tens of thousands of closed connections leave no
// TIME_WAIT behind. Errors are *os.SyscallError.
func ClientSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := SetNoDelay(fd); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt(TCP_NODELAY)", err)
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt(SO_LINGER)", err)
	}
	return fd, nil
}

// StartConnect registers fd with epfd, edge-triggered for input, output and
// the peer's hang-up, once for its whole life (as the servers do), and
// starts a non-blocking connect to sa; ConnectResult tells its outcome once
// fd is writable. Errors are *os.SyscallError.
func StartConnect(epfd, fd int, sa unix.Sockaddr) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	switch err := unix.Connect(fd, sa); err {
	case nil, unix.EINPROGRESS:
		return nil
	default:
		return os.NewSyscallError("connect", err)
	}
}

// ConnectResult returns the outcome of a non-blocking connect on fd once
// the socket is writable or reports an error: nil, or the connect's error
// (SO_ERROR) as a *os.SyscallError.
func ConnectResult(fd int) error {
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt(SO_ERROR)", err)
	}
	if soerr != 0 {
		return os.NewSyscallError("connect", syscall.Errno(soerr))
	}
	return nil
}

// EpollWait blocks for at most msec milliseconds (-1: no limit) through the
// runtime's syscall path, which lets the runtime hand this thread's
// processor to other goroutines while it sleeps. EINTR returns 0 events.
func EpollWait(epfd int, events []unix.EpollEvent, msec int) (int, syscall.Errno) {
	r, _, e := unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), uintptr(msec), 0, 0)
	if e == unix.EINTR {
		return 0, 0
	}
	return int(r), e
}

// EpollWaitNS is EpollWait with a nanosecond timeout (epoll_pwait2, Linux
// 5.11+), for the open-loop client whose sends are scheduled to the
// microsecond. ns < 0 waits without limit.
func EpollWaitNS(epfd int, events []unix.EpollEvent, ns int64) (int, syscall.Errno) {
	var r uintptr
	var e syscall.Errno
	if ns < 0 {
		r, _, e = unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	} else {
		ts := unix.NsecToTimespec(ns)
		r, _, e = unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
	}
	if e == unix.EINTR {
		return 0, 0
	}
	return int(r), e
}

// SetNoDelay turns on TCP_NODELAY. Every server model and the client set it,
// so that no model's replies wait for Nagle's algorithm.
func SetNoDelay(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}
