//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"errors"
	"net"
	"syscall"

	"github.com/coopgo/coop/sched"
)

// rawConn is the syscall.RawConn of a Conn or a PacketConn, as package
// net's rawConn is for its sockets. Its functions run on the scheduler
// thread, with the descriptor guaranteed open; off the thread each call
// goes through Scheduler.Do. They must not block: a blocking call would
// stall every task of the scheduler.
type rawConn struct {
	s        *sched.Scheduler
	fd       *sched.FD
	sysfd    int
	net      string
	laddr    net.Addr
	wc       *Conn // the Conn, whose write lock Write takes; nil for a PacketConn
	datagram bool
}

// SyscallConn returns a raw connection to c's socket. It implements
// syscall.Conn. Control, Read and Write run their function on c's
// scheduler thread (see rawConn); Read and Write wait, parking the task,
// for readiness between tries.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if !c.ok() {
		return nil, syscall.EINVAL
	}
	return &rawConn{s: c.s, fd: c.fd, sysfd: c.sysfd, net: c.net, laddr: c.LocalAddr(), wc: c}, nil
}

// run runs fn on the scheduler thread.
func (rc *rawConn) run(op string, fn func() error) error {
	var err error
	if rc.s.Current() != nil {
		err = fn()
	} else if derr := rc.s.Do(func() { err = fn() }); derr != nil {
		err = derr
	}
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: rc.net, Source: nil, Addr: rc.laddr, Err: mapErr(err)}
}

// Control calls f with the descriptor, which stays open until f returns.
func (rc *rawConn) Control(f func(fd uintptr)) error {
	return rc.run("raw-control", func() error {
		if err := rc.fd.CheckRead(); errors.Is(err, sched.ErrClosed) {
			return err
		}
		f(uintptr(rc.sysfd))
		return nil
	})
}

// Read calls f until it returns true; f tries to read, and returns false
// when the read would block (EAGAIN). Between tries Read waits for the
// socket to become readable, up to the read deadline.
func (rc *rawConn) Read(f func(fd uintptr) bool) error {
	return rc.run("raw-read", func() error {
		fd := rc.fd
		for {
			if err := fd.CheckRead(); err != nil {
				return err
			}
			if f(uintptr(rc.sysfd)) {
				return nil
			}
			// f saw EAGAIN: whatever arrives from now on brings an edge.
			if rc.datagram {
				fd.ClearHangup() // see PacketConn.recv
			} else if fd.ClearReadable(); fd.Readable() {
				// A hang-up keeps a stream readable, so the wait below
				// returns at once: an f that keeps saying false must
				// still let the other tasks, and the deadline, run.
				sched.Yield()
			}
			if err := fd.WaitRead(); err != nil {
				return err
			}
		}
	})
}

// Write calls f until it returns true, waiting for writability between
// tries, up to the write deadline. Writes of the Conn wait meanwhile.
func (rc *rawConn) Write(f func(fd uintptr) bool) error {
	return rc.run("raw-write", func() error {
		if rc.wc != nil {
			if err := rc.wc.lockWrite(); err != nil {
				return err
			}
			defer rc.wc.unlockWrite()
		}
		fd := rc.fd
		for {
			if err := fd.CheckWrite(); err != nil {
				return err
			}
			if f(uintptr(rc.sysfd)) {
				return nil
			}
			fd.ClearWritable()
			if err := fd.WaitWrite(); err != nil {
				return err
			}
		}
	})
}

var (
	_ syscall.Conn = (*Conn)(nil)
	_ syscall.Conn = (*PacketConn)(nil)
)
