//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"bufio"
	"bytes"
	"io"
	"syscall"
	"unsafe"

	"github.com/coopgo/coop/internal/fdhint"
	"github.com/coopgo/coop/sched"
)

// DefaultReadSize is the size of the buffer a Reader borrows for a read
// unless NewReaderSize says otherwise: Redis's PROTO_IOBUF_LEN, room for a
// batch of pipelined requests in one read. Since the buffer is lent only
// while a request is being handled, its size costs no memory per idle
// connection.
const DefaultReadSize = 16 << 10

// A Reader is a buffered reader of a Conn, like bufio.Reader, that holds
// a buffer only while it has unread bytes. Its buffer is lent by the
// Conn's scheduler (sched.BufferPool) when it must read, and given back
// when everything read has been consumed and the Reader must wait for
// more input: a task-mode session parked between requests holds no
// buffer, and the few buffers the pool lends stay in the cache, as the
// one shared buffer of a hand-written state machine does.
//
// A session parked in the middle of a request keeps the bytes it has, in
// a buffer no bigger than their size class: a slow client costs what it
// sent, not a full read buffer.
//
// The slices that Fill, Peek and ReadSlice return point into the
// buffer. They stay valid until the next call of a Reader method that
// reads or consumes (Fill, Peek, ReadSlice, Read, Discard, WriteTo,
// Release): once consumed and given back, the same memory is lent to
// another connection.
//
// A Reader is for one goroutine at a time, like bufio.Reader. Called from
// a task of the Conn's scheduler, a read that must wait parks the task;
// from any other goroutine each call is handed to the scheduler, as the
// Conn's own calls are. Plain Conn.Read keeps working, but bytes the
// Reader has buffered are not seen by it: read through one or the other.
//
// In ready mode (Server.Ready) the server gives a drained Reader's buffer
// back each time the connection goes back to idle (and moves a partial
// request to a buffer of its size), so a Ready function can keep its
// Reader (with Conn.SetValue) or make one per call.
//
// A zero Reader, or one made for a zero Conn, reads nothing: its reads
// fail with syscall.EINVAL, as the zero Conn's do.
type Reader struct {
	// A Reader is 64 bytes, a size class Go allocates on 64-byte
	// boundaries: one cache line, which a session at thousands of
	// connections finds cold on every request (its pool is the Conn's
	// scheduler's, reached through the Conn's first line, which the read
	// touches anyway).
	c    *Conn
	buf  []byte // lent by the scheduler's pool, or nil; buf[r:w] is unread
	r, w int
	size int // bytes to offer a read
	need int // Grow and Peek: room wanted from r on, beyond size
}

// NewReader returns a Reader of c that reads DefaultReadSize bytes at a
// time.
func NewReader(c *Conn) *Reader { return NewReaderSize(c, DefaultReadSize) }

// NewReaderSize returns a Reader of c that offers each read a buffer of
// size bytes, at least 16 and at most 64 KiB (the largest buffer the pool
// keeps; Grow makes room for larger requests). The server that serves c gives back the
// buffer of the Reader made last for c when the connection goes idle in
// ready mode, and when it ends.
func NewReaderSize(c *Conn, size int) *Reader {
	size = min(max(size, 16), maxLentBuffer)
	if !c.ok() {
		return &Reader{c: c, size: size} // its reads fail as c's do: EINVAL
	}
	r := &Reader{c: c, size: size}
	c.onThreadDo(func() error {
		c.rd, c.hasRd = r, true
		// A task parked in r's read touches r next after c: the
		// scheduler prefetches both one task ahead (see connFrom).
		fdhint.Set(c.fd, fdhint.Reader, uintptr(unsafe.Pointer(r)))
		return nil
	})
	return r
}

// pool is the buffer pool of r's scheduler, for the calls on its thread
// (onThread), where r.c is a Conn this package made.
func (r *Reader) pool() *sched.BufferPool { return r.c.s.Buffers() }

// onThread reports whether the caller may use r's buffer directly: a task
// of its Conn's scheduler. For a zero Reader, or one of a zero Conn, it
// reports false, and do fails the call.
func (r *Reader) onThread() bool {
	return r.c.ok() && r.c.s.Current() != nil
}

// do runs fn on r's scheduler thread, for callers that are not its tasks.
// A zero Reader, or one of a zero Conn, fails with syscall.EINVAL, as the
// zero Conn's Read does.
func (r *Reader) do(fn func()) error {
	if !r.c.ok() {
		return syscall.EINVAL
	}
	if err := r.c.s.Do(fn); err != nil {
		return r.c.opError("read", err)
	}
	return nil
}

// Buffered returns the number of bytes read and not yet consumed.
func (r *Reader) Buffered() int { return r.w - r.r }

// Fill reads once from the connection into the buffer, after the bytes
// already buffered, waiting until input arrives if none is waiting, and
// returns every buffered byte: those that were there first, then the new
// ones. It consumes nothing: Discard what has been used. It returns
// bufio.ErrBufferFull if the buffer is full of unread bytes (see Grow),
// and io.EOF at the end of the stream, both with the buffered bytes.
//
// Fill is the step of a protocol parser: parse what is buffered, and if
// the next request is incomplete, Fill and parse again.
func (r *Reader) Fill() ([]byte, error) {
	if !r.onThread() {
		var b []byte
		var err error
		if derr := r.do(func() { b, err = r.Fill() }); derr != nil {
			return nil, derr
		}
		return b, err
	}
	err := r.fill()
	return r.buf[r.r:r.w], err
}

// fill is one read into the buffer, on the scheduler thread: the wait,
// if any, comes first, with the buffer given back (or shrunk) meanwhile.
// A read that fails with nothing buffered gives the buffer back too: the
// session is ending, or will wait before it reads again.
func (r *Reader) fill() error {
	err := r.read()
	if err != nil && r.r == r.w {
		r.release()
	}
	return err
}

// read is fill's read, written like Conn.Read (and keeping the same
// books for a task-mode Server's Shutdown): try the read when the
// descriptor is known readable, else wait for an edge. A Reader that
// holds bytes of a request keeps its connection from looking idle
// (Conn.requestOpen).
func (r *Reader) read() error {
	c := r.c
	fd := c.fd
	if err := fd.CheckRead(); err != nil {
		return c.readWaitErr(err)
	}
	if c.reset {
		return c.rerr
	}
	for {
		if !fd.Readable() {
			if c.shutIdle && c.idle() {
				return c.opError("read", ErrServerClosed)
			}
			r.park()
			c.readers++
			err := fd.WaitRead()
			c.readers--
			if err != nil {
				return c.readWaitErr(err)
			}
		}
		if err := r.room(); err != nil {
			return err
		}
		n, e := rawRead(c.sysfd, r.buf[r.w:])
		if e != 0 {
			switch e {
			case syscall.EAGAIN:
				fd.ClearReadable()
				continue
			case syscall.EINTR:
				continue
			}
			return c.readErr(e)
		}
		if n == 0 {
			return io.EOF
		}
		c.reqOpen = true
		if n < len(r.buf)-r.w && c.stream {
			fd.ClearReadable() // drained: see Conn.Read
		}
		r.w += n
		return nil
	}
}

// park prepares r for a wait: a drained buffer goes back to the pool,
// and the few bytes of a partial request move to a buffer of their own
// size class, so that a parked session holds what it was sent and no
// more. A buffer grown past the pool's classes for a large request stays.
func (r *Reader) park() {
	if r.buf == nil {
		return
	}
	k := r.w - r.r
	if k == 0 {
		r.pool().Put(r.buf)
		r.buf, r.r, r.w, r.need = nil, 0, 0, 0
		return
	}
	if c := cap(r.buf); c <= maxLentBuffer && k <= c/4 {
		nb := r.pool().Get(k)
		nb = nb[:cap(nb)]
		copy(nb, r.buf[r.r:r.w])
		r.pool().Put(r.buf)
		r.buf, r.r, r.w = nb, 0, k
	}
}

// maxLentBuffer is the largest buffer the pool keeps (sched.BufferPool).
const maxLentBuffer = 64 << 10

// room makes space after the buffered bytes for a read: it borrows a
// buffer, moves the unread bytes to the front, or grows the buffer to
// what Grow or Peek asked for. It returns bufio.ErrBufferFull if the
// buffer is full of unread bytes.
func (r *Reader) room() error {
	want := max(r.size, r.need)
	if r.buf == nil {
		b := r.pool().Get(want)
		r.buf, r.r, r.w = b[:cap(b)], 0, 0
		return nil
	}
	if r.r == r.w {
		r.r, r.w = 0, 0
	}
	if len(r.buf) < want {
		b := r.pool().Get(want)
		b = b[:cap(b)]
		n := copy(b, r.buf[r.r:r.w])
		r.pool().Put(r.buf)
		r.buf, r.r, r.w = b, 0, n
		return nil
	}
	if r.r > 0 {
		// As bufio: slide the unread bytes (a partial request, usually
		// small) to the front.
		n := copy(r.buf, r.buf[r.r:r.w])
		r.r, r.w = 0, n
	}
	if r.w == len(r.buf) {
		return bufio.ErrBufferFull
	}
	return nil
}

// Grow makes room for at least n more bytes after those buffered, so
// that the next reads can take them without bufio.ErrBufferFull: for a
// request whose size the protocol announces (a RESP bulk string, a
// Content-Length body read whole). The room is borrowed with the next
// read, and given back with the buffer once everything is consumed. A
// buffer over 64 KiB is allocated for the purpose and dropped afterwards.
func (r *Reader) Grow(n int) {
	if n < 0 {
		panic("netio: Reader.Grow with a negative count")
	}
	r.need = max(r.need, r.w-r.r+n)
}

// Peek returns the next n bytes without consuming them, reading (and
// waiting) until that many are buffered; the buffer grows as needed, so
// bound n by what the protocol allows. With fewer than n bytes it returns
// those and the read error (io.EOF at the end of the stream).
func (r *Reader) Peek(n int) ([]byte, error) {
	if n < 0 {
		return nil, bufio.ErrNegativeCount
	}
	if !r.onThread() {
		var b []byte
		var err error
		if derr := r.do(func() { b, err = r.Peek(n) }); derr != nil {
			return nil, derr
		}
		return b, err
	}
	if r.w-r.r < n {
		r.Grow(n - (r.w - r.r))
	}
	for r.w-r.r < n {
		if err := r.fill(); err != nil {
			return r.buf[r.r:r.w], err
		}
	}
	return r.buf[r.r : r.r+n], nil
}

// Discard skips the next n bytes, reading (and waiting) as needed, and
// returns how many it skipped: fewer than n only with the error that
// stopped it.
func (r *Reader) Discard(n int) (int, error) {
	if n < 0 {
		return 0, bufio.ErrNegativeCount
	}
	if !r.onThread() {
		var d int
		var err error
		if derr := r.do(func() { d, err = r.Discard(n) }); derr != nil {
			return 0, derr
		}
		return d, err
	}
	d := 0
	for {
		k := min(n-d, r.w-r.r)
		r.r += k
		d += k
		if d == n {
			break
		}
		if err := r.fill(); err != nil {
			return d, err
		}
	}
	if r.r == r.w {
		r.need = 0
	}
	return d, nil
}

// Read reads into p: the buffered bytes if there are any, else what one
// read of the connection returns. A p at least as large as the read size
// is read into directly, with no buffer borrowed. It implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if !r.onThread() {
		var n int
		var err error
		if derr := r.do(func() { n, err = r.Read(p) }); derr != nil {
			return 0, derr
		}
		return n, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.r == r.w {
		if len(p) >= r.size {
			r.release()
			return r.c.Read(p)
		}
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.r:r.w])
	r.r += n
	return n, nil
}

// ReadSlice reads until the first occurrence of delim and returns the
// bytes up to and including it, consumed. Like bufio.Reader.ReadSlice, it
// fails with bufio.ErrBufferFull if the buffer fills first (see Grow),
// and returns what it has with any read error (io.EOF at the end of the
// stream), consuming it too. The slice is valid until the next read.
func (r *Reader) ReadSlice(delim byte) ([]byte, error) {
	if !r.onThread() {
		var b []byte
		var err error
		if derr := r.do(func() { b, err = r.ReadSlice(delim) }); derr != nil {
			return nil, derr
		}
		return b, err
	}
	seen := 0 // bytes from r.r on already searched
	for {
		if i := bytes.IndexByte(r.buf[r.r+seen:r.w], delim); i >= 0 {
			line := r.buf[r.r : r.r+seen+i+1]
			r.r += seen + i + 1
			return line, nil
		}
		seen = r.w - r.r
		if err := r.fill(); err != nil {
			line := r.buf[r.r:r.w]
			r.r = r.w
			return line, err
		}
	}
}

// WriteTo writes everything the connection sends to w until the end of
// the stream, through the lent buffer: io.Copy(w, r) uses it. It returns
// the bytes written and the first error other than io.EOF.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	if !r.onThread() {
		var n int64
		var err error
		if derr := r.do(func() { n, err = r.WriteTo(w) }); derr != nil {
			return 0, derr
		}
		return n, err
	}
	var n int64
	for {
		if r.r < r.w {
			m, err := w.Write(r.buf[r.r:r.w])
			r.r += m
			n += int64(m)
			if err != nil {
				return n, err
			}
		}
		if err := r.fill(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
	}
}

// Release gives the buffer back to the scheduler's pool now if every
// byte read has been consumed; otherwise it does nothing. A Reader
// releases by itself before it waits for input, so a task-mode session
// never needs this; call it where a session stops reading for a while
// without waiting in the Reader (ready mode's server does it for you).
func (r *Reader) Release() {
	if !r.onThread() {
		r.do(r.release)
		return
	}
	r.release()
}

func (r *Reader) release() {
	if r.buf != nil && r.r == r.w {
		r.pool().Put(r.buf)
		r.buf, r.r, r.w, r.need = nil, 0, 0, 0
	}
}

var (
	_ io.Reader   = (*Reader)(nil)
	_ io.WriterTo = (*Reader)(nil)
)
