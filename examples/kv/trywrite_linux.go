//go:build linux

package main

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendNow is one non-blocking send on a socket: a raw system call, as
// netio's own writes are (no runtime syscall bookkeeping: the socket never
// blocks), with MSG_NOSIGNAL so that a vanished peer is EPIPE, not SIGPIPE.
func sendNow(fd int, b []byte) (int, syscall.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_NOSIGNAL, 0, 0)
	return int(n), e
}
