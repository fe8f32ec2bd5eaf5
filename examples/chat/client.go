package main

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// dropGrace is how long a client being dropped (SendQ exceeded, ping
// timeout, QUIT, shutdown) has to take its last lines, the ERROR line
// included, before the connection is closed regardless.
const dropGrace = 2 * time.Second

// yieldEvery is how many commands a client's reader runs before it lets
// the other tasks run, however fast its input comes.
const yieldEvery = 16

// A client is one connection: a reader task runs its commands and a
// writer task sends what is queued for it. Other clients' tasks queue
// lines for it (send) but never write to its socket, so a client that
// reads slowly delays no one: when its queue outgrows the SendQ limit it
// is dropped instead.
type client struct {
	srv   *server
	c     *netio.Conn
	nick  string
	rooms map[*room]struct{}

	reader *sched.Task // runs the commands; interrupted to drop the client
	writer *sched.Task

	// The send queue: lines queued and not yet written (queued counts
	// the bytes of the write in progress too), and the writer's wake-up.
	q      [][]byte
	spare  [][]byte
	queued int
	kick   *sched.Chan[struct{}]

	closing bool   // no more lines are queued but the last ERROR
	reason  string // why the client is going, once it is
}

// handle serves one connection: the reader loop in this task, the writer
// in another.
func (srv *server) handle(c *netio.Conn) {
	cl := &client{
		srv:    srv,
		c:      c,
		rooms:  make(map[*room]struct{}),
		reader: sched.Current(),
		kick:   sched.NewChan[struct{}](1),
	}
	if srv.cfg.sndBuf > 0 {
		// Bound the kernel's share of a slow reader's backlog too.
		c.SetWriteBuffer(srv.cfg.sndBuf)
	}
	srv.clients[cl] = struct{}{}
	cl.writer = srv.s.Go(cl.writeLoop)
	reason := cl.readLoop()
	srv.remove(cl, reason)
	cl.finish(reason)
}

// readLoop reads and runs commands until the client quits, fails, goes
// silent, or is dropped, and returns why it ends.
func (cl *client) readLoop() string {
	srv := cl.srv
	lr := newLineReader(cl.c, srv.cfg.maxLine)
	lastInput := time.Now()
	var pingedAt time.Time
	lines := 0
	for cl.reason == "" {
		// The idle timer is the read deadline: silence for cfg.idle
		// earns a PING, then cfg.pongTimeout more ends the session.
		switch {
		case srv.cfg.idle <= 0:
		case pingedAt.IsZero():
			cl.c.SetReadDeadline(lastInput.Add(srv.cfg.idle))
		default:
			cl.c.SetReadDeadline(pingedAt.Add(srv.cfg.pongTimeout))
		}
		line, err := lr.next()
		switch {
		case err == nil:
		case errors.Is(err, errLineTooLong):
			cl.reply("417 " + cl.target() + " :Input line was too long")
			lastInput, pingedAt = time.Now(), time.Time{}
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			if pingedAt.IsZero() {
				pingedAt = time.Now()
				cl.reply("PING :coop-chat")
				continue
			}
			return "Ping timeout"
		case errors.Is(err, sched.ErrInterrupted):
			if cl.reason == "" {
				return "Server stopping" // the scheduler itself is stopping
			}
			return cl.reason // dropped by another task, which said why
		case errors.Is(err, io.EOF):
			return "Connection closed"
		default:
			if !errors.Is(err, net.ErrClosed) {
				srv.log.Printf("%s: read: %v", cl.c.RemoteAddr(), err)
			}
			return "Read error"
		}
		lastInput, pingedAt = time.Now(), time.Time{}
		srv.command(cl, line)
		if lines++; lines%yieldEvery == 0 {
			// A client that sends without pause would otherwise keep
			// the thread, and the writers of the clients it talks to
			// would not run until their queues overflow.
			sched.Yield()
		}
	}
	return cl.reason
}

// target is how numerics address the client: its nick, or "*" before it
// has one.
func (cl *client) target() string {
	if cl.nick == "" {
		return "*"
	}
	return cl.nick
}

// reply queues one line from the server.
func (cl *client) reply(s string) { cl.send([]byte(s + "\r\n")) }

// send queues line for the client. line is shared with other recipients
// and must not change. A client whose queue would pass the SendQ limit is
// dropped: its queue is discarded, its reader interrupted.
func (cl *client) send(line []byte) {
	if cl.closing || cl.reason != "" {
		return
	}
	if cl.queued+len(line) > cl.srv.cfg.sendQ {
		cl.srv.log.Printf("%s (%s): SendQ exceeded (%d bytes queued), dropped", cl.target(), cl.c.RemoteAddr(), cl.queued)
		cl.drop("SendQ exceeded")
		return
	}
	cl.q = append(cl.q, line)
	cl.queued += len(line)
	cl.kick.TrySend(struct{}{})
}

// drop ends the session of a client from another task: the reader wakes
// from its read with ErrInterrupted and leaves with reason.
func (cl *client) drop(reason string) {
	if cl.reason != "" {
		return
	}
	cl.reason = reason
	for _, l := range cl.q {
		cl.queued -= len(l)
	}
	clear(cl.q)
	cl.q = cl.q[:0]
	if cl.reader != sched.Current() {
		cl.reader.Interrupt()
	}
}

// quit ends the session from the client's own reader.
func (cl *client) quit(reason string) { cl.reason = reason }

// finish queues the last line, ERROR with the reason, and waits (at most
// dropGrace) for the writer to get it out.
func (cl *client) finish(reason string) {
	if strings.HasPrefix(reason, "Quit: ") {
		reason = "Closing link (" + reason + ")"
	}
	cl.q = append(cl.q, []byte("ERROR :"+reason+"\r\n"))
	cl.closing = true
	cl.kick.TrySend(struct{}{})
	cl.c.SetWriteDeadline(time.Now().Add(dropGrace))
	cl.writer.Wait()
}

// writeLoop is the writer task: it writes whatever is queued, many lines
// per system call (writev), and parks while there is nothing to write or
// the socket is full.
func (cl *client) writeLoop() {
	for {
		for len(cl.q) == 0 {
			if cl.closing {
				return
			}
			if _, err := cl.kick.Recv(); err != nil {
				return
			}
		}
		batch := net.Buffers(cl.q)
		cl.q, cl.spare = cl.spare[:0], cl.q
		n := 0
		for _, b := range batch {
			n += len(b)
		}
		_, err := cl.c.WriteBuffers(&batch)
		cl.queued -= n
		clear(cl.spare) // let the GC have the lines
		if err != nil {
			if !cl.closing && cl.reason == "" {
				cl.drop("Write error")
			}
			cl.closing = true
			return
		}
	}
}
