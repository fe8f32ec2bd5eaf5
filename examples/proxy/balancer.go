package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
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
}

// A balancer picks backends and pairs client connections with them.
type balancer struct {
	backends []*backend
	policy   string // "roundrobin" or "leastconn"
	next     atomic.Uint64
	dialer   netio.Dialer
	check    health
	lastLog  atomic.Int64 // unix second of the last "no backend" report
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
	dialer     netio.Dialer
	fall, rise int
}

// startHealthChecks starts a task per backend on s that checks it every
// interval. The tasks end when interrupted.
func (b *balancer) startHealthChecks(s *sched.Scheduler) []*sched.Task {
	var ts []*sched.Task
	for _, be := range b.backends {
		ts = append(ts, s.Go(func() { b.check.run(s, be, logger) }))
	}
	return ts
}

// run checks be until interrupted: fall failed connects in a row take it
// out of rotation, rise successful ones put it back. A connect that the
// data path saw refused took it out already; then the checks count
// towards rise.
func (h *health) run(s *sched.Scheduler, be *backend, logger *log.Logger) {
	fails, oks := 0, 0
	for {
		if err := sched.Sleep(h.interval); err != nil {
			return // interrupted: shutting down
		}
		c, err := h.dialer.Dial(s, "tcp", be.addr)
		if errors.Is(err, sched.ErrInterrupted) {
			return
		}
		if err == nil {
			c.Close()
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
			}
		}
	}
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
