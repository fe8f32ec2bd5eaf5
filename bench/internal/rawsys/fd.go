package rawsys

import (
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
