package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// dropGrace is how long a client being dropped (QUIT, SendQ exceeded,
// ping timeout, shutdown) has to take its last lines, the ERROR line
// included, before the connection is closed regardless.
const dropGrace = 2 * time.Second

// yieldEvery is how many commands a client runs before it lets the other
// tasks run, however fast its input comes.
const yieldEvery = 16

// A client is one connection, from accept to close.
//
// Its input is read and run by the task that owns it: in task mode one
// task for the whole session (handle), in ready mode a pooled task for
// each time the connection becomes readable (ready). Its output is
// appended to its buffer by whichever task has something to tell it and
// written by the flusher (or, while the socket is full, by a writer task
// of its own), so that a client that reads slowly delays no one: past
// the SendQ limit it is dropped instead.
type client struct {
	srv  *server
	c    *netio.Conn
	host string // the peer's IP address: the host part of the prefix

	// Registration.
	nick, user, real string
	prefix           string // nick!user@host, once registered
	passOK           bool
	capNeg           bool // CAP LS seen, CAP END not yet: registration waits
	registered       bool
	modes            string // user modes: a subset of "iw", sorted

	channels map[*channel]struct{}

	// Input: in[start:] is read and not yet run; skipping drops the rest
	// of a line that was too long. In ready mode in is lent by the
	// server while a partial line waits, and nil otherwise.
	in       []byte
	start    int
	skipping bool
	task     *sched.Task // the task running this client's input, if any

	// Timers, checked by the server's sweeper.
	since     time.Time // connected
	lastInput time.Time
	pingSent  time.Time // zero unless a PING awaits its answer
	floodAt   time.Time // the flood clock

	// Output: bytes appended and not yet handed to the socket, and the
	// bytes a writer task is writing now.
	out      []byte
	inflight int
	dirty    bool        // listed in srv.dirty
	writer   *sched.Task // writes while the socket is full
	wfailed  bool

	refused   bool   // over the client limit
	finishing bool   // a task is getting the last output out
	quitting  bool   // leaving: no more input is run, no more output queued but ERROR
	reason    string // why it is leaving
	gone      bool   // its connection has closed
}

func (srv *server) newClient(c *netio.Conn) *client {
	host := "unknown"
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		host = a.IP.String()
		if a.IP.To4() == nil {
			host = "[" + host + "]"
		}
	}
	now := srv.s.Now()
	cl := &client{srv: srv, c: c, host: host, since: now, lastInput: now, floodAt: now, passOK: srv.cfg.pass == ""}
	if len(srv.clients) >= srv.cfg.maxClients || srv.stopping {
		cl.refused = true
		return cl
	}
	if srv.cfg.sndBuf > 0 {
		// Bound the kernel's share of a slow reader's backlog too.
		c.SetWriteBuffer(srv.cfg.sndBuf)
	}
	srv.clients[cl] = struct{}{}
	return cl
}

// refuse tells a client over the limit why it is closed, and closes it.
func (cl *client) refuse() {
	why := "Too many connections"
	if cl.srv.stopping {
		why = "Server shutting down"
	}
	cl.c.SetWriteDeadline(time.Now().Add(dropGrace))
	io.WriteString(cl.c, "ERROR :Closing Link: "+cl.host+" ("+why+")\r\n")
	cl.c.Close()
}

// name is how numerics address the client: its nick, or "*" before it
// has one.
func (cl *client) name() string {
	if cl.nick == "" {
		return "*"
	}
	return cl.nick
}

// handle serves a connection in task mode: this task reads and runs the
// client's commands, blocking in Read while it is silent, until it leaves.
func (srv *server) handle(c *netio.Conn) {
	cl := srv.newClient(c)
	if cl.refused {
		cl.refuse()
		return
	}
	cl.task = sched.Current()
	cl.in = make([]byte, 0, inBufSize)
	cl.serve(false)
	cl.finish()
	cl.task = nil
	cl.closed(nil)
}

// ready serves a readable connection in ready mode: it reads what has
// arrived and runs every complete line, then returns, and the connection
// goes back to idle with no task. Only a client slowed down by flood
// control keeps its task, waiting for its turn.
func (srv *server) ready(c *netio.Conn) error {
	cl, _ := c.Value().(*client)
	if cl == nil || cl.refused {
		return io.EOF
	}
	cl.task = sched.Current()
	if cl.in == nil {
		cl.in = srv.getIn()
	}
	cl.serve(true)
	cl.task = nil
	if cl.quitting {
		if cl.finishing {
			return nil // a task of its own closes it
		}
		cl.task = sched.Current()
		cl.finish()
		cl.task = nil
		return io.EOF
	}
	if len(cl.in) == cl.start && !cl.skipping {
		// Nothing partial is left: the buffer goes back to the server.
		srv.putIn(cl.in)
		cl.in, cl.start = nil, 0
	}
	return nil
}

// serve reads and runs the client's input until it leaves or, in ready
// mode (once), until what has been read has been run.
func (cl *client) serve(once bool) {
	var resume time.Time // while slowed down: when input may run again
	for !cl.quitting {
		if !resume.IsZero() {
			cl.c.SetReadDeadline(resume)
		}
		err := cl.fill()
		if !resume.IsZero() {
			cl.c.SetReadDeadline(time.Time{})
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && !resume.IsZero():
			// Its turn has come: run what waits.
		case errors.Is(err, sched.ErrInterrupted):
			// Dropped by another task (cl.quitting is set), or the
			// scheduler is stopping.
			cl.quit("Server shutting down")
			return
		case errors.Is(err, io.EOF):
			cl.quit("Connection closed")
			return
		default:
			if !errors.Is(err, net.ErrClosed) && !isReset(err) {
				cl.srv.log.Printf("%s: read: %v", cl.host, err)
			}
			cl.quit("Read error")
			return
		}
		resume = cl.process()
		if cl.quitting {
			return
		}
		if !resume.IsZero() {
			if len(cl.in)-cl.start >= cl.srv.cfg.recvQ {
				cl.quit("Excess Flood")
				return
			}
			continue
		}
		if once {
			return
		}
	}
}

// fill reads once into the input buffer, after moving unread input to
// its front.
func (cl *client) fill() error {
	if cl.start > 0 {
		n := copy(cl.in[:cap(cl.in)], cl.in[cl.start:])
		cl.in, cl.start = cl.in[:n], 0
	}
	if len(cl.in) == cap(cl.in) {
		if cap(cl.in) >= cl.srv.cfg.recvQ {
			return nil // full while slowed down: the caller decides
		}
		// Slowed down: input piles up, up to -recvq.
		b := make([]byte, len(cl.in), min(2*cap(cl.in), cl.srv.cfg.recvQ))
		copy(b, cl.in)
		cl.in = b
	}
	n, err := cl.c.Read(cl.in[len(cl.in):cap(cl.in)])
	cl.in = cl.in[:len(cl.in)+n]
	if n > 0 {
		return nil // an error comes again with the next read
	}
	return err
}

// process runs the complete lines in the input buffer. It returns the
// zero time when all of them ran, or, when flood control holds the
// client back, the time at which the next may run.
func (cl *client) process() time.Time {
	srv := cl.srv
	ran := 0
	for !cl.quitting {
		buf := cl.in[cl.start:]
		i := bytes.IndexByte(buf, '\n')
		if cl.skipping {
			if i < 0 {
				cl.in, cl.start = cl.in[:0], 0
				return time.Time{}
			}
			cl.start += i + 1
			cl.skipping = false
			continue
		}
		if i < 0 {
			if len(buf) >= maxLine {
				// No line end within the limit: say so once, and drop
				// the line up to its end, however long it is.
				cl.numeric("417", ":Input line was too long")
				cl.in, cl.start = cl.in[:0], 0
				cl.skipping = true
			}
			return time.Time{}
		}
		line := buf[:i]
		// Registration is not counted: the registration timeout bounds
		// it, and a client's first lines come in a burst.
		if p := srv.cfg.floodPenalty; p > 0 && cl.registered {
			now := srv.s.Now()
			if cl.floodAt.Before(now) {
				cl.floodAt = now
			}
			if ahead := cl.floodAt.Sub(now); ahead > srv.cfg.floodBurst {
				return now.Add(ahead - srv.cfg.floodBurst)
			}
			// A message costs the penalty, and a long one more: a
			// full 512-byte line three times as much.
			cl.floodAt = cl.floodAt.Add(p + p*time.Duration(len(line))/256)
		}
		cl.start += i + 1
		if len(line)+1 > maxLine {
			cl.numeric("417", ":Input line was too long")
			continue
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		cl.lastInput, cl.pingSent = srv.s.Now(), time.Time{}
		if len(line) == 0 {
			continue
		}
		if bytes.IndexByte(line, 0) >= 0 {
			cl.numeric("400", "* :Input line contains a NUL byte")
			continue
		}
		// One message for the whole server: a command never blocks.
		if srv.msg.parse(line) {
			srv.command(cl, &srv.msg)
		}
		if ran++; ran%yieldEvery == 0 {
			// A client that sends without pause would otherwise keep
			// the thread, and the flusher would not run until queues
			// overflow.
			sched.Yield()
		}
	}
	return time.Time{}
}

// quit marks the client as leaving for reason, from its own task: its
// peers are told, and the task then ends the session (finish).
func (cl *client) quit(reason string) {
	if cl.quitting {
		return
	}
	cl.quitting = true
	cl.reason = reason
	cl.srv.remove(cl, reason)
	cl.queueError(reason)
}

// drop ends a client's session from any task: like quit, and the task
// that owns its input, if one runs, is interrupted to finish the session;
// an idle ready-mode client gets a task to do it.
func (cl *client) drop(reason string) {
	if cl.quitting || cl.gone {
		return
	}
	cl.quit(reason)
	switch {
	case cl.task == sched.Current():
		// Its own task, which sees quitting.
	case cl.task != nil:
		cl.task.Interrupt()
	default:
		cl.finishing = true
		cl.srv.s.Go(func() {
			cl.finish()
			cl.c.Close()
		})
	}
}

// queueError queues the last line, ERROR with the reason; output queued
// but unsent after a SendQ overflow is discarded first.
func (cl *client) queueError(reason string) {
	if reason == "SendQ exceeded" {
		cl.srv.putOut(cl.out)
		cl.out = nil
	}
	line := "ERROR :Closing Link: " + cl.host + " (" + reason + ")\r\n"
	if cl.out == nil {
		cl.out = cl.srv.getOut()
	}
	cl.out = append(cl.out, line...)
	if !cl.dirty && cl.writer == nil {
		cl.srv.markDirty(cl)
	}
}

// finish gets the last output out, within dropGrace, and waits for the
// writer task. The connection is closed afterwards by the caller.
//
// The task may carry an interrupt that arrived while it was not blocked
// (drop interrupts the owner wherever it is): the first blocking call
// then returns at once, so each is tried twice.
func (cl *client) finish() {
	cl.finishing = true
	cl.c.SetWriteDeadline(time.Now().Add(dropGrace))
	for range 2 {
		if w := cl.writer; w != nil && errors.Is(w.Wait(), sched.ErrInterrupted) {
			continue
		}
		break
	}
	for range 2 {
		if len(cl.out) == 0 || cl.wfailed || cl.writer != nil {
			break
		}
		n, err := cl.c.Write(cl.out)
		cl.out = cl.out[:copy(cl.out, cl.out[n:])]
		if !errors.Is(err, sched.ErrInterrupted) {
			break
		}
	}
	if cl.writer == nil {
		cl.srv.putOut(cl.out)
		cl.out = nil
	}
}

// closed forgets a client whose connection has closed.
func (cl *client) closed(error) {
	if cl.gone || cl.refused {
		return
	}
	if sched.Current() == nil {
		// A hook on the host loop: telling the peers needs a task.
		cl.srv.s.Go(func() { cl.closed(nil) })
		return
	}
	if !cl.quitting {
		cl.quitting = true
		cl.srv.remove(cl, "Connection closed")
	}
	cl.gone = true
	delete(cl.srv.clients, cl)
	if cl.in != nil {
		cl.srv.putIn(cl.in)
		cl.in = nil
	}
	if cl.writer == nil {
		cl.srv.putOut(cl.out)
		cl.out = nil
	}
}

// send queues a line (CR LF included) for the client. A client whose
// queue would pass the SendQ limit is dropped instead.
func (cl *client) send(line []byte) {
	if cl.quitting || cl.gone {
		return
	}
	if len(cl.out)+cl.inflight+len(line) > cl.srv.cfg.sendQ {
		cl.srv.log.Printf("%s (%s): SendQ exceeded (%d bytes queued), dropped", cl.name(), cl.host, len(cl.out)+cl.inflight)
		cl.drop("SendQ exceeded")
		return
	}
	if cl.out == nil {
		cl.out = cl.srv.getOut()
	}
	cl.out = append(cl.out, line...)
	if !cl.dirty && cl.writer == nil {
		cl.srv.markDirty(cl)
	}
}

// flush hands the client's output to its socket without waiting: the
// common case is one write that takes it all. What the socket does not
// take goes to a writer task, which waits for the socket while others go
// on queueing (up to the SendQ limit).
func (cl *client) flush() {
	if cl.writer != nil || len(cl.out) == 0 || cl.gone || cl.wfailed {
		return
	}
	n, err := cl.c.TryWrite(cl.out)
	if err != nil {
		cl.writeFailed(err)
		return
	}
	if n == len(cl.out) {
		cl.srv.putOut(cl.out)
		cl.out = nil
		return
	}
	cl.out = cl.out[:copy(cl.out, cl.out[n:])]
	cl.writer = cl.srv.s.Go(cl.writeLoop)
}

// writeLoop is the writer task of a client whose socket is full.
func (cl *client) writeLoop() {
	for len(cl.out) > 0 && !cl.wfailed {
		buf := cl.out
		cl.out, cl.inflight = nil, len(buf)
		_, err := cl.c.Write(buf)
		cl.inflight = 0
		cl.srv.putOut(buf)
		if err != nil {
			cl.writeFailed(err)
		}
	}
	cl.writer = nil
}

func (cl *client) writeFailed(err error) {
	cl.wfailed = true
	if !errors.Is(err, net.ErrClosed) && !isReset(err) && !errors.Is(err, os.ErrDeadlineExceeded) {
		cl.srv.log.Printf("%s: write: %v", cl.host, err)
	}
	cl.drop("Write error")
}

// numeric queues a reply from the server: ":server CODE target rest".
func (cl *client) numeric(code, rest string) {
	cl.send([]byte(":" + cl.srv.cfg.name + " " + code + " " + cl.name() + " " + rest + "\r\n"))
}

// isReset reports errors that mean the peer went away abruptly.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
