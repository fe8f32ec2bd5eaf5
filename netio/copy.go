//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"io"
	"sync/atomic"
	"syscall"

	"github.com/coopgo/coop/sched"
)

// ReadFrom and WriteTo make io.Copy to or from a Conn zero-copy where the
// kernel allows it. On Linux:
//
//   - from a regular file (an *os.File, or anything that is a syscall.Conn
//     with a Stat method, such as the wrapper os.File.WriteTo hands on) to
//     a Conn: sendfile(2);
//   - between two Conns of the same scheduler, either direction: splice(2)
//     through a pipe, taken from a pool.
//
// An *io.LimitedReader around either source is honored, and its N updated,
// as package net does. Anything else, and every case on the other systems
// (darwin and FreeBSD have a sendfile too; the generic copy is what runs
// there for now), takes a plain copy through a buffer that does not come
// back into ReadFrom or WriteTo.
//
// The zero-copy paths run on c's scheduler thread: from a task of that
// scheduler directly, from anywhere else as one Scheduler.Do for the whole
// copy. They park the task on EAGAIN, waiting on the descriptor that said
// it, and yield every few MiB so that a long copy to a fast peer does not
// starve the scheduler's other tasks. Reading a file whose pages are not in
// the page cache blocks the scheduler thread, as any file read does. So
// does, in the generic copy, any reader or writer that is not a Conn and
// blocks (a pipe, a *net.TCPConn): from a task, copy those on an Offload
// goroutine or from a plain goroutine instead.

// ReadFrom copies from r to c until end of stream or an error, and returns
// the number of bytes copied. It implements io.ReaderFrom, so io.Copy(c, r)
// uses it; see above for when the copy is zero-copy. Like Write, it keeps
// other Writes out while sendfile or splice runs.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, handled, err := c.readFromFast(r)
	if !handled {
		var m int64
		m, err = genericReadFrom(c, r)
		n += m
	}
	return n, c.opError("readfrom", err)
}

// WriteTo copies from c to w until end of stream or an error, and returns
// the number of bytes copied. It implements io.WriterTo, so io.Copy(w, c)
// uses it: to another Conn of c's scheduler the copy is a splice.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	n, handled, err := c.writeToFast(w)
	if !handled {
		var m int64
		m, err = genericWriteTo(c, w)
		n += m
	}
	return n, c.opError("writeto", err)
}

// writerOnly and readerOnly hide ReadFrom and WriteTo from io.Copy, so
// that the generic copy does not call back into them.
type writerOnly struct{ io.Writer }

type readerOnly struct{ io.Reader }

// genericReadFrom is io.Copy without c's ReadFrom. r's own WriteTo may
// still run (a *net.TCPConn's, say), as with package net.
func genericReadFrom(c *Conn, r io.Reader) (int64, error) {
	return io.Copy(writerOnly{c}, r)
}

// genericWriteTo is io.Copy without c's WriteTo; w's ReadFrom may run.
func genericWriteTo(c *Conn, w io.Writer) (int64, error) {
	return io.Copy(w, readerOnly{c})
}

// zeroCopied counts the bytes moved by each zero-copy path, for tests.
var zeroCopied struct {
	sendfile atomic.Int64
	splice   atomic.Int64
}

// copyYieldEvery bounds how many bytes a zero-copy loop moves before it
// lets the scheduler's other tasks run: a socket whose peer keeps up never
// says EAGAIN, so the loop would otherwise never park.
const copyYieldEvery = 4 << 20

// onThreadRun runs fn on c's scheduler thread: directly from one of its
// tasks, else in a task through Scheduler.Do. It returns Do's error.
func (c *Conn) onThreadRun(fn func()) error {
	if c.onThread() {
		fn()
		return nil
	}
	return c.s.Do(fn)
}

// sameScheduler reports whether a copy between c and d can run on one
// scheduler thread.
func (c *Conn) sameScheduler(d *Conn) bool { return d != nil && c.s == d.s }

// yielder counts bytes and yields every copyYieldEvery of them.
type yielder int

func (y *yielder) add(n int) {
	*y += yielder(n)
	if *y >= copyYieldEvery {
		*y = 0
		sched.Yield()
	}
}

var (
	_ io.ReaderFrom = (*Conn)(nil)
	_ io.WriterTo   = (*Conn)(nil)
)
