//go:build linux

package models

import (
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/bench/internal/rawsys"
)

func init() {
	Register(Model{
		Name:  "epoll",
		What:  "hand-written event-loop state machine: raw epoll, edge-triggered, raw syscalls, one read buffer shared by all connections",
		Serve: func(opt Options) error { return serveEpoll(opt, false) },
	})
	Register(Model{
		Name:  "epoll-buf",
		What:  "the same state machine with a 16 KiB read buffer per connection (allocated at accept, every read into it and every reply from it), as a task-per-connection server holds one",
		Serve: func(opt Options) error { return serveEpoll(opt, true) },
	})
}

// The hand-written event loop is the fastest way we know to write this
// server on one core, and the ceiling coop is measured against. Each choice
// below removes work from the per-request path; the costs quoted are those
// measured on the study's machines (DESIGN.md, "Server economics").
//
//   - One thread, one loop, no locks, no goroutine per connection: the only
//     state of a connection is an epConn.
//   - Raw system calls (unix.RawSyscall) for read, write and accept4: every
//     socket is non-blocking, so none of them can sleep, and the runtime's
//     entersyscall/exitsyscall bookkeeping (~35 ns a call) buys nothing. It
//     would also let sysmon take the processor away from this locked thread
//     during a long call. Only epoll_wait may sleep, so only it goes through
//     the runtime (rawsys.EpollWait), and only after a raw non-blocking poll
//     found nothing: under load the loop never sleeps and never pays for it.
//   - Edge-triggered, every descriptor registered once for input and output:
//     no epoll_ctl per request. EPOLLOUT fires only on a transition to
//     writable, so having it registered costs nothing until a write comes
//     up short.
//   - Exactly one read and one write per request. A read shorter than the
//     buffer drained the socket, and the next arrival raises a new edge, so
//     the loop does not issue the read that would return EAGAIN (0.26 µs a
//     request). The reply is written straight from the read buffer.
//   - Batches of up to 256 events per epoll_wait.
//   - One shared read buffer for the loop; a connection owns memory only
//     while the kernel would not take all of its reply (pending). So an idle
//     connection costs an epConn and the kernel's socket.
//
// The epoll-buf model is the same loop with the one change a server makes
// when it keeps a read buffer per connection, as every task-per-connection
// and goroutine-per-connection model here does: each connection gets its
// own buffer at accept, reads go into it and replies leave from it. The
// difference between the two rows is what per-connection buffers cost:
// the memory, and the cache lines and pages of thousands of buffers
// touched in turn where one buffer stays hot.
//   - Back-pressure: while a connection has a pending reply it is not read;
//     an edge that arrives meanwhile is remembered and served once the reply
//     is out.
type epLoop struct {
	model     string // the row's name, for diagnostics
	epfd, lfd int
	size      int
	perConn   bool      // a read buffer per connection (epoll-buf)
	conns     []*epConn // by descriptor
	buf       []byte    // the shared read buffer
	events    []unix.EpollEvent
	spare     [][]byte // pending buffers to reuse
	paused    bool     // accept hit EMFILE; retry after a pause
}

type epConn struct {
	fd       int
	buf      []byte // the connection's own read buffer (epoll-buf); nil: the loop's
	pending  []byte // reply bytes the socket did not take yet
	readable bool   // input arrived while pending was not empty
}

const epBatch = 256

func serveEpoll(opt Options, perConn bool) error {
	lfd, addr, err := listenFD(opt.Addr, true, false)
	if err != nil {
		return err
	}
	model := "epoll"
	if perConn {
		model = "epoll-buf"
	}
	l, err := newEpLoop(model, lfd, opt.BufSize, perConn)
	if err != nil {
		return err
	}
	// The loop owns this thread: nothing else runs on it, and a raw call
	// in progress cannot be moved elsewhere.
	runtime.LockOSThread()
	opt.Ready(addr)
	return l.run()
}

// newEpLoop makes the event loop of the non-blocking listener lfd, which
// it registers edge-triggered in an epoll set of its own; model names the
// server in its diagnostics. The caller runs it (run) on a locked thread.
func newEpLoop(model string, lfd, size int, perConn bool) (*epLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(lfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &ev); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &epLoop{model: model, epfd: epfd, lfd: lfd, size: size, perConn: perConn, buf: make([]byte, size), events: make([]unix.EpollEvent, epBatch)}, nil
}

func (l *epLoop) run() error {
	for {
		n, e := rawsys.EpollPoll(l.epfd, l.events)
		if e == 0 && n == 0 {
			timeout := -1
			if l.paused {
				timeout = 10 // ms: retry accept after EMFILE without spinning
			}
			n, e = rawsys.EpollWait(l.epfd, l.events, timeout)
		}
		if e != 0 {
			return os.NewSyscallError("epoll_pwait", e)
		}
		if l.paused && n == 0 {
			l.paused = false
			if err := l.accept(); err != nil {
				return err
			}
		}
		for i := range n {
			ev := &l.events[i]
			fd := int(ev.Fd)
			if fd == l.lfd {
				if err := l.accept(); err != nil {
					return err
				}
				continue
			}
			if c := l.conns[fd]; c != nil {
				l.event(c, ev.Events)
			}
		}
	}
}

// accept takes every pending connection: the listener is edge-triggered,
// so the loop must drain it to EAGAIN (once per burst of connections, not
// per request).
func (l *epLoop) accept() error {
	for {
		fd, e := rawsys.Accept(l.lfd)
		switch e {
		case 0:
		case unix.EAGAIN:
			return nil
		case unix.ECONNABORTED, unix.EINTR:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// The pending connections stay queued and the listener will
			// raise no new edge for them: retry after a pause.
			fmt.Fprintf(os.Stderr, "%s: accept4: %v; retrying in 10ms\n", l.model, e)
			l.paused = true
			return nil
		default:
			return os.NewSyscallError("accept4", e)
		}
		if err := rawsys.SetNoDelay(fd); err != nil {
			rawsys.Close(fd)
			return os.NewSyscallError("setsockopt(TCP_NODELAY)", err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			rawsys.Close(fd)
			return os.NewSyscallError("epoll_ctl", err)
		}
		for fd >= len(l.conns) {
			l.conns = append(l.conns, make([]*epConn, len(l.conns)+1024)...)
		}
		c := &epConn{fd: fd}
		if l.perConn {
			c.buf = make([]byte, l.size)
		}
		l.conns[fd] = c
	}
}

func (l *epLoop) event(c *epConn, events uint32) {
	const input = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
	// After a hang-up the end of file follows the data: read to it.
	drain := events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
	if events&unix.EPOLLOUT != 0 && c.pending != nil {
		if !l.flush(c) {
			return
		}
	}
	if events&input != 0 {
		if c.pending != nil {
			c.readable = true // served when the pending reply is out
			return
		}
		l.read(c, drain)
	}
}

// read serves what arrived: one read, one write. It reads again only when
// the read filled the buffer (more may be queued) or drain is set: the peer
// hung up (the end of file follows the last data), or the edge that
// announced the input was consumed earlier.
func (l *epLoop) read(c *epConn, drain bool) {
	buf := l.buf
	if c.buf != nil {
		buf = c.buf
	}
	for {
		n, e := rawsys.Read(c.fd, buf)
		switch {
		case e == unix.EAGAIN:
			return // an edge with nothing to read: harmless
		case e != 0:
			l.close(c, e)
			return
		case n == 0:
			l.close(c, 0)
			return
		}
		w, e := rawsys.Write(c.fd, buf[:n])
		switch {
		case e == unix.EAGAIN:
			w = 0
		case e != 0:
			l.close(c, e)
			return
		}
		if w < n {
			// The socket's send buffer is full: keep the rest, stop
			// reading until it is out, and wait for EPOLLOUT.
			c.pending = append(l.pendingBuf(), buf[w:n]...)
			c.readable = n == len(buf) || drain
			return
		}
		if n < len(buf) && !drain {
			return
		}
	}
}

// flush writes the pending reply; it reports whether it all went out, and
// then serves input that arrived meanwhile.
func (l *epLoop) flush(c *epConn) bool {
	w, e := rawsys.Write(c.fd, c.pending)
	switch {
	case e == unix.EAGAIN:
		return false
	case e != 0:
		l.close(c, e)
		return false
	}
	if w < len(c.pending) {
		c.pending = c.pending[:copy(c.pending, c.pending[w:])]
		return false
	}
	l.spare = append(l.spare, c.pending[:0])
	c.pending = nil
	if c.readable {
		c.readable = false
		l.read(c, true) // read until EAGAIN: the edge that marked it is gone
	}
	return true
}

func (l *epLoop) pendingBuf() []byte {
	if n := len(l.spare); n > 0 {
		b := l.spare[n-1]
		l.spare = l.spare[:n-1]
		return b
	}
	return make([]byte, 0, l.size)
}

// close ends a session. Closing the descriptor also removes it from the
// epoll set (no other descriptor refers to the socket).
func (l *epLoop) close(c *epConn, e syscall.Errno) {
	if e != 0 {
		endSession(l.model, os.NewSyscallError("read/write", e))
	}
	if c.pending != nil {
		l.spare = append(l.spare, c.pending[:0])
	}
	l.conns[c.fd] = nil
	if e := rawsys.Close(c.fd); e != 0 {
		endSession(l.model, os.NewSyscallError("close", e))
	}
}
