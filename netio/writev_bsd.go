//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// vecWriter writes vectors with sendmsg through x/sys (darwin and openbsd
// make system calls through libc; writev is not in x/sys for every BSD).
type vecWriter struct{}

func (vecWriter) writev(fd int, bufs [][]byte) (int, syscall.Errno) {
	n, err := unix.SendmsgBuffers(fd, bufs, nil, nil, 0)
	return n, errnoOf(err)
}
