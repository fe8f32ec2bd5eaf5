//go:build linux

package netio

import (
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// maxSendfileChunk bounds one sendfile call. On a non-blocking socket
	// a call moves at most what the send buffer takes anyway; the bound
	// matters for a peer that keeps up, between two yields.
	maxSendfileChunk = 4 << 20

	// maxSpliceSize is what one splice asks to move, and the pipe size
	// asked for (the default limit, /proc/sys/fs/pipe-max-size, as in
	// internal/poll). A smaller pipe only costs more calls.
	maxSpliceSize = 1 << 20

	spliceNonblock = unix.SPLICE_F_NONBLOCK
)

// readFromFast is ReadFrom's zero-copy path. handled false means nothing
// was done and the generic copy must run.
func (c *Conn) readFromFast(r io.Reader) (n int64, handled bool, err error) {
	remain := int64(-1) // no limit
	lr, _ := r.(*io.LimitedReader)
	if lr != nil {
		remain, r = lr.N, lr.R
		if remain <= 0 {
			return 0, true, nil
		}
	}
	if src, ok := r.(*Conn); ok {
		if !c.sameScheduler(src) {
			return 0, false, nil
		}
		n, handled, err = c.spliceFrom(src, remain)
	} else {
		n, handled, err = c.sendFile(r, remain)
	}
	if lr != nil {
		lr.N -= n
	}
	return n, handled, err
}

// writeToFast is WriteTo's zero-copy path: a splice to a Conn of c's
// scheduler.
func (c *Conn) writeToFast(w io.Writer) (int64, bool, error) {
	dst, ok := w.(*Conn)
	if !ok || !c.sameScheduler(dst) {
		return 0, false, nil
	}
	return dst.spliceFrom(c, -1)
}

// fileSource is what sendfile can read: an *os.File, or the wrapper that
// os.File.WriteTo passes to io.Copy (which hides WriteTo, not Stat).
type fileSource interface {
	syscall.Conn
	Stat() (os.FileInfo, error)
}

// sendFile sends up to remain bytes (-1: to the end) of r, if r is a
// regular file, to c with sendfile(2), from the file's current offset,
// which it advances.
func (c *Conn) sendFile(r io.Reader, remain int64) (written int64, handled bool, err error) {
	f, ok := r.(fileSource)
	if !ok {
		return 0, false, nil
	}
	// Only regular files: they never say EAGAIN, so c is the only
	// descriptor to wait for. Pipes and devices take the generic copy.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return 0, false, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	// Control holds the file open while the copy runs, parks included.
	cerr := rc.Control(func(src uintptr) {
		if derr := c.onThreadRun(func() { written, handled, err = c.sendFileOnThread(int(src), remain) }); derr != nil {
			handled, err = true, derr
		}
	})
	if cerr != nil && !handled {
		return 0, false, nil // the file is closed: the generic copy says so
	}
	return written, handled, err
}

func (c *Conn) sendFileOnThread(src int, remain int64) (written int64, handled bool, err error) {
	if err := c.lockWrite(); err != nil {
		return 0, true, err
	}
	defer c.unlockWrite()
	fd := c.fd
	c.reqOpen = false // see Write
	var y yielder
	for remain != 0 {
		if err := fd.CheckWrite(); err != nil {
			return written, true, err
		}
		if !fd.Writable() {
			if err := fd.WaitWrite(); err != nil {
				return written, true, err
			}
		}
		chunk := maxSendfileChunk
		if remain > 0 && remain < int64(chunk) {
			chunk = int(remain)
		}
		// Through the runtime's syscall path, unlike socket calls: a read
		// from the file can sleep on the disk.
		n, err := unix.Sendfile(c.sysfd, src, nil, chunk)
		if n > 0 {
			written += int64(n)
			if remain > 0 {
				remain -= int64(n)
			}
			zeroCopied.sendfile.Add(int64(n))
			y.add(n)
		}
		switch err {
		case nil:
			if n == 0 {
				return written, true, nil // end of file
			}
		case unix.EAGAIN:
			// Only EAGAIN says the send buffer is full; a short count
			// may be the file's end or the chunk, and an edge would
			// never come for a buffer that is not full.
			fd.ClearWritable()
		case unix.EINTR:
		case unix.ENOSYS, unix.EINVAL, unix.EOPNOTSUPP:
			// sendfile cannot serve this pair; if nothing moved, the
			// generic copy can.
			if written == 0 {
				return 0, false, nil
			}
			return written, true, wrapSyscall("sendfile", err)
		default:
			return written, true, wrapSyscall("sendfile", err)
		}
	}
	return written, true, nil
}

// spliceFrom moves up to remain bytes (-1: to end of stream) from src to
// c, which belong to the same scheduler, with splice(2) through a pipe.
func (c *Conn) spliceFrom(src *Conn, remain int64) (written int64, handled bool, err error) {
	if derr := c.onThreadRun(func() { written, handled, err = spliceConns(c, src, remain) }); derr != nil {
		return 0, true, derr
	}
	return written, handled, err
}

// spliceConns runs on the scheduler thread. The pipe is empty at the top
// of each round: the drain fills it from src, the pump empties it into
// dst. So EAGAIN from the drain can only mean src has no data, and from
// the pump only that dst's send buffer is full: each side waits on its own
// socket, never on the pipe, which is not registered with the poller.
func spliceConns(dst, src *Conn, remain int64) (written int64, handled bool, err error) {
	if err := dst.lockWrite(); err != nil {
		return 0, true, err
	}
	defer dst.unlockWrite()
	if err := dst.fd.CheckWrite(); err != nil {
		return 0, true, err
	}
	if err := src.fd.CheckRead(); err != nil {
		return 0, true, err
	}
	if src.reset {
		return 0, true, src.rerr
	}
	dst.reqOpen = false // see Write
	p := getPipe()
	if p == nil {
		return 0, false, nil // no pipe (EMFILE, say): copy by hand
	}
	defer putPipe(p)
	var y yielder
	for remain != 0 {
		max := maxSpliceSize
		if remain > 0 && remain < int64(max) {
			max = int(remain)
		}
		n, err := spliceDrain(src, p.wfd, max, p.size)
		if err != nil {
			if err == syscall.EINVAL && !handled {
				// The kernel cannot splice from this socket type; nothing
				// was consumed, so the generic copy can take over.
				return 0, false, nil
			}
			return written, true, src.spliceReadError(err)
		}
		handled = true
		if n == 0 {
			break // end of stream
		}
		src.reqOpen = true // see Read
		p.data += n
		m, err := splicePump(dst, p.rfd, n)
		p.data -= m
		written += int64(m)
		if remain > 0 {
			remain -= int64(m)
		}
		zeroCopied.splice.Add(int64(m))
		y.add(m)
		if err != nil {
			return written, true, err
		}
	}
	return written, true, nil
}

// spliceReadError turns an error of the drain into what Read would have
// returned, remembering a reset as read does.
func (c *Conn) spliceReadError(err error) error {
	e, ok := err.(syscall.Errno)
	if !ok {
		return err // the scheduler's: closed, deadline, interrupted
	}
	rerr := c.opError("read", errnoErr("splice", e))
	if e == syscall.ECONNRESET || e == syscall.ETIMEDOUT || e == syscall.EHOSTUNREACH {
		c.rerr, c.reset = rerr, true
	}
	return rerr
}

// spliceDrain moves at most max bytes from src's socket into the empty
// pipe. (0, nil) is end of stream. Errors are bare errnos or the
// scheduler's.
//
// The pipe is empty when it is called (the pump empties it), so a splice
// that moves less than both max and the pipe's size found the socket's
// receive queue empty: like a short read, it clears readability, and the
// next drain waits for the next edge instead of splicing for EAGAIN.
func spliceDrain(src *Conn, pipefd, max, pipeSize int) (int, error) {
	fd := src.fd
	for {
		if err := fd.CheckRead(); err != nil {
			return 0, err
		}
		if !fd.Readable() {
			if err := fd.WaitRead(); err != nil {
				return 0, err
			}
		}
		n, e := rawSplice(src.sysfd, pipefd, max)
		switch e {
		case 0:
			if n > 0 && n < max && n < pipeSize && src.stream {
				fd.ClearReadable()
			}
			return n, nil
		case syscall.EAGAIN:
			fd.ClearReadable()
		case syscall.EINTR:
		default:
			return 0, e
		}
	}
}

// splicePump moves the n bytes in the pipe to dst's socket.
func splicePump(dst *Conn, pipefd, n int) (int, error) {
	fd := dst.fd
	written := 0
	for n > 0 {
		if err := fd.CheckWrite(); err != nil {
			return written, err
		}
		if !fd.Writable() {
			if err := fd.WaitWrite(); err != nil {
				return written, err
			}
		}
		m, e := rawSplice(pipefd, dst.sysfd, n)
		switch {
		case m > 0:
			n -= m
			written += m
		case e == syscall.EAGAIN:
			fd.ClearWritable()
		case e == syscall.EINTR:
		case e == 0:
			// The pipe holds n bytes that only we take: cannot happen.
			return written, io.ErrNoProgress
		default:
			return written, wrapSyscall("splice", e)
		}
	}
	return written, nil
}

// rawSplice moves up to max bytes from in to out. Both ends are
// non-blocking (the socket's O_NONBLOCK, SPLICE_F_NONBLOCK for the pipe),
// so the call never sleeps and skips the runtime's syscall bookkeeping.
func rawSplice(in, out, max int) (int, syscall.Errno) {
	n, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(max), spliceNonblock)
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

// A splicePipe is a non-blocking pipe that carries spliced data. data
// counts the bytes in it: a pipe left holding some is closed, not pooled.
type splicePipe struct {
	pipeFDs
	data    int // bytes in the pipe
	size    int // the pipe's capacity; 0 if unknown
	cleanup runtime.Cleanup
}

type pipeFDs struct{ rfd, wfd int }

// pipePool keeps pipes between copies, as internal/poll does: a pool per
// processor, emptied by the garbage collector, whose cleanup closes the
// pipes it drops.
var pipePool = sync.Pool{New: func() any {
	p := newPipe()
	if p == nil {
		return nil
	}
	p.cleanup = runtime.AddCleanup(p, closePipe, p.pipeFDs)
	return p
}}

func getPipe() *splicePipe {
	p, _ := pipePool.Get().(*splicePipe)
	return p
}

func putPipe(p *splicePipe) {
	if p.data != 0 {
		p.cleanup.Stop()
		closePipe(p.pipeFDs)
		return
	}
	pipePool.Put(p)
}

func newPipe() *splicePipe {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil
	}
	// A bigger pipe means fewer calls; failing (over the per-user pipe
	// budget, say) leaves the default 64 KiB, which works.
	size, err := unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxSpliceSize)
	if err != nil {
		size, err = unix.FcntlInt(uintptr(fds[0]), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			size = 0 // unknown: never infer a drained socket from a short splice
		}
	}
	return &splicePipe{pipeFDs: pipeFDs{rfd: fds[0], wfd: fds[1]}, size: size}
}

func closePipe(p pipeFDs) {
	unix.Close(p.rfd)
	unix.Close(p.wfd)
}
