package main

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

const (
	// bufSize is the size of a client's input and output buffers, as
	// Redis's PROTO_IOBUF_LEN: one read takes up to this much.
	bufSize = 16 << 10
	// flushAt is how much reply a batch of pipelined commands may pile up
	// before it is written out in the middle of the batch.
	flushAt = 64 << 10
	// drainTimeout bounds how long a closing client's pending replies
	// may take to go out (after QUIT, or once the client hung up).
	drainTimeout = 5 * time.Second
)

// A client is the state of one connection, kept as the connection's value
// (netio.Conn.SetValue): in ready mode no task holds the connection
// between reads, and the parser's progress through a half-received
// command lives here.
//
// A client belongs to the scheduler of its connection. Its fields are
// touched by that scheduler's tasks only — the task reading commands and,
// while replies wait for a slow reader, a writer task — except that a
// command forwarded to another shard (with -cores > 1) appends its reply
// from the other scheduler's thread while the reading task is parked in
// Scheduler.Do, which orders the two.
type client struct {
	srv  *server
	home *shard // the shard of the connection's scheduler
	c    *netio.Conn
	id   uint64
	name string // CLIENT SETNAME

	in []byte // input; in[r:] is not parsed yet
	r  int
	p  *parser

	w        replies     // replies not yet handed to the socket
	pend     []byte      // replies the writer task has yet to write
	inflight int         // bytes the writer task is writing now
	writer   *sched.Task // the writer task, while one runs

	closeAfterReply bool // QUIT or a protocol error: close once replies are out
	dropNow         bool // close without further ado
	dead            bool // closed: output limit, write error, shutdown
	refused         bool // over -maxclients
	counted         bool // counted in server.clients

	idx  [][]int   // byShard's scratch: key positions per shard
	vals []replies // MGET's scratch, with -cores > 1
}

func newClient(srv *server, sh *shard, c *netio.Conn) *client {
	return &client{
		srv:  srv,
		home: sh,
		c:    c,
		id:   srv.ids.Add(1),
		p:    newParser(srv.cfg.maxArgs, srv.cfg.maxBulk),
	}
}

func (cl *client) addr() string { return cl.c.RemoteAddr().String() }

// errQueryLimit ends a client whose one command outgrew -maxquery.
var errQueryLimit = errors.New("query buffer limit reached")

// fill reads once into the input buffer, after making room: compacting
// the unparsed bytes to the front, or growing the buffer to what the
// command being parsed needs (a big bulk argument is read into a buffer
// of its size, not copied from one buffer to the next).
func (cl *client) fill() error {
	if cl.in == nil {
		cl.in = cl.home.getBuf()
	}
	if cl.r == len(cl.in) {
		cl.in, cl.r = cl.in[:0], 0
	}
	if len(cl.in) == cap(cl.in) {
		have := len(cl.in) - cl.r
		need := cl.p.need(have)
		if need > cl.srv.cfg.maxQuery {
			return errQueryLimit
		}
		if need <= cap(cl.in) && cl.r > 0 {
			n := copy(cl.in, cl.in[cl.r:])
			cl.in, cl.r = cl.in[:n], 0
		} else {
			size := max(need, 2*cap(cl.in))
			if cl.p.bulk >= 0 && cl.p.left > 0 {
				size = need + bufSize // the bulk, and room for what follows it
			}
			buf := make([]byte, have, min(size, cl.srv.cfg.maxQuery))
			copy(buf, cl.in[cl.r:])
			cl.home.putBuf(cl.in)
			cl.in, cl.r = buf, 0
		}
	}
	n, err := cl.c.Read(cl.in[len(cl.in):cap(cl.in)])
	cl.in = cl.in[:len(cl.in)+n]
	return err
}

// process answers every complete command in the input buffer: the replies
// pile up in cl.w and go out in one write after the batch (flush).
func (cl *client) process() {
	for cl.r < len(cl.in) && !cl.closeAfterReply && !cl.dropNow && !cl.dead {
		n, args, err := cl.p.next(cl.in[cl.r:])
		if err != nil {
			// As Redis: reply, then close once the reply is out.
			cl.w.err("ERR " + err.Error())
			cl.closeAfterReply = true
			cl.r = len(cl.in)
			if cl.srv.cfg.verbose {
				cl.srv.logf("protocol error from %s: %v", cl.addr(), err)
			}
			return
		}
		if n == 0 {
			return // the rest of the command is still on its way
		}
		cl.r += n
		if len(args) > 0 {
			cl.exec(args)
		}
		if len(cl.w.b) >= flushAt {
			cl.flush()
			if cl.writer != nil {
				// The socket is full: let the writer task (and everyone
				// else) run before piling up more.
				sched.Yield()
			}
		}
	}
}

// flush hands the replies to the socket. The common case is one write
// that takes everything. If the socket's buffer is full — the client reads
// more slowly than it sends — the rest goes to a writer task, which
// waits for the socket while this task goes on reading commands, as an
// event loop would. What waits for the writer is the client's output
// buffer: past -maxoutput bytes the client is disconnected, as Redis does
// with client-output-buffer-limit, so that memory stays bounded.
func (cl *client) flush() {
	if len(cl.w.b) == 0 || cl.dead {
		return
	}
	if cl.writer == nil {
		n, err := cl.c.TryWrite(cl.w.b)
		if err != nil {
			cl.fail(err)
			return
		}
		if n == len(cl.w.b) {
			cl.w.b = cl.w.b[:0]
			return
		}
		cl.pend = append(cl.pend[:0], cl.w.b[n:]...)
		cl.writer = cl.home.s.Go(cl.drain)
	} else {
		cl.pend = append(cl.pend, cl.w.b...)
	}
	cl.w.b = shrink(cl.w.b[:0])
	if len(cl.pend)+cl.inflight > cl.srv.cfg.maxOutput {
		cl.srv.logf("client %s (id %d) closed for overcoming the output buffer limit: %d bytes pending, limit %d",
			cl.addr(), cl.id, len(cl.pend)+cl.inflight, cl.srv.cfg.maxOutput)
		cl.fail(nil)
	}
}

// drain is the writer task: it writes the pending replies, parking while
// the socket is full, until none are left.
func (cl *client) drain() {
	var buf []byte
	for len(cl.pend) > 0 && !cl.dead {
		// Swap buffers: the reading task appends to the other meanwhile.
		buf, cl.pend = cl.pend, buf[:0]
		cl.inflight = len(buf)
		_, err := cl.c.Write(buf)
		cl.inflight = 0
		if err != nil {
			cl.fail(err)
		}
	}
	cl.pend = shrink(cl.pend)
	cl.writer = nil
}

// shrink drops a buffer that grew big for a burst.
func shrink(b []byte) []byte {
	if cap(b) > 4*bufSize {
		return nil
	}
	return b
}

// fail closes the connection at once; err is why (nil: already said).
func (cl *client) fail(err error) {
	if cl.dead {
		return
	}
	cl.dead = true
	if err != nil && cl.srv.cfg.verbose && !quietErr(err) {
		cl.srv.logf("client %s: %v", cl.addr(), err)
	}
	cl.c.Close()
}

// quietErr reports errors that are a client's ordinary way of leaving.
func quietErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, sched.ErrInterrupted) || isReset(err)
}

// finish ends a client's session: pending replies go out (within
// drainTimeout) unless the connection is to be dropped, and the writer
// task is waited for. The server closes the connection afterwards.
func (cl *client) finish() {
	if cl.dropNow {
		cl.fail(nil)
	}
	if cl.writer != nil {
		if !cl.dead {
			cl.c.SetWriteDeadline(time.Now().Add(drainTimeout))
		}
		cl.writer.Wait()
	}
}

// over reports whether the session must end after this batch.
func (cl *client) over() bool { return cl.closeAfterReply || cl.dropNow || cl.dead }

// handle serves a connection in task mode: one task per connection, which
// reads, answers every complete command, writes, and reads again.
func (srv *server) handle(c *netio.Conn) {
	cl, _ := c.Value().(*client)
	if cl == nil || cl.refused {
		return
	}
	defer cl.finish()
	for !srv.stopping.Load() {
		if d := srv.cfg.idle; d > 0 {
			c.SetReadDeadline(time.Now().Add(d))
		}
		if err := cl.fill(); err != nil {
			if !quietErr(err) && !errors.Is(err, errQueryLimit) {
				srv.logf("client %s: read: %v", cl.addr(), err)
			} else if errors.Is(err, errQueryLimit) {
				srv.logf("client %s closed: one command is larger than -maxquery %d", cl.addr(), srv.cfg.maxQuery)
				cl.dropNow = true
			}
			return
		}
		cl.process()
		cl.flush()
		if cl.over() {
			return
		}
		cl.trim()
	}
}

// ready serves a readable connection in ready mode: one read, every
// complete command answered, one write; then the connection goes back to
// idle with no task, its parser's state kept in the client.
func (srv *server) ready(c *netio.Conn) error {
	cl, _ := c.Value().(*client)
	if cl == nil || cl.refused {
		return errRefused
	}
	if err := cl.fill(); err != nil {
		if errors.Is(err, errQueryLimit) {
			srv.logf("client %s closed: one command is larger than -maxquery %d", cl.addr(), srv.cfg.maxQuery)
			cl.dropNow = true
		}
		cl.finish()
		return err
	}
	cl.process()
	cl.flush()
	if cl.over() {
		cl.finish()
		return io.EOF
	}
	cl.trim()
	cl.idle()
	return nil
}

var errRefused = errors.New("refused: max number of clients reached")

// trim drops an input buffer that grew for a big command, once it is
// consumed.
func (cl *client) trim() {
	if cl.r == len(cl.in) && cap(cl.in) > bufSize {
		cl.in, cl.r = nil, 0
	}
}

// idle gives the buffers of an idle ready-mode client back to its shard,
// so that an idle connection holds neither a stack nor buffers.
func (cl *client) idle() {
	if cl.r == len(cl.in) && !cl.p.partial() {
		cl.home.putBuf(cl.in)
		cl.in, cl.r = nil, 0
	}
}

// release gives the client's buffers back when the connection has closed.
func (cl *client) release() {
	if cl.writer == nil {
		cl.home.putBuf(cl.in)
		cl.in = nil
	}
}
