//go:build darwin || openbsd

package sched

import "golang.org/x/sys/unix"

// On darwin and openbsd system calls go through libc (OpenBSD 7.5 refuses
// direct ones), so reads and writes take the x/sys path.
func readFD(fd int, p []byte) (int, error)  { return unix.Read(fd, p) }
func writeFD(fd int, p []byte) (int, error) { return unix.Write(fd, p) }
