//go:build linux

package netio

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vecWriter keeps the iovecs of one WriteBuffers call.
type vecWriter struct {
	iov []unix.Iovec
}

// writev writes bufs with one sendmsg: writev(2) with MSG_NOSIGNAL, like
// rawWrite, so a dead peer yields EPIPE and no SIGPIPE. Raw: the socket is
// non-blocking.
func (w *vecWriter) writev(fd int, bufs [][]byte) (int, syscall.Errno) {
	if w.iov == nil {
		w.iov = make([]unix.Iovec, 0, len(bufs))
	}
	iov := w.iov[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		iov = append(iov, v)
	}
	w.iov = iov
	var msg unix.Msghdr
	msg.Iov = &iov[0]
	msg.SetIovlen(len(iov))
	n, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}
