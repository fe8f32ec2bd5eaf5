package main

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/coopgo/coop/examples/internal/proxyflag"
	"github.com/coopgo/coop/netio"
)

// Behind a load balancer (HAProxy, nginx, a Kubernetes Service): the PROXY
// protocol, so that handlers see the client's address; a health endpoint
// that fails while the server drains; and a drain on SIGTERM. The flags
// are registered here, apart from main's, for the farm's options only.
var (
	proxyFlags = proxyflag.Register(nil)
	drainDelay = flag.Duration("drain-delay", 0,
		"on SIGTERM, keep serving this long with /healthz answering 503 and every response closing its connection, then shut down gracefully")
)

// farmConfig turns the farm flags into the server's PROXY protocol
// configuration (nil without -proxy-protocol).
func farmConfig() (*netio.ProxyProtocol, error) {
	if *drainDelay < 0 {
		return nil, fmt.Errorf("-drain-delay %v is negative", *drainDelay)
	}
	return proxyFlags.Config()
}

// The health endpoint's answers: 200 while serving, 503 while draining,
// so that the balancer's check takes the server out before it stops.
var (
	healthyResponse  = newCanned(200, "Cache-Control: no-store\r\n", "text/plain; charset=utf-8", "ok\n")
	drainingResponse = newCanned(503, "Cache-Control: no-store\r\n", "text/plain; charset=utf-8", "draining\n")
	okHead           = statusHead(200)
)

// draining reports whether the server drains: then every response closes
// its connection, so that the balancer's next request opens one to a
// server that is staying.
func (c *config) draining() bool {
	return (c.srv != nil && c.srv.Draining()) || (c.worker != nil && c.worker.Draining())
}

// health answers GET /healthz.
func (s *session) health(date []byte, conn string, head bool) {
	r := healthyResponse
	if s.loc.cfg.draining() {
		r = drainingResponse
	}
	s.out = r.appendTo(s.out, date, conn, head)
}

// ip answers GET /ip with the client's address as the handler sees it,
// host:port: behind a balancer that sends the PROXY protocol, the
// client's, not the balancer's.
func (s *session) ip(date []byte, conn string, head bool) {
	var a [64]byte
	body := append(append(a[:0], s.nc.RemoteAddr().String()...), '\n')
	s.out = append(s.out, okHead...)
	s.out = append(s.out, date...)
	s.out = append(s.out, conn...)
	s.out = append(s.out, "Cache-Control: no-store\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	s.out = strconv.AppendInt(s.out, int64(len(body)), 10)
	s.out = append(s.out, "\r\n\r\n"...)
	if !head {
		s.out = append(s.out, body...)
	}
}
