//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultProxyHeaderTimeout bounds the wait for a PROXY header when
// ProxyProtocol.Timeout is zero. The specification asks for at least 3
// seconds, to cover a TCP retransmission.
const DefaultProxyHeaderTimeout = 5 * time.Second

// ErrUntrustedProxy is returned by ProxyProtocol.ReadHeader for a
// connection from a source that may not send a PROXY header.
var ErrUntrustedProxy = errors.New("netio: PROXY protocol from an untrusted source")

// ProxyProtocol configures the PROXY protocol (versions 1 and 2) on a
// Server's connections (Server.ProxyProtocol) or on connections of one's
// own accept loop (ReadHeader).
//
// A connection from a trusted source must begin with a header; its
// addresses then replace the connection's own, so that RemoteAddr is the
// client's and LocalAddr the address the client connected to, and
// Conn.ProxyHeader keeps the rest (the TLVs, the proxy's own address). A
// LOCAL header (a balancer's health check) or version 1's UNKNOWN leaves
// the connection's addresses as they are. A trusted connection whose
// header is missing, malformed or not complete within Timeout is closed.
//
// A connection from any other source is refused (closed at once), unless
// AllowDirect is set: then it is served as it is, with its own
// addresses, and whatever it sends — a header included — is its data,
// never taken for a header. As the specification demands, nothing is
// guessed: a trusted source must send a header, an untrusted one cannot.
//
// The header is read in the connection's own task, never in the accept
// loop: a peer that connects and says nothing holds its connection, for
// Timeout at most, and nothing else.
type ProxyProtocol struct {
	// Trusted lists the networks of the proxies allowed to send a header
	// (an IPv4-mapped IPv6 source is matched as IPv4).
	Trusted []netip.Prefix

	// TrustUnix trusts connections over Unix-domain sockets, which have
	// no source address: the socket file's permissions decide who may
	// connect.
	TrustUnix bool

	// AllowDirect serves connections from untrusted sources without a
	// header instead of refusing them.
	AllowDirect bool

	// Timeout bounds the wait for a complete header; 0 means
	// DefaultProxyHeaderTimeout.
	Timeout time.Duration
}

func (p *ProxyProtocol) validate() error {
	if p.Timeout < 0 {
		return errors.New("netio: ProxyProtocol with a negative Timeout")
	}
	for _, pfx := range p.Trusted {
		if !pfx.IsValid() {
			return fmt.Errorf("netio: ProxyProtocol with an invalid trusted prefix %v", pfx)
		}
	}
	return nil
}

func (p *ProxyProtocol) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultProxyHeaderTimeout
}

// Trusts reports whether c's source may send a PROXY header.
func (p *ProxyProtocol) Trusts(c *Conn) bool {
	switch a := c.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			return false
		}
		ip = ip.Unmap()
		for _, pfx := range p.Trusted {
			if pfx.Contains(ip) {
				return true
			}
		}
	case *net.UnixAddr:
		return p.TrustUnix
	}
	return false
}

// ReadHeader reads the PROXY header at the start of c, for a connection
// of one's own accept loop, and returns it (nil, for an untrusted source
// with AllowDirect). It must be called from a task of c's scheduler,
// before anything else reads from c; it parks the task, not the thread,
// for Timeout at most, and leaves c without a read deadline. For an
// untrusted source without AllowDirect it reads nothing and returns an
// error matching ErrUntrustedProxy. A bad header's error matches
// ErrBadProxyHeader; c is left open either way: closing it is the
// caller's.
func (p *ProxyProtocol) ReadHeader(c *Conn) (*ProxyHeader, error) {
	if !c.onThread() {
		return nil, c.opError("proxy", errors.New("ReadHeader called outside a task of the connection's scheduler"))
	}
	if !p.Trusts(c) {
		if p.AllowDirect {
			return nil, nil
		}
		return nil, c.opError("proxy", ErrUntrustedProxy)
	}
	return c.readProxyHeader(c.s.Now().Add(p.timeout()))
}

// ProxyHeader returns the PROXY header the connection began with, or nil
// if none was read.
func (c *Conn) ProxyHeader() *ProxyHeader { return c.proxy }

// proxyPeek is how much of the input one peek looks at: every version-1
// line and nearly every version-2 header fits.
const proxyPeek = 256

// readProxyHeader reads the header at the start of c's input, under
// deadline, takes it off the socket's queue — exactly its bytes, not one
// more, since what follows is the protocol's — and applies its addresses.
// It peeks until the header is complete, then reads it: a header is
// usually one peek and one read. On a task of c's scheduler.
func (c *Conn) readProxyHeader(deadline time.Time) (*ProxyHeader, error) {
	fd := c.fd
	if !deadline.IsZero() {
		fd.SetReadDeadline(deadline)
	}
	defer fd.SetReadDeadline(time.Time{})
	var buf [proxyPeek]byte
	for {
		if err := fd.CheckRead(); err != nil {
			return nil, c.opError("proxy", err)
		}
		if !fd.Readable() {
			if err := c.waitProxy(); err != nil {
				return nil, err
			}
		}
		n, e := rawPeek(c.sysfd, buf[:])
		switch e {
		case 0:
		case syscall.EAGAIN:
			fd.ClearReadable()
			continue
		case syscall.EINTR:
			continue
		default:
			return nil, c.readErr(e)
		}
		if n == 0 {
			return nil, c.opError("proxy", fmt.Errorf("%w: end of stream before the header", ErrBadProxyHeader))
		}
		h, hlen, need, err := parseProxyHeader(buf[:n])
		if err != nil {
			return nil, c.opError("proxy", err)
		}
		if h == nil && need > len(buf) {
			// A version-2 header with large TLVs: its declared length is
			// all header, so it can be read rather than peeked.
			big := make([]byte, need)
			if err := c.readExact(big); err != nil {
				return nil, err
			}
			if h, _, _, err = parseProxyHeader(big); err != nil {
				return nil, c.opError("proxy", err)
			}
			c.applyProxy(h)
			return h, nil
		}
		if h == nil {
			// All of the queue was seen: wait for more. A descriptor that
			// stays readable has seen its peer hang up, and the header
			// will never be complete.
			if fd.ClearReadable(); fd.Readable() {
				return nil, c.opError("proxy", fmt.Errorf("%w: end of stream inside the header", ErrBadProxyHeader))
			}
			continue
		}
		if err := c.readExact(buf[:hlen]); err != nil {
			return nil, err
		}
		if n == hlen && n < len(buf) {
			fd.ClearReadable() // the header was all there was
		}
		c.applyProxy(h)
		return h, nil
	}
}

// readExact reads exactly len(b) bytes of header: not one more, since
// what follows is the protocol's. It bypasses Read, whose bookkeeping
// (a request has begun, for Shutdown) is about the protocol's bytes.
func (c *Conn) readExact(b []byte) error {
	fd := c.fd
	for len(b) > 0 {
		if !fd.Readable() {
			if err := c.waitProxy(); err != nil {
				return err
			}
		}
		n, e := rawRead(c.sysfd, b)
		switch {
		case e == syscall.EAGAIN:
			fd.ClearReadable()
			continue
		case e == syscall.EINTR:
			continue
		case e != 0:
			return c.readErr(e)
		case n == 0:
			return c.opError("proxy", fmt.Errorf("%w: end of stream inside the header", ErrBadProxyHeader))
		}
		if n < len(b) {
			fd.ClearReadable()
		}
		b = b[n:]
	}
	return nil
}

// waitProxy waits for more of the header. It counts as a parked reader
// of an idle connection, so that a Shutdown does not wait the header
// timeout out for a peer that has said nothing yet (see Conn.idle).
func (c *Conn) waitProxy() error {
	c.readers++
	err := c.fd.WaitRead()
	c.readers--
	if err != nil {
		return c.opError("proxy", err)
	}
	return nil
}

// applyProxy makes h's addresses the connection's. It runs before the
// connection is handed to anyone, so that no reader of RemoteAddr races
// with it.
func (c *Conn) applyProxy(h *ProxyHeader) {
	h.Proxy = c.RemoteAddr()
	c.proxy = h
	if h.Source != nil && h.Dest != nil {
		c.raddr, c.laddr = h.Source, h.Dest
	}
}

// proxyCounters are a shard's PROXY protocol counters and log limiter.
type proxyCounters struct {
	refused, failed atomic.Uint64 // written on the scheduler thread, read by Stats

	// On the scheduler thread.
	lastLog  time.Time
	unlogged int
}

// proxyAdmit decides, in the accept loop, whether a new connection is
// served and whether it must begin with a header.
func (sh *shard) proxyAdmit(c *Conn) (serve, header bool) {
	p := sh.srv.ProxyProtocol
	if p.Trusts(c) {
		return true, true
	}
	if p.AllowDirect {
		return true, false
	}
	sh.proxy.refused.Add(1)
	sh.proxyLog(c, ErrUntrustedProxy)
	return false, false
}

// proxyHandshake reads a session's header in its task, by deadline (the
// zero time: the one armProxy set stands); false: the connection failed
// and is to be closed.
//
//go:noinline
func (ss *session) proxyHandshake(deadline time.Time) bool {
	_, err := ss.c.readProxyHeader(deadline)
	ss.needProxy = false
	if err != nil {
		ss.proxyFailed(err)
		return false
	}
	return true
}

// proxyFailed counts and logs a trusted connection closed for its header,
// unless the server itself is closing it.
func (ss *session) proxyFailed(err error) {
	if sh := ss.sh; !sh.srv.closing.Load() {
		sh.proxy.failed.Add(1)
		sh.proxyLog(ss.c, err)
	}
}

// armProxy has a new ready-mode connection wait for its header as an idle
// one waits for a request: no task, a read hook, a deadline — so that
// Shutdown closes it at once if it has said nothing yet.
func (ss *session) armProxy() {
	sh := ss.sh
	fd := ss.c.fd
	fd.SetReadDeadline(sh.s.Now().Add(sh.srv.ProxyProtocol.timeout()))
	sh.setState(ss.c, StateIdle)
	fd.SetReadHook(ss.onProxyReadable)
}

// onProxyReadable is armProxy's read hook, on the scheduler thread.
func (ss *session) onProxyReadable(err error) {
	if ss.ended {
		return
	}
	if err != nil || ss.sh.srv.closing.Load() {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			ss.proxyFailed(ss.c.opError("proxy", err))
		}
		ss.end()
		return
	}
	ss.sh.queueReady(ss)
}

// proxyLog logs a refused connection or a failed header, at most once a
// second: a misconfigured balancer or a scan must not flood the log.
func (sh *shard) proxyLog(c *Conn, err error) {
	pc := &sh.proxy
	now := time.Now()
	if !pc.lastLog.IsZero() && now.Sub(pc.lastLog) < time.Second {
		pc.unlogged++
		return
	}
	more := ""
	if pc.unlogged > 0 {
		more = fmt.Sprintf(" (%d more since the last report)", pc.unlogged)
	}
	pc.lastLog, pc.unlogged = now, 0
	sh.srv.logf("netio: PROXY protocol: connection from %v closed: %v%s", c.RemoteAddr(), err, more)
}
