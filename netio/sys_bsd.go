//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// On the BSDs and darwin the portable x/sys calls are used (darwin and
// openbsd require system calls to go through libc). The Go runtime turns
// SIGPIPE on sockets into EPIPE, so plain writes are safe.

func rawRead(fd int, p []byte) (int, syscall.Errno) {
	n, err := unix.Read(fd, p)
	return n, errnoOf(err)
}

func rawPeek(fd int, p []byte) (int, syscall.Errno) {
	n, _, err := unix.Recvfrom(fd, p, unix.MSG_PEEK)
	return n, errnoOf(err)
}

func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	n, err := unix.Write(fd, p)
	return n, errnoOf(err)
}

func rawAccept(fd int) (int, unix.Sockaddr, syscall.Errno) {
	nfd, sa, err := unix.Accept(fd)
	if err != nil {
		return -1, nil, errnoOf(err)
	}
	unix.CloseOnExec(nfd)
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, errnoOf(err)
	}
	return nfd, sa, 0
}

func socket(family, typ, proto int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, wrapSyscall("socket", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, wrapSyscall("setnonblock", err)
	}
	return fd, nil
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EINVAL
}
