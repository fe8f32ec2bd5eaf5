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
}

// Buffer sizes. A read buffer holds two maximal headers, so that after
// moving a partial request to its front there is always room to read the
// rest of it. Responses are flushed once this much is batched.
const (
	flushAt   = 32 << 10
	poolLimit = 1024 // free buffers a scheduler keeps (ready mode)
	linger    = 2 * time.Second
	lingerMax = 64 << 10
)

// local is what one scheduler's sessions share without locks: the cached
// Date and, in ready mode, the free buffers that idle connections give back.
type local struct {
	cfg   *config
	clock clock
	ins   [][]byte // free read buffers
	outs  [][]byte // free write buffers

	// Task mode: every session, for shutdown to find the idle ones.
	sessions map[*session]struct{}
	draining bool // shutdown has begun

}

func (l *local) getBuffers() (in, out []byte) {
	if n := len(l.ins); n > 0 {
		in, l.ins = l.ins[n-1], l.ins[:n-1]
	} else {
		in = make([]byte, 2*l.cfg.maxHeader)
	}
	if n := len(l.outs); n > 0 {
		out, l.outs = l.outs[n-1], l.outs[:n-1]
	} else {
		out = make([]byte, 0, flushAt+4096)
	}
	return in, out
}

func (l *local) putBuffers(in, out []byte) {
	if len(l.ins) < poolLimit && in != nil {
		l.ins = append(l.ins, in)
	}
	// A buffer that grew past its size (a long static-file header) is
	// not worth keeping.
	if len(l.outs) < poolLimit && out != nil && cap(out) <= flushAt+4096 {
		l.outs = append(l.outs, out[:0])
	}
}

// A session is one connection's HTTP state between reads: everything the
// ready mode must keep while the connection has no task.
type session struct {
	loc  *local
	nc   *netio.Conn
	in   []byte // read buffer; unparsed bytes are in[r:w]
	r, w int
	scan int    // where the search for the end of the pending header resumes, from r
	out  []byte // responses not yet written

	discard  int64     // bytes of the last request's body still to skip
	progress bool      // answer completed a request
	rdl, wdl time.Time // task mode: the read and write deadlines in force
	started  time.Time // ready mode: when the pending request began
	waiting  bool      // task mode: blocked reading, no request pending
}

// errClose ends a session after a response that closes the connection.
var errClose = errors.New("connection closed by the server")

// fill reads once into the free end of the buffer, first moving what is
// pending to the front.
func (s *session) fill() error {
	if s.r == s.w {
		s.r, s.w = 0, 0
	} else if s.r > 0 {
		s.w = copy(s.in, s.in[s.r:s.w])
		s.r = 0
	}
	n, err := s.nc.Read(s.in[s.w:])
	s.w += n
	return err
}

// answer parses every complete request in the buffer and appends its
// response to the output, which it flushes when it grows past flushAt and
// before a static file. It returns errClose if the connection must close
// after the output is flushed, or a write error.
func (s *session) answer(now time.Time) error {
	cfg := s.loc.cfg
	date := s.loc.clock.dateAt(now)
	s.progress = false
	for {
		if s.discard > 0 {
			n := min(s.discard, int64(s.w-s.r))
			s.r += int(n)
			s.discard -= n
			if s.discard > 0 {
				return nil
			}
		}
		// RFC 9112 §2.2: ignore empty lines before a request line.
		for {
			if s.r < s.w && s.in[s.r] == '\n' {
				s.r++
			} else if s.r+1 < s.w && s.in[s.r] == '\r' && s.in[s.r+1] == '\n' {
				s.r += 2
			} else {
				break
			}
		}
		pending := s.in[s.r:s.w]
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
		s.r += n
		s.progress = true
		s.discard = max(req.contentLength, 0)
		conn := connPersist
		switch {
		case !req.keepAlive:
			conn = connClose
		case req.minor == 0:
			conn = connKeepAlive
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
func (s *session) idle() bool { return s.r == s.w && s.discard == 0 }

// readFailed handles a read error: a timeout in the middle of a request
// gets 408 before the connection closes; anything else just closes it.
func (s *session) readFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) && !s.idle() {
		s.out = errorResponse[408].appendTo(s.out[:0], s.loc.clock.dateAt(time.Now()), connClose, false)
		s.nc.SetWriteDeadline(time.Now().Add(linger))
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
	s.nc.SetReadDeadline(time.Now().Add(linger))
	for n := 0; n < lingerMax; {
		m, err := s.nc.Read(s.in)
		if err != nil {
			return
		}
		n += m
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
