package main

import "golang.org/x/sys/unix"

// accept takes a connection off the listening socket lfd, non-blocking
// and close-on-exec in one system call.
func accept(lfd int) (int, error) {
	nfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	return nfd, err
}
