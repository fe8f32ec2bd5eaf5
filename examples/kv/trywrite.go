package main

import (
	"os"
	"syscall"

	"github.com/coopgo/coop/netio"
)

// tryWrite writes as much of b as the socket takes now, without waiting:
// the event-loop write that netio.Conn.Write (which parks until all is
// written) does not offer. It must run on c's scheduler thread, and not
// while another task writes c. It keeps the descriptor's writability flag
// as netio does, so that a later Conn.Write waits for the next edge.
func tryWrite(c *netio.Conn, b []byte) (int, error) {
	fd := c.FD()
	if err := fd.CheckWrite(); err != nil {
		return 0, err
	}
	if len(b) == 0 || !fd.Writable() {
		return 0, nil
	}
	for {
		n, e := sendNow(fd.Sysfd(), b)
		switch e {
		case 0:
			if n < len(b) {
				fd.ClearWritable() // the send buffer is full
			}
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			fd.ClearWritable()
			return 0, nil
		}
		return 0, os.NewSyscallError("write", e)
	}
}
