//go:build linux

package netio

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The calls below run on non-blocking sockets, so they never sleep in the
// kernel: they are raw system calls, which skip the runtime's syscall
// bookkeeping. That bookkeeping exists to hand the processor to other
// goroutines while a thread blocks; here nothing blocks, and on the
// scheduler's locked thread the hand-off would only cost time (about
// 35 ns a call) and let sysmon take the processor away.
//
// rawRead and rawWrite, the calls of every request, call syscall's
// RawSyscall6 itself and are small enough to inline into Read and Write:
// unix.RawSyscall6 is an assembly jump to it through an ABI wrapper, and
// each frame that stands between the system call and the code it returns
// to costs a mispredicted return once the call is back (the kernel's own
// calls overwrite the CPU's return stack), about 10 ns a frame a request
// at 10,000 connections.

// rawRead receives with recvfrom and no flags, which on a stream socket is
// read(2) without the VFS layer read(2) goes through first (the file
// position lock, vfs_read, sock_read_iter): a Conn is always a socket.
func rawRead(fd int, p []byte) (n int, e syscall.Errno) {
	r, _, e := syscall.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), 0, 0, 0)
	return int(r), e
}

// rawPeek receives without taking the data from the socket's queue.
func rawPeek(fd int, p []byte) (int, syscall.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		unix.MSG_PEEK, 0, 0)
	return int(n), e
}

// rawWrite sends with MSG_NOSIGNAL: a write to a peer that has gone away
// returns EPIPE instead of raising SIGPIPE.
func rawWrite(fd int, p []byte) (n int, e syscall.Errno) {
	r, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	return int(r), e
}

// rawAccept accepts a connection as a non-blocking, close-on-exec socket.
func rawAccept(fd int) (int, unix.Sockaddr, syscall.Errno) {
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	n, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, nil, e
	}
	sa, err := anyToSockaddr(&rsa)
	if err != nil {
		// An address family we do not know (cannot happen for the
		// sockets we create); keep the connection, without an address.
		return int(n), nil, 0
	}
	return int(n), sa, 0
}

// socket makes a non-blocking, close-on-exec socket.
func socket(family, typ, proto int) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, wrapSyscall("socket", err)
	}
	return fd, nil
}
