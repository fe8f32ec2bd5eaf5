//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched

import "golang.org/x/sys/unix"

// errAgain is the errno of a non-blocking call that would block.
const errAgain = unix.EAGAIN

func closeFD(fd int) error { return unix.Close(fd) }
