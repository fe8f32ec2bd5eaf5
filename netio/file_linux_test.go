package netio_test

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
)

// TestAdoptUnknownFamily: a socket of a family netio does not serve (a
// netlink socket, which anyone may open) is refused as package net refuses
// it, with EPROTONOSUPPORT in the *net.OpError and no system call blamed:
// getsockname succeeded.
func TestAdoptUnknownFamily(t *testing.T) {
	s := runScheduler(t)
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Skipf("skipped: no netlink socket: %v", err)
	}
	f := os.NewFile(uintptr(fd), "netlink")
	defer f.Close()
	_, stdErr := net.FilePacketConn(f)
	var soe *net.OpError
	if !errors.As(stdErr, &soe) || soe.Err != syscall.EPROTONOSUPPORT {
		t.Logf("package net says %v (this test expected EPROTONOSUPPORT)", stdErr)
	}
	p, err := netio.FilePacketConn(s, f)
	if err == nil {
		p.Close()
		t.Fatal("FilePacketConn(netlink socket) succeeded")
	}
	checkAdoptError(t, err, syscall.EPROTONOSUPPORT, "file", "")
	if soe != nil && err.(*net.OpError).Err != soe.Err {
		t.Errorf("Err %v; package net's is %v", err.(*net.OpError).Err, soe.Err)
	}
}
