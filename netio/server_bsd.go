//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import "golang.org/x/sys/unix"

// peekEmpty reports whether the socket's receive queue is empty, without
// taking anything from it. Data, end of stream and errors all report
// false: a read has something to say.
func peekEmpty(fd int, buf []byte) bool {
	_, _, err := unix.Recvfrom(fd, buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == unix.EAGAIN
}
