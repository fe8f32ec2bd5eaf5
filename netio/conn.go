//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/internal/fdhint"
	"github.com/coopgo/coop/sched"
)

// A Conn is a stream socket (TCP or Unix) served by a scheduler. It
// implements net.Conn, and is safe for concurrent use by multiple
// goroutines: see the package comment for what that costs off the
// scheduler's thread. Like a zero net.TCPConn, a zero Conn is not
// connected: its methods return syscall.EINVAL (LocalAddr and RemoteAddr
// nil).
type Conn struct {
	// A Conn is 192 bytes, a size class whose objects Go places on 64-byte
	// boundaries: the first cache line holds everything a Read, a Write
	// and a ready-mode call touch, the server's return of the connection
	// to idle included, so that a session at thousands of connections,
	// which finds its Conn cold on every request, pays one line for it.
	// The rest is for errors, addresses and the server.
	wslow   *writeWait // the write lock's queue, made by the first Write that waits (writelock.go)
	s       *sched.Scheduler
	fd      *sched.FD
	value   any // the user's (SetValue)
	sysfd   int
	readers int32 // tasks parked in Read (task-mode Shutdown, see Server)
	stream  bool
	reset   bool // rerr is set
	wbusy   bool // a Write holds the write lock: one that parks midway keeps others out
	hasRd   bool // rd is set: the server's re-arm looks at rd, in the second line, only then

	// Task-mode Shutdown (see Server), on the scheduler thread.
	reqOpen  bool // a byte was read since the last write: a request has begun
	shutIdle bool // the Server is shutting down: a Read that would wait for a next request ends

	// On the scheduler thread.
	rerr error   // a reset, remembered: later reads fail the same way
	rd   *Reader // the Reader made last for c, whose buffer the server gives back

	net          string
	laddr, raddr net.Addr // set when made, or by a PROXY header; else made from la, ra on demand
	la, ra       rawAddr  // an accepted TCP connection's addresses, as the kernel gave them

	proxy *ProxyHeader // the PROXY header the connection began with (proxyproto_conn.go)
}

// newConn wraps a connected, non-blocking socket and registers it with s.
// It runs on s's thread.
func newConn(s *sched.Scheduler, sysfd int, network string, laddr, raddr net.Addr) (*Conn, error) {
	fd, err := s.Register(sysfd)
	if err != nil {
		unix.Close(sysfd)
		return nil, err
	}
	return connFrom(s, fd, sysfd, network, laddr, raddr), nil
}

// connFrom makes the Conn of a registered, connected socket.
func connFrom(s *sched.Scheduler, fd *sched.FD, sysfd int, network string, laddr, raddr net.Addr) *Conn {
	// A fresh connection can nearly always be written at once: don't wait
	// for the first edge to say so.
	fd.MarkWritable()
	c := &Conn{s: s, fd: fd, sysfd: sysfd, net: network, laddr: laddr, raddr: raddr, stream: true}
	// A task parked in c's Read or Write touches c's first line first
	// when it wakes: the scheduler prefetches it one task ahead.
	fdhint.Set(fd, fdhint.Conn, uintptr(unsafe.Pointer(c)))
	return c
}

// ok reports whether c is a connection this package made, as package
// net's conn.ok does: the methods of a zero (or nil) Conn return
// syscall.EINVAL, as those of a zero net.TCPConn do, rather than
// dereference its nil scheduler. c.s is what Read and Write load first,
// so the check costs them one compare.
func (c *Conn) ok() bool { return c != nil && c.s != nil }

// Scheduler returns the scheduler c belongs to.
func (c *Conn) Scheduler() *sched.Scheduler { return c.s }

// FD returns c's registered descriptor, for code that drives the socket
// itself. Its readiness methods are for tasks of c's scheduler only.
func (c *Conn) FD() *sched.FD { return c.fd }

// onThread reports whether the caller is a task of c's scheduler: then
// c's thread-owned state may be touched directly.
func (c *Conn) onThread() bool {
	return c.s.Current() != nil
}

// Read reads up to len(b) bytes. It returns io.EOF at the end of the
// stream. From a task of c's scheduler it parks the task until data
// arrives; from anywhere else it blocks only the caller. On a connection
// of a task-mode Server that is shutting down, a Read that would wait for
// a next request fails with an error matching ErrServerClosed. A Read
// waiting when its deadline passes returns the input that came before
// it, even when the scheduler's thread was held past the deadline (a
// task computing, a stopped process): the scheduler fires a deadline only
// after it has looked at the descriptors at or after it (package sched),
// and input it finds wins over the deadline.
//
// The loop is written out here rather than in a helper: a parked reader's
// frames stay on its stack while the connection is idle, and they decide
// whether that stack fits its first 2 KiB.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if c.s.Current() == nil {
		return c.readForeign(b)
	}
	fd := c.fd
	if err := fd.CheckRead(); err != nil {
		return 0, c.readWaitErr(err)
	}
	if c.reset {
		return 0, c.rerr
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if !fd.Readable() {
			if c.shutIdle && c.idle() {
				return 0, c.opError("read", ErrServerClosed)
			}
			c.readers++
			err := fd.WaitRead()
			c.readers--
			if err != nil {
				return 0, c.readWaitErr(err)
			}
		}
		n, e := rawRead(c.sysfd, b)
		if e != 0 {
			switch e {
			case syscall.EAGAIN:
				fd.ClearReadable()
				continue
			case syscall.EINTR:
				continue
			}
			return 0, c.readErr(e)
		}
		if n == 0 {
			return 0, io.EOF
		}
		c.reqOpen = true
		if n < len(b) && c.stream {
			// The receive queue is empty now: the next read waits for the
			// next edge rather than asking the kernel to say EAGAIN.
			fd.ClearReadable()
		}
		return n, nil
	}
}

// idle reports whether c waits for a next request: nothing read since the
// last write, and nothing in the socket's receive queue (a request that
// arrived unread is served, not dropped). The peek is a system call, made
// only while a Server shuts down. Not inlined: its buffer must not stay in
// the frame of a parked Read.
//
//go:noinline
func (c *Conn) idle() bool {
	var b [1]byte
	return !c.requestOpen() && peekEmpty(c.sysfd, b[:])
}

// requestOpen reports whether a request has begun: a byte was read since
// the last write, or c's Reader holds unread bytes (a pipelined request
// read along with the previous one).
func (c *Conn) requestOpen() bool {
	return c.reqOpen || (c.rd != nil && c.rd.r < c.rd.w)
}

// readWaitErr wraps the error that ended a read's wait. When Shutdown woke
// an idle Read (with a deadline in the past), or the wait ended some other
// way while the server shuts down and no request has begun, the read
// reports ErrServerClosed instead.
func (c *Conn) readWaitErr(err error) error {
	if c.shutIdle && !c.requestOpen() && errors.Is(err, os.ErrDeadlineExceeded) {
		err = ErrServerClosed
	}
	return c.opError("read", err)
}

// readForeign is Read called off c's scheduler thread: the read runs in a
// task of c's scheduler.
func (c *Conn) readForeign(b []byte) (n int, err error) {
	if derr := c.s.Do(func() { n, err = c.Read(b) }); derr != nil {
		return 0, c.opError("read", derr)
	}
	return n, err
}

// readErr wraps a read's errno; a reset is remembered, since the kernel
// reports it only once.
func (c *Conn) readErr(e syscall.Errno) error {
	err := c.opError("read", errnoErr("read", e))
	if e == syscall.ECONNRESET || e == syscall.ETIMEDOUT || e == syscall.EHOSTUNREACH {
		c.rerr, c.reset = err, true
	}
	return err
}

// Write writes all of b, parking (or blocking, off the scheduler thread)
// while the socket's send buffer is full. Concurrent Writes do not
// interleave.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if c.s.Current() == nil {
		return c.writeForeign(b)
	}
	if err := c.lockWrite(); err != nil {
		return 0, c.opError("write", err)
	}
	defer c.unlockWrite()
	fd := c.fd
	if err := fd.CheckWrite(); err != nil {
		return 0, c.opError("write", err)
	}
	c.reqOpen = false // the handler answers: the request it read is over
	nn := 0
	for {
		if !fd.Writable() {
			if err := fd.WaitWrite(); err != nil {
				return nn, c.opError("write", err)
			}
		}
		n, e := rawWrite(c.sysfd, b[nn:])
		if e != 0 {
			switch e {
			case syscall.EAGAIN:
				fd.ClearWritable()
				continue
			case syscall.EINTR:
				continue
			}
			return nn, c.opError("write", errnoErr("write", e))
		}
		nn += n
		if nn == len(b) {
			return nn, nil
		}
		fd.ClearWritable() // the send buffer is full
	}
}

// TryWrite writes as much of b as the socket's send buffer takes now,
// without waiting: the write of an event loop that keeps its own output
// buffer (a Redis-style server answering a client that reads slowly). It
// returns how much it wrote; fewer than len(b) bytes with a nil error
// means the send buffer is full (or another Write is parked midway, whose
// bytes must not be interleaved): write the rest later, after WaitWrite on
// c.FD() or with Write. It writes directly from a task of c's scheduler
// and from a descriptor hook on its thread (a state machine's write);
// from anywhere else it is handed to that thread.
func (c *Conn) TryWrite(b []byte) (int, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if !c.s.OnThread() {
		var n int
		var err error
		if derr := c.s.Do(func() { n, err = c.TryWrite(b) }); derr != nil {
			return 0, c.opError("write", derr)
		}
		return n, err
	}
	fd := c.fd
	if err := fd.CheckWrite(); err != nil {
		return 0, c.opError("write", err)
	}
	if len(b) == 0 || !fd.Writable() || c.wbusy {
		return 0, nil
	}
	for {
		n, e := rawWrite(c.sysfd, b)
		switch e {
		case 0:
			c.reqOpen = false
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
		return 0, c.opError("write", errnoErr("write", e))
	}
}

// writeForeign is Write called off c's scheduler thread.
func (c *Conn) writeForeign(b []byte) (n int, err error) {
	if derr := c.s.Do(func() { n, err = c.Write(b) }); derr != nil {
		return 0, c.opError("write", derr)
	}
	return n, err
}

// Close closes the connection; blocked Reads and Writes return an error
// matching net.ErrClosed. It may be called from any goroutine.
func (c *Conn) Close() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if err := c.fd.Close(); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// onThreadDo runs fn on c's scheduler thread: directly from one of its
// tasks, else through Scheduler.Do.
func (c *Conn) onThreadDo(fn func() error) error {
	if c.onThread() {
		return fn()
	}
	var err error
	if derr := c.s.Do(func() { err = fn() }); derr != nil {
		return derr
	}
	return err
}

// shutdown shuts down one direction of the socket.
func (c *Conn) shutdown(how int) error {
	return c.onThreadDo(func() error {
		if err := c.fd.CheckRead(); errors.Is(err, sched.ErrClosed) {
			return err
		}
		return wrapSyscall("shutdown", unix.Shutdown(c.sysfd, how))
	})
}

// CloseRead shuts down the reading side of the connection.
func (c *Conn) CloseRead() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("close", c.shutdown(unix.SHUT_RD))
}

// CloseWrite shuts down the writing side: the peer reads end of stream
// once everything written before has arrived.
func (c *Conn) CloseWrite() error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("close", c.shutdown(unix.SHUT_WR))
}

// LocalAddr returns the local address. For an accepted TCP connection it
// is made on each call from what the kernel reported, which the Conn keeps
// in a few bytes (it may be called from any goroutine; each caller gets
// its own *net.TCPAddr, as from package net).
func (c *Conn) LocalAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	if c.laddr != nil {
		return c.laddr
	}
	return c.la.netAddr()
}

// RemoteAddr returns the remote address, made on demand as LocalAddr's is.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.ok() {
		return nil
	}
	if c.raddr != nil {
		return c.raddr
	}
	return c.ra.netAddr()
}

// SetDeadline sets the read and write deadlines (see net.Conn). It may be
// called from any goroutine, also while a Read or Write is blocked.
//
// Deadlines are on the clock of c's scheduler. That is the real clock
// unless the scheduler runs on virtual time (sched.WithVirtualTime); then
// a time from sched.Now, or any time without a monotonic clock reading, is
// a point on the virtual clock, and a time derived from time.Now() — what
// third-party code computes — is taken as its distance from now:
// SetDeadline(time.Now().Add(30*time.Second)) expires 30 virtual seconds
// later. Example_virtualTime tests a server that way.
func (c *Conn) SetDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("set", c.fd.SetDeadline(t))
}

// SetReadDeadline sets the deadline for Reads.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("set", c.fd.SetReadDeadline(t))
}

// SetWriteDeadline sets the deadline for Writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("set", c.fd.SetWriteDeadline(t))
}

// setsockopt sets an integer socket option on c's thread.
func (c *Conn) setsockopt(level, opt, value int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("set", c.onThreadDo(func() error {
		if err := c.fd.CheckRead(); errors.Is(err, sched.ErrClosed) {
			return err
		}
		return wrapSyscall("setsockopt", unix.SetsockoptInt(c.sysfd, level, opt, value))
	}))
}

// SetNoDelay controls Nagle's algorithm (TCP_NODELAY); like package net,
// netio sets no-delay on every TCP connection it makes.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return c.setsockopt(unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(noDelay))
}

// SetKeepAlive enables TCP keep-alive probes.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return c.setsockopt(unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(keepalive))
}

// SetKeepAlivePeriod sets the idle time before keep-alive probes.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	if tcpKeepIdle < 0 {
		return nil
	}
	return c.setsockopt(unix.IPPROTO_TCP, tcpKeepIdle, max(int(d.Round(time.Second)/time.Second), 1))
}

// SetLinger sets SO_LINGER: see net.TCPConn.SetLinger. SetLinger(0) makes
// Close reset the connection.
func (c *Conn) SetLinger(sec int) error {
	if !c.ok() {
		return syscall.EINVAL
	}
	return c.opError("set", c.onThreadDo(func() error {
		if err := c.fd.CheckRead(); errors.Is(err, sched.ErrClosed) {
			return err // c.sysfd may be another socket's by now
		}
		l := unix.Linger{}
		if sec >= 0 {
			l.Onoff, l.Linger = 1, int32(sec)
		}
		return wrapSyscall("setsockopt", unix.SetsockoptLinger(c.sysfd, unix.SOL_SOCKET, unix.SO_LINGER, &l))
	}))
}

// SetReadBuffer sets the socket's receive buffer size.
func (c *Conn) SetReadBuffer(bytes int) error {
	return c.setsockopt(unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
}

// SetWriteBuffer sets the socket's send buffer size.
func (c *Conn) SetWriteBuffer(bytes int) error {
	return c.setsockopt(unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
}

// releaseReader prepares c's Reader, if it has one, for a connection
// that goes idle: a drained buffer goes back to the pool, a partial
// request moves to a buffer of its size. It runs on the scheduler thread
// (a task or a hook).
func (c *Conn) releaseReader() {
	if c.hasRd {
		c.rd.park()
	}
}

// Value returns the value set by SetValue.
func (c *Conn) Value() any { return c.value }

// SetValue attaches a value to c: per-connection state for a ready-mode
// handler, which runs afresh each time the connection becomes readable.
// Like c's other thread-owned state, it is for tasks of c's scheduler.
func (c *Conn) SetValue(v any) { c.value = v }

// opError wraps err in a *net.OpError for op on c.
func (c *Conn) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*net.OpError); ok {
		return err
	}
	src, addr := c.LocalAddr(), c.RemoteAddr()
	if op == "close" || op == "set" {
		src = nil
	}
	return opError(op, c.net, src, addr, err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

var _ net.Conn = (*Conn)(nil)
