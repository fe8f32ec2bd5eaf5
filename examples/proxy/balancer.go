package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// A backend is one server of the farm. Its state is shared by the
// schedulers of a group, hence atomics: each is touched once or twice a
// connection, never per byte.
type backend struct {
	addr   string
	up     atomic.Bool  // in rotation
	active atomic.Int64 // connections to it now, dials in progress included

	// With -shutdown-sessions: its connections, for the health checks to
	// close when they take it out. A lock, taken twice a connection.
	mu    sync.Mutex
	conns map[*netio.Conn]struct{}
}

// A balancer picks backends and pairs client connections with them.
type balancer struct {
	backends []*backend
	policy   string // "roundrobin" or "leastconn"
	next     atomic.Uint64
	dialer   netio.Dialer
	check    health
	lastLog  atomic.Int64 // unix second of the last "no backend" report

	sendProxy        bool // -send-proxy: a PROXY v2 header first on each backend connection
	shutdownSessions bool // -shutdown-sessions: close a backend's connections when it is taken out
}

func newBalancer(list, policy string) (*balancer, error) {
	if policy != "roundrobin" && policy != "leastconn" {
		return nil, fmt.Errorf("-policy must be roundrobin or leastconn, not %q", policy)
	}
	b := &balancer{policy: policy}
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("backend %q: %v", a, err)
		}
		be := &backend{addr: a}
		be.up.Store(true) // until a check or a refused connection says otherwise
		b.backends = append(b.backends, be)
	}
	if len(b.backends) == 0 {
		return nil, errors.New("-backends is required")
	}
	return b, nil
}

func (b *balancer) addrs() []string {
	var a []string
	for _, be := range b.backends {
		a = append(a, be.addr)
	}
	return a
}

// candidates appends to buf the backends to try, best first: the ones in
// rotation, starting at the next in turn, ordered by load for leastconn
// (the turn breaks ties); if none is in rotation, all of them, as a last
// resort rather than a refusal.
func (b *balancer) candidates(buf []*backend) []*backend {
	n := len(b.backends)
	start := int(b.next.Add(1)-1) % n
	for i := range n {
		if be := b.backends[(start+i)%n]; be.up.Load() {
			buf = append(buf, be)
		}
	}
	if len(buf) == 0 {
		for i := range n {
			buf = append(buf, b.backends[(start+i)%n])
		}
	}
	if b.policy == "leastconn" {
		// Insertion sort: stable, allocation-free, and the list is short.
		for i := 1; i < len(buf); i++ {
			for j := i; j > 0 && buf[j].active.Load() < buf[j-1].active.Load(); j-- {
				buf[j], buf[j-1] = buf[j-1], buf[j]
			}
		}
	}
	return buf
}

// serve is the server's handler: it connects client to a backend and
// carries bytes both ways until both directions end. The server closes
// the client connection when serve returns.
func (b *balancer) serve(client *netio.Conn) {
	s := client.Scheduler()
	var buf [16]*backend
	var be *backend
	var server *netio.Conn
	for _, cand := range b.candidates(buf[:0]) {
		cand.active.Add(1) // counted from the dial on, so that leastconn sees it
		c, err := b.dialer.Dial(s, "tcp", cand.addr)
		if err == nil {
			be, server = cand, c
			break
		}
		cand.active.Add(-1)
		if errors.Is(err, sched.ErrInterrupted) || errors.Is(err, net.ErrClosed) {
			return // shutting down
		}
		b.dialFailed(cand, err)
	}
	if server == nil {
		b.noBackend(client)
		return
	}
	defer be.active.Add(-1)
	defer server.Close()
	if b.sendProxy {
		if err := sendProxyHeader(server, client); err != nil {
			if !quietError(err) {
				logger.Printf("%v -> %s: PROXY header: %v", client.RemoteAddr(), be.addr, err)
			}
			return
		}
	}
	if b.shutdownSessions {
		be.track(server)
		defer be.untrack(server)
	}
	// Client to server in a second task, server to client in this one.
	up := s.Go(func() { carry(server, client) })
	carry(client, server)
	up.Wait()
}

// carry copies src to dst until src ends, then shuts down dst's write
// half: the half-close goes on to the other side. io.Copy between two
// netio.Conns of one scheduler is a splice. An error on either side (a
// reset, say) closes both connections, which ends the other direction too.
func carry(dst, src *netio.Conn) {
	_, err := io.Copy(dst, src)
	if err == nil {
		err = dst.CloseWrite()
	}
	if err != nil {
		src.Close()
		dst.Close()
		if !quietError(err) {
			logger.Printf("%v -> %v: %v", src.RemoteAddr(), dst.RemoteAddr(), err)
		}
	}
}

// quietError reports whether err is the ordinary way a peer goes away.
func quietError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ENOTCONN) || errors.Is(err, sched.ErrInterrupted)
}

// dialFailed reacts to a failed connect: a refusal says nothing listens
// there, so the backend leaves the rotation at once (a health check puts
// it back); a timeout may be a passing overload, which the checks judge.
func (b *balancer) dialFailed(be *backend, err error) {
	if errors.Is(err, syscall.ECONNREFUSED) && be.up.CompareAndSwap(true, false) {
		logger.Printf("backend %s down: %v", be.addr, err)
	}
}

// noBackend reports a client that no backend would take, at most once a
// second.
func (b *balancer) noBackend(client *netio.Conn) {
	now := time.Now().Unix()
	if last := b.lastLog.Load(); last != now && b.lastLog.CompareAndSwap(last, now) {
		logger.Printf("%v: no backend accepted the connection", client.RemoteAddr())
	}
}

// health is the configuration of the health checks.
type health struct {
	interval   time.Duration
	timeout    time.Duration // a whole check, connect to answer
	dialer     netio.Dialer
	fall, rise int
	path       string // HTTP checks: GET path; "": a TCP connect
	sendProxy  bool   // a PROXY v2 LOCAL header first, as the backends expect one
	b          *balancer
}

// startHealthChecks starts a task per backend on s that checks it every
// interval. The tasks end when interrupted.
func (b *balancer) startHealthChecks(s *sched.Scheduler) []*sched.Task {
	b.check.b = b
	var ts []*sched.Task
	for _, be := range b.backends {
		ts = append(ts, s.Go(func() { b.check.run(s, be, logger) }))
	}
	return ts
}

// run checks be until interrupted: fall failed checks in a row take it
// out of rotation, rise successful ones put it back. A connect that the
// data path saw refused took it out already; then the checks count
// towards rise.
func (h *health) run(s *sched.Scheduler, be *backend, logger *log.Logger) {
	fails, oks := 0, 0
	for {
		if err := sched.Sleep(h.interval); err != nil {
			return // interrupted: shutting down
		}
		err := h.probe(s, be)
		if errors.Is(err, sched.ErrInterrupted) {
			return
		}
		if err == nil {
			fails = 0
			if be.up.Load() {
				oks = 0
			} else if oks++; oks >= h.rise {
				oks = 0
				if be.up.CompareAndSwap(false, true) {
					logger.Printf("backend %s up", be.addr)
				}
			}
			continue
		}
		oks = 0
		if !be.up.Load() {
			fails = 0
		} else if fails++; fails >= h.fall {
			fails = 0
			if be.up.CompareAndSwap(true, false) {
				logger.Printf("backend %s down: %d failed health checks: %v", be.addr, h.fall, unwrapOp(err))
				// A backend that answered (503: it drains) ends its
				// sessions itself, each after its next response; only
				// one that stopped answering has them closed.
				if h.b != nil && h.b.shutdownSessions && !errors.Is(err, errStatus) {
					if n := be.closeAll(); n > 0 {
						logger.Printf("backend %s: closed its %d connection(s)", be.addr, n)
					}
				}
			}
		}
	}
}

// probe is one health check: a connect, then, for HTTP checks, a GET of
// the path answered with 2xx or 3xx, all within the check's timeout.
func (h *health) probe(s *sched.Scheduler, be *backend) error {
	c, err := h.dialer.Dial(s, "tcp", be.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if !h.sendProxy && h.path == "" {
		return nil
	}
	c.SetDeadline(s.Now().Add(h.timeout))
	var req []byte
	if h.sendProxy {
		// LOCAL: the checker's own connection, not a client's.
		req, _ = (&netio.ProxyHeader{Command: netio.ProxyLocal}).AppendV2(req)
	}
	if h.path == "" {
		_, err = c.Write(req)
		return err
	}
	req = fmt.Appendf(req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: coop-proxy-check\r\nConnection: close\r\n\r\n", h.path, be.addr)
	if _, err := c.Write(req); err != nil {
		return err
	}
	return readStatus(c)
}

// errStatus is a health check answered with a status other than 2xx or
// 3xx: the backend is alive, and says it is not to get new connections.
var errStatus = errors.New("health check: status")

// readStatus reads an HTTP response's status line and accepts 2xx and
// 3xx.
func readStatus(c *netio.Conn) error {
	var buf [128]byte
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			line := buf[:i]
			if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
				return fmt.Errorf("health check: not an HTTP status line: %q", line)
			}
			if code := line[9]; code != '2' && code != '3' {
				return fmt.Errorf("%w %s", errStatus, bytes.TrimSpace(line[9:]))
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("health check: %w", err)
		}
		if n == len(buf) {
			return fmt.Errorf("health check: status line longer than %d bytes", len(buf))
		}
	}
}

// sendProxyHeader writes the PROXY v2 header for client's connection on
// server, before anything else.
func sendProxyHeader(server, client *netio.Conn) error {
	var buf [64]byte
	h := netio.ProxyHeader{Command: netio.ProxyProxy, Source: client.RemoteAddr(), Dest: client.LocalAddr()}
	hdr, err := h.AppendV2(buf[:0])
	if err != nil {
		// Not an IP or Unix client (cannot happen on a TCP listener):
		// the backend is told nothing about it.
		hdr, _ = (&netio.ProxyHeader{Command: netio.ProxyLocal}).AppendV2(buf[:0])
	}
	_, err = server.Write(hdr)
	return err
}

// track and untrack keep a backend's connections for closeAll.
func (be *backend) track(c *netio.Conn) {
	be.mu.Lock()
	if be.conns == nil {
		be.conns = make(map[*netio.Conn]struct{})
	}
	be.conns[c] = struct{}{}
	be.mu.Unlock()
}

func (be *backend) untrack(c *netio.Conn) {
	be.mu.Lock()
	delete(be.conns, c)
	be.mu.Unlock()
}

// closeAll closes the backend's connections (Close may be called from any
// goroutine); the pairs' tasks see the error and end, closing their
// clients. It returns how many it closed.
// The closes happen outside the lock: a close from another scheduler
// waits for the connection's thread, whose tasks may be waiting for it.
func (be *backend) closeAll() int {
	be.mu.Lock()
	cs := make([]*netio.Conn, 0, len(be.conns))
	for c := range be.conns {
		cs = append(cs, c)
	}
	be.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	return len(cs)
}

// unwrapOp shortens a dial error for the log.
func unwrapOp(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
}
