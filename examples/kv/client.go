package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

const (
	// bufSize is the size of a read, as Redis's PROTO_IOBUF_LEN: one read
	// takes up to this much. The buffer is lent by the scheduler while
	// commands are pending, not owned by the client.
	bufSize = 16 << 10
	// replySize is the reply buffer lent for a batch; it grows as the
	// replies need.
	replySize = 4 << 10
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

	rd *netio.Reader // input; it holds a buffer only while bytes are pending
	in []byte        // the input not yet parsed, as rd holds it
	p  *parser

	w        replies     // replies not yet handed to the socket
	pend     []byte      // replies the writer task has yet to write
	inflight int         // bytes the writer task is writing now
	writer   *sched.Task // the writer task, while one runs

	rdl time.Time // task mode: the idle deadline in force (-timeout)

	closeAfterReply bool // QUIT or a protocol error: close once replies are out
	dropNow         bool // close without further ado
	dead            bool // closed: output limit, write error, shutdown
	refused         bool // over -maxclients
	counted         bool // counted in server.clients

	idx  [][]int   // byShard's scratch: key positions per shard
	vals []replies // MGET's scratch, with -cores > 1

	// A command forwarded to another shard's scheduler (-cores > 1):
	// fwd is runForwarded bound once, and the fields its arguments.
	fwd      func()
	fwdCmd   *command
	fwdShard *shard
	fwdArgs  [][]byte
	// held is a forwarded command's arguments copied out of the input
	// buffer, so that the buffer goes back to the pool while the client
	// waits for the other scheduler (holdArgs).
	held     []byte
	heldArgs [][]byte
}

func newClient(srv *server, sh *shard, c *netio.Conn) *client {
	cl := &client{
		srv:  srv,
		home: sh,
		c:    c,
		id:   srv.ids.Add(1),
		p:    newParser(srv.cfg.maxArgs, srv.cfg.maxBulk),
		rd:   netio.NewReaderSize(c, bufSize),
	}
	cl.fwd = cl.runForwarded
	return cl
}

func (cl *client) addr() string { return cl.c.RemoteAddr().String() }

// errQueryLimit ends a client whose one command outgrew -maxquery.
var errQueryLimit = errors.New("query buffer limit reached")

// fill reads once more into the input, after the unparsed bytes. The
// Reader borrows its buffer from the scheduler for the read and gives it
// back once everything is parsed and it must wait again, so an idle
// client holds no input buffer (Redis keeps a query buffer per client).
// A command that does not fit makes room as it needs: a big bulk
// argument is read into a buffer of its size, not copied from one buffer
// to the next; a long line doubles the buffer.
func (cl *client) fill() error {
	have := len(cl.in)
	if have > 0 && cl.p.bulk >= 0 && cl.p.left > 0 {
		need := cl.p.need(have)
		if need > cl.srv.cfg.maxQuery {
			return errQueryLimit
		}
		cl.rd.Grow(need - have)
	}
	b, err := cl.rd.Fill()
	if errors.Is(err, bufio.ErrBufferFull) {
		need := max(cl.p.need(have), 2*len(b))
		if cl.p.need(have) > cl.srv.cfg.maxQuery {
			return errQueryLimit
		}
		cl.rd.Grow(min(need, cl.srv.cfg.maxQuery) - len(b))
		b, err = cl.rd.Fill()
	}
	cl.in = b
	return err
}

// consume drops the first n bytes of the input: parsed. The arguments
// of the commands in them stay valid until the next fill.
func (cl *client) consume(n int) {
	cl.rd.Discard(n)
	cl.in = cl.in[n:]
}

// process answers every complete command in the input buffer: the replies
// pile up in cl.w and go out in one write after the batch (flush).
func (cl *client) process() {
	if cl.w.b == nil {
		cl.w.b = cl.home.s.Buffers().Get(replySize)[:0]
	}
	for len(cl.in) > 0 && !cl.closeAfterReply && !cl.dropNow && !cl.dead {
		n, args, err := cl.p.next(cl.in)
		if err != nil {
			// As Redis: reply, then close once the reply is out.
			cl.w.err("ERR " + err.Error())
			cl.closeAfterReply = true
			cl.consume(len(cl.in))
			if cl.srv.cfg.verbose {
				cl.srv.logf("protocol error from %s: %v", cl.addr(), err)
			}
			return
		}
		if n == 0 {
			return // the rest of the command is still on its way
		}
		if len(args) > 0 && n == len(cl.in) && cl.forwarded(args) {
			// The batch's last command, and the client will wait
			// parked for another scheduler: the input buffer goes back
			// to the pool meanwhile, the few bytes of arguments copied
			// out, so that a session waiting on a forward holds no 16
			// KiB buffer (with many waiting, the pool would overflow
			// and every request allocate one).
			if held, ok := cl.holdArgs(args); ok {
				cl.consume(n)
				cl.rd.Release()
				cl.exec(held)
				continue
			}
		}
		if len(args) > 0 {
			cl.exec(args)
		}
		cl.consume(n)
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

// maxHeld is the most argument bytes holdArgs copies: a forwarded
// command with larger arguments keeps the input buffer while it waits.
const maxHeld = 512

// holdArgs copies args into the client's own small buffer, if they fit
// in maxHeld bytes, and returns the copies.
func (cl *client) holdArgs(args [][]byte) ([][]byte, bool) {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	if n > maxHeld {
		return nil, false
	}
	cl.held, cl.heldArgs = cl.held[:0], cl.heldArgs[:0]
	for _, a := range args {
		start := len(cl.held)
		cl.held = append(cl.held, a...)
		cl.heldArgs = append(cl.heldArgs, cl.held[start:len(cl.held):len(cl.held)])
	}
	return cl.heldArgs, true
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
		cl.armIdle()
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
		cl.releaseReplies()
		if cl.over() {
			return
		}
	}
}

// armIdle renews the idle timeout (-timeout) of a task-mode client before
// it waits for its next command. The time is the scheduler's, read once
// per poll; the deadline is a timer, moved only when it has aged by an
// eighth of the timeout (at most a second), not at every batch.
func (cl *client) armIdle() {
	d := cl.srv.cfg.idle
	if d <= 0 {
		return
	}
	now := cl.home.s.Now()
	if cl.rdl.Sub(now) < d-min(d/8, time.Second) {
		cl.rdl = now.Add(d)
		cl.c.SetReadDeadline(cl.rdl)
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
	cl.releaseReplies()
	if cl.over() {
		cl.finish()
		return io.EOF
	}
	return nil // the server gives the Reader's buffer back while idle
}

var errRefused = errors.New("refused: max number of clients reached")

// releaseReplies gives the reply buffer back to the scheduler once a
// batch's replies are handed to the socket (or to the writer task): a
// client waiting for its next command holds none.
func (cl *client) releaseReplies() {
	if cl.w.b != nil && len(cl.w.b) == 0 {
		cl.home.s.Buffers().Put(cl.w.b)
		cl.w.b = nil
	}
}
