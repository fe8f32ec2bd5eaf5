package main

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/netio/prefork"
)

// config is the server's configuration, shared read-only by all
// schedulers.
type config struct {
	root          *os.Root      // the -root directory; nil: no static route
	maxHeader     int           // bytes of request line and header fields
	maxBody       int64         // largest request body read (and discarded)
	headerTimeout time.Duration // to receive a request's header, idle time included
	writeTimeout  time.Duration // to write a response
	logger        *log.Logger

	proxy *netio.ProxyProtocol // -proxy-protocol; nil without
	srv   *netio.Server        // for draining (farm.go); set before serving
	// With -workers: this process's worker, which drains (-drain-delay)
	// before its server does.
	worker *prefork.Worker
}

// Buffer sizes. A read holds up to two maximal headers, so that after
// moving a partial request to the front of its buffer there is always
// room to read the rest of it. Responses are flushed once this much is
// batched. Both buffers are lent by the scheduler (sched.BufferPool) for
// a batch of requests, not owned by the connection: an idle connection,
// in either mode, holds none, and the few buffers in use stay in the
// cache, as nginx frees a keep-alive connection's buffers.
const (
	flushAt   = 32 << 10
	outSize   = flushAt + 4096
	linger    = 2 * time.Second
	lingerMax = 64 << 10
)

// local is what one scheduler's sessions share without locks: the cached
// Date, and in task mode the sessions, for shutdown to find the idle ones.
type local struct {
	cfg   *config
	clock clock

	// Task mode: every session, for shutdown to find the idle ones.
	sessions map[*session]struct{}
	draining bool // shutdown has begun
}

// A session is one connection's HTTP state between reads: everything the
// ready mode must keep while the connection has no task.
type session struct {
	loc  *local
	nc   *netio.Conn
	rd   *netio.Reader // the input; it holds a buffer only while bytes are pending
	in   []byte        // the unparsed input, as rd holds it (rd's buffered bytes)
	scan int           // where the search for the end of the pending header resumes, from the start of in
	out  []byte        // responses not yet written; lent for a batch, nil between batches

	discard  int64     // bytes of the last request's body still to skip
	progress bool      // answer completed a request
	rdl, wdl time.Time // task mode: the read and write deadlines in force
	started  time.Time // ready mode: when the pending request began
	waiting  bool      // task mode: blocked reading, no request pending
}

func newSession(l *local, nc *netio.Conn) *session {
	return &session{loc: l, nc: nc, rd: netio.NewReaderSize(nc, 2*l.cfg.maxHeader)}
}

// errClose ends a session after a response that closes the connection.
var errClose = errors.New("connection closed by the server")

// fill reads once more, after what is pending (the Reader waits for
// input without holding a buffer, and moves a partial request to the
// front of its buffer before reading).
func (s *session) fill() error {
	b, err := s.rd.Fill()
	s.in = b
	return err
}

// consume drops the first n pending bytes. Request slices into them stay
// valid until the next fill: the Reader keeps its buffer until it reads
// again.
func (s *session) consume(n int) {
	s.rd.Discard(n)
	s.in = s.in[n:]
}

// output makes sure an output buffer is lent for the batch.
func (s *session) output() {
	if s.out == nil {
		s.out = s.nc.Scheduler().Buffers().Get(outSize)[:0]
	}
}

// release gives the output buffer back once everything in it is
// written: between batches a connection holds none.
func (s *session) release() {
	if s.out != nil && len(s.out) == 0 {
		s.nc.Scheduler().Buffers().Put(s.out)
		s.out = nil
	}
}

// answer parses every complete request in the buffer and appends its
// response to the output, which it flushes when it grows past flushAt and
// before a static file. It returns errClose if the connection must close
// after the output is flushed, or a write error.
func (s *session) answer(now time.Time) error {
	cfg := s.loc.cfg
	date := s.loc.clock.dateAt(now)
	s.progress = false
	s.output()
	for {
		if s.discard > 0 {
			n := min(s.discard, int64(len(s.in)))
			s.consume(int(n))
			s.discard -= n
			if s.discard > 0 {
				return nil
			}
		}
		// RFC 9112 §2.2: ignore empty lines before a request line.
		for {
			if len(s.in) > 0 && s.in[0] == '\n' {
				s.consume(1)
			} else if len(s.in) > 1 && s.in[0] == '\r' && s.in[1] == '\n' {
				s.consume(2)
			} else {
				break
			}
		}
		pending := s.in
		if len(pending) == 0 {
			return nil
		}
		n := headerEnd(pending, s.scan)
		if n < 0 && len(pending) < cfg.maxHeader {
			s.scan = max(len(pending)-3, 0)
			return nil
		}
		if n < 0 || n > cfg.maxHeader {
			if bytes.IndexByte(pending[:cfg.maxHeader], '\n') < 0 {
				return s.refuse(statusURITooLong, date)
			}
			return s.refuse(statusHeaderTooLarge, date)
		}
		s.scan = 0
		var req request
		if status := parseRequest(pending[:n], &req); status != 0 {
			return s.refuse(status, date)
		}
		if req.contentLength > cfg.maxBody {
			return s.refuse(413, date)
		}
		s.consume(n)
		s.progress = true
		s.discard = max(req.contentLength, 0)
		conn := connPersist
		switch {
		case !req.keepAlive:
			conn = connClose
		case req.minor == 0:
			conn = connKeepAlive
		}
		if cfg.draining() {
			conn, req.keepAlive = connClose, false // this response is the connection's last
		}
		if err := s.route(&req, date, conn); err != nil {
			return err
		}
		if !req.keepAlive {
			return errClose
		}
		if len(s.out) >= flushAt {
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
}

// route answers one request.
func (s *session) route(req *request, date []byte, conn string) error {
	head := string(req.method) == "HEAD"
	if !head && string(req.method) != "GET" {
		s.out = errorResponse[405].appendTo(s.out, date, conn, head)
		return nil
	}
	path := req.target
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	switch {
	case string(path) == "/" || string(path) == "/hello":
		s.out = helloResponse.appendTo(s.out, date, conn, head)
	case string(path) == "/healthz":
		s.health(date, conn, head)
	case string(path) == "/ip":
		s.ip(date, conn, head)
	case s.loc.cfg.root != nil && bytes.HasPrefix(path, []byte("/static/")):
		return s.static(path[len("/static/"):], date, conn, head)
	default:
		s.out = errorResponse[404].appendTo(s.out, date, conn, head)
	}
	return nil
}

// refuse answers a request that cannot be served with an error status,
// after which the connection closes.
func (s *session) refuse(status int, date []byte) error {
	s.out = errorResponse[status].appendTo(s.out, date, connClose, false)
	return errClose
}

// flush writes the output.
func (s *session) flush() error {
	if len(s.out) == 0 {
		return nil
	}
	_, err := s.nc.Write(s.out)
	s.out = s.out[:0]
	return err
}

// armRead refreshes the read deadline when a request has just completed
// (or the connection is new): the next request's header must arrive
// within headerTimeout, keep-alive idle time included. A deadline is a
// timer operation, so it is moved only when it is more than a second
// stale: the timeout is exact to a second, and a busy connection touches
// its timer once a second, not once a request.
func (s *session) armRead(now time.Time) {
	if t := s.loc.cfg.headerTimeout; s.rdl.Sub(now) < t-time.Second {
		s.rdl = now.Add(t)
		s.nc.SetReadDeadline(s.rdl)
	}
}

// armWrite does the same for the write deadline: a client that stops
// reading its responses is cut off writeTimeout after its last request.
func (s *session) armWrite(now time.Time) {
	if t := s.loc.cfg.writeTimeout; s.wdl.Sub(now) < t-time.Second {
		s.wdl = now.Add(t)
		s.nc.SetWriteDeadline(s.wdl)
	}
}

// idle reports whether no request is partly read.
func (s *session) idle() bool { return len(s.in) == 0 && s.discard == 0 }

// readFailed handles a read error: a timeout in the middle of a request
// gets 408 before the connection closes; anything else just closes it.
func (s *session) readFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) && !s.idle() {
		now := s.nc.Scheduler().Now()
		s.output()
		s.out = errorResponse[408].appendTo(s.out[:0], s.loc.clock.dateAt(now), connClose, false)
		s.nc.SetWriteDeadline(now.Add(linger))
		s.flush()
		return
	}
	s.logError("read", err)
}

// finish flushes the last output before the server closes the
// connection. If the client sent more than was answered (a refused
// request, requests pipelined after "Connection: close") it lingers: it
// shuts the write side and drains what the client still sends for a
// moment, so that the client reads the response rather than the reset
// that closing a socket with unread data sends (nginx's lingering close).
func (s *session) finish(err error) {
	if err != errClose {
		s.logError("write", err)
		return
	}
	if err := s.flush(); err != nil {
		s.logError("write", err)
		return
	}
	if s.idle() || s.nc.CloseWrite() != nil {
		return
	}
	s.nc.SetReadDeadline(s.nc.Scheduler().Now().Add(linger))
	for n := 0; n < lingerMax; {
		b, err := s.rd.Fill()
		if err != nil {
			return
		}
		n += len(b)
		s.rd.Discard(len(b))
	}
}

// logError logs an error that is not the client's ordinary way of going
// away.
func (s *session) logError(op string, err error) {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return
	}
	s.loc.cfg.logger.Printf("%s %v: %v", op, s.nc.RemoteAddr(), err)
}
