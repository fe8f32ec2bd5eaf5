//go:build !linux

package main

import "golang.org/x/sys/unix"

// accept takes a connection off the listening socket lfd and makes it
// non-blocking and close-on-exec (no accept4 on every system).
func accept(lfd int) (int, error) {
	nfd, _, err := unix.Accept(lfd)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(nfd)
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, err
	}
	return nfd, nil
}
