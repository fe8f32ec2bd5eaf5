//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"net"
	"syscall"
)

// maxIOV is how many buffers one vectored write takes: IOV_MAX, 1024 on
// Linux, darwin and the BSDs. Longer net.Buffers go out in batches.
const maxIOV = 1024

// WriteBuffers writes the contents of v to c with vectored writes
// (sendmsg with an iovec per buffer), several buffers per system call,
// and consumes v as net.Buffers.WriteTo does: on return *v holds what was
// not written, nothing on success. Like Write it writes everything,
// parking while the send buffer is full, and concurrent writes do not
// interleave with it. It may be called from any goroutine.
func (c *Conn) WriteBuffers(v *net.Buffers) (int64, error) {
	if !c.ok() {
		return 0, syscall.EINVAL
	}
	if !c.onThread() {
		var n int64
		var err error
		if derr := c.s.Do(func() { n, err = c.writeBuffers(v) }); derr != nil {
			return 0, c.opError("writev", derr)
		}
		return n, err
	}
	return c.writeBuffers(v)
}

func (c *Conn) writeBuffers(v *net.Buffers) (int64, error) {
	if err := c.lockWrite(); err != nil {
		return 0, c.opError("writev", err)
	}
	defer c.unlockWrite()
	fd := c.fd
	if err := fd.CheckWrite(); err != nil {
		return 0, c.opError("writev", err)
	}
	c.reqOpen = false // see Write
	var w vecWriter
	var written int64
	for {
		consume(v, 0) // drop empty buffers in front
		if len(*v) == 0 {
			return written, nil
		}
		batch := (*v)[:min(len(*v), maxIOV)]
		want := 0
		for _, b := range batch {
			want += len(b)
		}
		if !fd.Writable() {
			if err := fd.WaitWrite(); err != nil {
				return written, c.opError("writev", err)
			}
		}
		n, e := w.writev(c.sysfd, batch)
		switch e {
		case 0:
		case syscall.EAGAIN:
			fd.ClearWritable()
			continue
		case syscall.EINTR:
			continue
		default:
			return written, c.opError("writev", errnoErr("writev", e))
		}
		written += int64(n)
		consume(v, int64(n))
		if n < want {
			fd.ClearWritable() // a short write on a stream: the buffer is full
		}
	}
}

// consume drops the first n bytes of v, as net.Buffers' own consume does:
// consumed buffers are dropped, and cleared so their memory can go.
func consume(v *net.Buffers, n int64) {
	for len(*v) > 0 {
		ln0 := int64(len((*v)[0]))
		if ln0 > n {
			(*v)[0] = (*v)[0][n:]
			return
		}
		n -= ln0
		(*v)[0] = nil
		*v = (*v)[1:]
	}
}
