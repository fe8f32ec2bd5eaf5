//go:build darwin

package netio

import "golang.org/x/sys/unix"

const tcpKeepIdle = unix.TCP_KEEPALIVE
