//go:build linux

package netio

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peekEmpty reports whether the socket's receive queue is empty, without
// taking anything from it: a raw recvfrom with MSG_PEEK|MSG_DONTWAIT, as
// the socket is non-blocking (see sys_linux.go). Data, end of stream and
// errors all report false: a read has something to say.
func peekEmpty(fd int, buf []byte) bool {
	_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return e == syscall.EAGAIN
}
