//go:build linux || dragonfly || freebsd || netbsd

package sched

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// readFD and writeFD use raw syscalls: the descriptors are non-blocking,
// so the calls never sleep in the kernel, and the runtime's syscall
// bookkeeping (about 35 ns a call, and a chance for sysmon to take the
// processor from the locked scheduler thread) buys nothing.
func readFD(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func writeFD(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
