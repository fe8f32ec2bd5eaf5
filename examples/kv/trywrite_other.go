//go:build !linux

package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// sendNow is one non-blocking write on a socket. (Go ignores SIGPIPE for
// sockets: a vanished peer is EPIPE.)
func sendNow(fd int, b []byte) (int, syscall.Errno) {
	n, err := unix.Write(fd, b)
	if err != nil {
		if e, ok := err.(syscall.Errno); ok {
			return 0, e
		}
		return 0, syscall.EIO
	}
	return n, 0
}
