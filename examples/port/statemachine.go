package main

import (
	"bytes"
	"errors"
	"log"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// This file is the tally server written the way a C select/epoll server
// is written: one event loop per thread, non-blocking sockets, a struct
// per connection holding its state explicitly (what it waits for, its
// input and output buffers, its timers), and handlers that run a little
// and return, never block. It uses package sched at the level of readiness
// events only: sched.FD.SetReadHook is the loop's "tell me when this fd is
// readable or its deadline passes", and the FD's read deadline is the
// connection's timer. The sockets are read and written with plain
// non-blocking system calls.
//
// Compare tasks.go: the same protocol as a blocking-style loop per session.

// smServer is the event loop of one scheduler: its listening socket, its
// connections and its queue of events. Everything here belongs to the
// scheduler's thread; nothing is locked.
type smServer struct {
	s      *sched.Scheduler
	l      *netio.Listener // made by netio (socket, bind, listen); accepted by us
	lfd    *sched.FD
	lhook  func(error)
	idle   time.Duration
	logger *log.Logger
	conns  map[*smConn]struct{}
	rbuf   []byte // the loop's read buffer, shared: no handler blocks while it holds data

	// The events delivered by hooks and not handled yet, and whether a
	// loop task is running to handle them: the equivalent of the array
	// epoll_wait fills.
	events, spare []event
	looping       bool
	closing       bool
}

// An event is a readiness report: the connection (nil for the listener),
// which direction, and nil, os.ErrDeadlineExceeded (a timer) or an error
// matching net.ErrClosed.
type event struct {
	c     *smConn
	write bool
	err   error
}

// connState is what a connection waits for.
type connState uint8

const (
	// stReading: input or a timer. The read hook is armed; the read
	// deadline is the earliest of the idle timeout and the next tick.
	stReading connState = iota
	// stWriting: the socket's send buffer is full and replies are
	// pending. Input is not read meanwhile (back-pressure); the write
	// deadline drops a client that does not read.
	stWriting
	// stLinger: the last reply is sent and the write side shut down;
	// input is read and discarded until end of stream or lingerTime.
	stLinger
	stClosed
)

// smConn is one session, every bit of its state explicit.
type smConn struct {
	srv   *smServer
	fd    *sched.FD
	sysfd int
	state connState
	hook  func(error) // the read hook: posts an event
	whook func(error) // the write hook: posts a write event

	in   []byte // input not yet processed: at most one partial line, or lines held back while replies are pending
	out  []byte // replies not yet written
	sent int    // bytes of out already written
	t    tally

	idleAt   time.Time // no input by then: "BYE idle"
	tickAt   time.Time // next tick; zero: none
	eof      bool      // the client has half-closed
	quit     bool      // close once out is written
	lingered int       // bytes discarded while lingering
}

// newSMServer makes the event loop for listener l of scheduler s.
func newSMServer(s *sched.Scheduler, l *netio.Listener, idle time.Duration, logger *log.Logger) *smServer {
	srv := &smServer{s: s, l: l, lfd: l.FD(), idle: idle, logger: logger,
		conns: make(map[*smConn]struct{}), rbuf: make([]byte, 64<<10)}
	srv.lhook = func(err error) { srv.post(event{err: err}) }
	return srv
}

// start arms the listener. It runs in a task of srv.s.
func (srv *smServer) start() { srv.lfd.SetReadHook(srv.lhook) }

// post queues an event and makes sure a loop task will handle it. Hooks
// call it from the scheduler's host loop, where nothing may block; the
// loop task runs the handlers.
func (srv *smServer) post(ev event) {
	srv.events = append(srv.events, ev)
	if !srv.looping {
		srv.looping = true
		srv.s.Go(srv.loop)
	}
}

// loop handles events until none is left, then ends: the body of
// "for (;;) { n = epoll_wait(...); for (i = 0; i < n; i++) handle(ev[i]); }".
// No handler blocks, so the loop never parks.
func (srv *smServer) loop() {
	for len(srv.events) > 0 {
		batch := srv.events
		srv.events = srv.spare[:0]
		for i, ev := range batch {
			if ev.c == nil {
				srv.acceptReady(ev.err)
			} else {
				ev.c.handle(ev)
			}
			batch[i] = event{}
		}
		srv.spare = batch[:0]
	}
	srv.looping = false
}

// acceptReady accepts what the listener has, a bounded number at a time
// so that one busy listener cannot starve the connections.
func (srv *smServer) acceptReady(err error) {
	if srv.closing || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded)) {
		return
	}
	// After a back-off the queue may still hold the connections that
	// could not be taken, and no edge will come for them: try it as if
	// an edge had, until it says EAGAIN.
	retry := err != nil
	if retry {
		srv.lfd.SetReadDeadline(time.Time{})
	}
	for range 64 {
		if !retry && !srv.lfd.Readable() {
			break
		}
		nfd, err := accept(srv.lfd.Sysfd())
		switch err {
		case nil:
			srv.newConn(nfd)
			continue
		case unix.EAGAIN:
			srv.lfd.ClearReadable()
			retry = false
			continue
		case unix.EINTR, unix.ECONNABORTED:
			continue
		}
		// Out of descriptors or memory: try again in a while, not in a
		// busy loop. The deadline is the timer. Readability is cleared,
		// or the hook would fire at once; the retry above makes up for
		// the edge that clearing it forgoes.
		srv.logger.Printf("accept: %v; retrying in 100ms", err)
		srv.lfd.ClearReadable()
		srv.lfd.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		retry = false
		break
	}
	if retry {
		// 64 taken and the queue not seen empty: go on after the
		// events queued meanwhile, as the listener's next edge would.
		srv.post(event{err: os.ErrDeadlineExceeded})
		return
	}
	srv.lfd.SetReadHook(srv.lhook)
}

func (srv *smServer) newConn(nfd int) {
	unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	fd, err := srv.s.Register(nfd)
	if err != nil {
		unix.Close(nfd)
		srv.logger.Printf("register: %v", err)
		return
	}
	fd.MarkWritable()
	c := &smConn{srv: srv, fd: fd, sysfd: nfd}
	c.hook = func(err error) { srv.post(event{c: c, err: err}) }
	c.whook = func(err error) { srv.post(event{c: c, write: true, err: err}) }
	if srv.idle > 0 {
		c.idleAt = time.Now().Add(srv.idle)
	}
	srv.conns[c] = struct{}{}
	c.arm()
}

// handle is the connection's event handler: it does what the event
// allows, then advance decides what to wait for next.
func (c *smConn) handle(ev event) {
	if c.state == stClosed {
		return
	}
	now := time.Now()
	switch {
	case ev.write:
		if ev.err != nil { // the write deadline: the client does not read
			c.close()
			return
		}
		c.fd.SetWriteDeadline(time.Time{})
		c.state = stReading
	case c.state == stLinger:
		c.discard(ev.err)
		return
	case ev.err == nil:
		c.read(now)
	case errors.Is(ev.err, os.ErrDeadlineExceeded):
		c.timers(now)
	default: // closed
		c.close()
		return
	}
	c.advance(now)
}

// read does one read: a buffer's worth per event, so that one fast
// client cannot starve the others. If more is waiting, the hook fires
// again at once and the connection queues behind the others.
func (c *smConn) read(now time.Time) {
	buf := c.srv.rbuf
	n, err := unix.Read(c.sysfd, buf)
	switch {
	case err == unix.EAGAIN:
		c.fd.ClearReadable()
	case err == unix.EINTR:
	case err != nil:
		c.close() // a reset: nobody to answer
	case n == 0:
		c.eof = true
	default:
		if n < len(buf) {
			c.fd.ClearReadable() // drained: wait for the next edge
		}
		c.in = append(c.in, buf[:n]...)
		if c.srv.idle > 0 {
			c.idleAt = now.Add(c.srv.idle)
		}
	}
}

// timers runs the connection's timers that are due.
func (c *smConn) timers(now time.Time) {
	if !c.tickAt.IsZero() && !now.Before(c.tickAt) {
		c.out = c.t.tick(c.out)
		c.tickAt = nextTick(c.tickAt, now, c.t.tickEvery)
	}
	if c.srv.idle > 0 && !now.Before(c.idleAt) && !c.quit && inputWaiting(c.sysfd) {
		// The timer is handled late (the loop did not run for a while:
		// a loaded machine, a stopped process) and the client's input
		// came meanwhile: activity, not idleness. read renews idleAt.
		c.read(now)
		if c.state == stClosed {
			return
		}
	}
	if c.srv.idle > 0 && !now.Before(c.idleAt) && !c.quit {
		c.out = append(c.out, replyIdle...)
		c.quit = true
	}
}

// inputWaiting reports whether the socket fd has input (or the client's
// end of stream) to read, without reading it.
func inputWaiting(fd int) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(fd, b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil
}

// advance runs the complete lines, sends the replies, and picks the
// state to wait in.
func (c *smConn) advance(now time.Time) {
	if c.state == stClosed {
		return
	}
	for {
		c.process(now)
		if !c.flush(now) {
			return // waiting for writability, or closed
		}
		// Everything is sent. Lines held back while replies were pending
		// can run now.
		if c.quit || !c.hasLine() {
			break
		}
	}
	if c.quit || c.eof {
		c.linger(now)
		return
	}
	c.arm()
}

// hasLine reports whether c.in holds a line to run: a complete one, an
// over-long one, or the last one at end of input.
func (c *smConn) hasLine() bool {
	return len(c.in) > 0 && (c.eof || len(c.in) >= maxLine || bytes.IndexByte(c.in, '\n') >= 0)
}

// process runs the complete lines in c.in, until a command ends the
// session or the pending replies reach maxPending.
func (c *smConn) process(now time.Time) {
	in := c.in
	for !c.quit && len(c.out)-c.sent < maxPending {
		i := bytes.IndexByte(in[:min(len(in), maxLine)], '\n')
		var line []byte
		switch {
		case i >= 0:
			line, in = in[:i], in[i+1:]
		case len(in) >= maxLine:
			c.out = append(c.out, replyTooLong...)
			c.quit = true
			in = nil
			continue
		case c.eof && len(in) > 0:
			line, in = in, nil // the last line, without "\n"
		default:
			c.in = append(c.in[:0], in...)
			return
		}
		var act action
		c.out, act = c.t.exec(line, c.out)
		switch act {
		case actQuit:
			c.quit = true
		case actTick:
			c.tickAt = time.Time{}
			if c.t.tickEvery > 0 {
				c.tickAt = now.Add(c.t.tickEvery)
			}
		}
	}
	if c.quit {
		in = nil
	}
	c.in = append(c.in[:0], in...)
	if len(c.in) == 0 && cap(c.in) > 4<<10 {
		c.in = nil // don't keep a burst's buffer for the session's life
	}
}

// flush writes pending replies. It returns true when all are written;
// false when the socket is full (the connection now waits for
// writability) or the connection failed and is closed.
func (c *smConn) flush(now time.Time) bool {
	for c.sent < len(c.out) {
		n, err := unix.Write(c.sysfd, c.out[c.sent:])
		switch {
		case err == unix.EAGAIN:
			c.fd.ClearWritable()
			c.waitWritable(now)
			return false
		case err == unix.EINTR:
			continue
		case err != nil:
			c.close() // EPIPE, ECONNRESET: the client is gone
			return false
		}
		c.sent += n
	}
	c.sent = 0
	if cap(c.out) > 64<<10 {
		c.out = nil // don't keep a burst's buffer for the session's life
	} else {
		c.out = c.out[:0]
	}
	return true
}

// waitWritable enters stWriting: the write hook, the EPOLLOUT interest of
// a C event loop, reports when the send buffer has room again.
func (c *smConn) waitWritable(now time.Time) {
	c.state = stWriting
	c.fd.SetReadHook(nil)
	if c.srv.idle > 0 {
		c.fd.SetWriteDeadline(now.Add(c.srv.idle))
	}
	c.fd.SetWriteHook(c.whook)
}

// arm enters stReading: the read hook fires on input or at the earliest
// timer, whichever comes first.
func (c *smConn) arm() {
	c.state = stReading
	var at time.Time
	if c.srv.idle > 0 {
		at = c.idleAt
	}
	if !c.tickAt.IsZero() && (at.IsZero() || c.tickAt.Before(at)) {
		at = c.tickAt
	}
	c.fd.SetReadDeadline(at)
	c.fd.SetReadHook(c.hook)
}

// linger shuts down the write side after the last reply and reads until
// the client closes too (or lingerTime passes), so that input still in
// flight does not make the kernel reset the connection, which could
// destroy the reply before the client reads it.
func (c *smConn) linger(now time.Time) {
	if err := unix.Shutdown(c.sysfd, unix.SHUT_WR); err != nil || c.eof {
		c.close()
		return
	}
	c.state = stLinger
	c.fd.SetReadDeadline(now.Add(lingerTime))
	c.fd.SetReadHook(c.hook)
}

// discard reads and drops input while lingering.
func (c *smConn) discard(err error) {
	if err != nil {
		c.close() // lingerTime passed
		return
	}
	n, rerr := unix.Read(c.sysfd, c.srv.rbuf)
	switch {
	case rerr == unix.EAGAIN:
		c.fd.ClearReadable()
	case rerr == unix.EINTR:
	case rerr != nil || n == 0:
		c.close()
		return
	default:
		if n < len(c.srv.rbuf) {
			c.fd.ClearReadable()
		}
		if c.lingered += n; c.lingered > 1<<20 {
			c.close()
			return
		}
	}
	c.fd.SetReadHook(c.hook)
}

func (c *smConn) close() {
	if c.state == stClosed {
		return
	}
	c.state = stClosed
	c.fd.SetReadHook(nil)
	c.fd.Close() // also fires an armed hook, whose event is then ignored
	delete(c.srv.conns, c)
}

// shutdown stops accepting, says "BYE shutdown" to every session, and
// waits up to grace for them to close. It runs in a task of srv.s.
func (srv *smServer) shutdown(grace time.Duration) {
	srv.closing = true
	srv.lfd.SetReadHook(nil)
	if err := srv.l.Close(); err != nil {
		srv.logger.Print(err)
	}
	now := time.Now()
	for c := range srv.conns {
		if c.state == stLinger || c.quit {
			continue
		}
		c.out = append(c.out, replyShutdown...)
		c.quit = true
		c.in = nil
		if c.state == stReading {
			c.advance(now)
		} else {
			c.fd.SetWriteDeadline(now.Add(grace))
		}
	}
	for deadline := now.Add(grace); len(srv.conns) > 0 && time.Now().Before(deadline); {
		sched.Sleep(10 * time.Millisecond)
	}
	for c := range srv.conns {
		c.close()
	}
}
