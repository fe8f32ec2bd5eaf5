// Command proxy is a TCP front-end load balancer on coop: the I/O-bound
// front end of a server farm. Each client connection is paired with a
// connection to a backend, and bytes flow both ways with splice(2) — from
// socket to socket through a kernel pipe, never through this process's
// memory — until both directions have ended.
//
//   - -policy roundrobin (the default) takes the backends in turn;
//     -policy leastconn takes the one with the fewest connections now.
//   - A backend that refuses a connection is taken out at once and the
//     next one is tried: the client does not see the failure. Health
//     checks (a TCP connect every -health-interval, bounded by
//     -health-timeout) take a backend out after -fall failures in a row
//     and put it back after -rise successes. With -health-path /healthz
//     a check is an HTTP GET of that path instead, which must answer
//     2xx or 3xx: a backend that drains (examples/http -drain-delay)
//     fails it while it still serves, and leaves the rotation before it
//     stops. With -shutdown-sessions, a backend the checks take out has
//     its connections closed, as HAProxy's on-marked-down
//     shutdown-sessions does: clients pinned to a dead host find out at
//     once rather than after TCP's retransmission timeout. A backend
//     whose check was answered (a 503 while it drains) keeps them: it
//     closes each itself after its next response.
//   - -send-proxy sends a PROXY protocol v2 header first on every
//     connection to a backend (and a LOCAL one on health checks), so that
//     the backend (examples/http or examples/kv with -proxy-protocol)
//     sees the client's address; -proxy-protocol accepts one from the
//     balancer in front of this one.
//   - Half-close is carried each way: when one side shuts down its write
//     half (end of stream), the proxy shuts down the write half towards
//     the other side and keeps carrying the other direction; the pair
//     ends when both directions have. An error on either side ends both.
//
// Each connection is a task (blocking-style code; one more task carries
// the second direction); backends are dialed from it with a timeout. With
// -cores N > 1 it runs N schedulers, each with its own SO_REUSEPORT
// listener; a client's backend connection lives on the client's scheduler,
// which is what lets splice move the bytes.
//
// Run it in front of two servers and talk to it:
//
//	go run ./examples/http -addr 127.0.0.1:8081 & go run ./examples/http -addr 127.0.0.1:8082 &
//	go run ./examples/proxy -addr 127.0.0.1:8000 -backends 127.0.0.1:8081,127.0.0.1:8082 [-policy leastconn]
//	curl http://127.0.0.1:8000/
//	wrk -t1 -c100 -d5s http://127.0.0.1:8000/
//
// SIGINT or SIGTERM shuts it down gracefully: it stops accepting, lets
// connections finish for up to -grace, closes the rest and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coopgo/coop/examples/internal/proxyflag"
	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

var logger = log.New(os.Stderr, "proxy: ", log.LstdFlags)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "address to listen on")
	cores := flag.Int("cores", 1, "number of schedulers (threads), each with its own SO_REUSEPORT listener")
	backends := flag.String("backends", "", "comma-separated host:port list of backends (required)")
	policy := flag.String("policy", "roundrobin", "roundrobin or leastconn")
	dialTimeout := flag.Duration("dial-timeout", time.Second, "time to connect to a backend before trying the next")
	interval := flag.Duration("health-interval", 2*time.Second, "time between health checks of a backend")
	healthTimeout := flag.Duration("health-timeout", time.Second, "time a health check's connect may take")
	fall := flag.Int("fall", 3, "failed health checks in a row that take a backend out")
	rise := flag.Int("rise", 2, "successful health checks in a row that put a backend back")
	maxConns := flag.Int("max-conns", 10000, "client connections served at once per scheduler (0: no limit)")
	grace := flag.Duration("grace", 3*time.Second, "how long shutdown waits for connections before closing them")
	healthPath := flag.String("health-path", "", "HTTP health checks: GET this path, expect 2xx or 3xx (empty: TCP connect checks)")
	sendProxy := flag.Bool("send-proxy", false, "send a PROXY protocol v2 header to the backends (LOCAL on health checks)")
	shutdownSessions := flag.Bool("shutdown-sessions", false, "close the connections of a backend the health checks take out for not answering (not for a 503: a draining backend closes them itself)")
	proxyIn := proxyflag.Register(nil)
	flag.Parse()

	b, err := newBalancer(*backends, *policy)
	var pp *netio.ProxyProtocol
	if err == nil {
		pp, err = proxyIn.Config()
	}
	if err == nil && *healthPath != "" && !strings.HasPrefix(*healthPath, "/") {
		err = fmt.Errorf("-health-path %q must begin with /", *healthPath)
	}
	if err == nil && (*cores < 1 || *fall < 1 || *rise < 1 || *interval <= 0 || *healthTimeout <= 0 ||
		*dialTimeout <= 0 || flag.NArg() > 0) {
		err = errors.New("bad flags: -cores, -fall, -rise must be ≥ 1 and the durations > 0")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "proxy: %v\n", err)
		flag.Usage()
		os.Exit(2)
	}
	b.dialer = netio.Dialer{Timeout: *dialTimeout}
	b.sendProxy, b.shutdownSessions = *sendProxy, *shutdownSessions
	b.check = health{interval: *interval, timeout: *healthTimeout, dialer: netio.Dialer{Timeout: *healthTimeout},
		fall: *fall, rise: *rise, path: *healthPath, sendProxy: *sendProxy}
	if err := serve(b, *addr, *cores, *maxConns, *grace, pp); err != nil {
		logger.Fatal(err)
	}
}

// serve runs the proxy on addr with one scheduler, or a group of cores
// schedulers each with its own listener, until SIGINT or SIGTERM.
func serve(b *balancer, addr string, cores, maxConns int, grace time.Duration, pp *netio.ProxyProtocol) error {
	var (
		first   *sched.Scheduler // runs the health checks
		start   func(func()) *sched.Task
		run     func() error
		serveLs func(*netio.Server) error
		laddr   net.Addr
	)
	if cores == 1 {
		s := sched.New(sched.WithName("proxy"), sched.WithLogger(logger))
		l, err := netio.Listen(s, "tcp", addr)
		if err != nil {
			return err
		}
		first, start, run, laddr = s, s.Go, s.Run, l.Addr()
		serveLs = func(srv *netio.Server) error { return srv.Serve(l) }
	} else {
		g := sched.NewGroup(cores, sched.WithName("proxy"), sched.WithLogger(logger))
		ls, err := netio.ListenGroup(g, "tcp", addr)
		if err != nil {
			return err
		}
		first, start, run, laddr = g.Scheduler(0), g.Go, g.Run, ls[0].Addr()
		serveLs = func(srv *netio.Server) error { return srv.ServeGroup(ls) }
	}
	srv := &netio.Server{Handler: b.serve, MaxConns: maxConns, Logger: logger, ProxyProtocol: pp}
	checks := b.startHealthChecks(first)
	logger.Printf("listening on %v (%s over %s, %d core(s))", laddr, b.policy, strings.Join(b.addrs(), ","), cores)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		logger.Printf("%v: shutting down", sig)
		for _, t := range checks {
			t.Interrupt()
		}
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			logger.Printf("shutdown: %v (remaining connections closed)", err)
		}
	}()

	var serveErr error
	start(func() {
		if err := serveLs(srv); !errors.Is(err, netio.ErrServerClosed) {
			serveErr = err
			for _, t := range checks {
				t.Interrupt() // else they would keep the scheduler running
			}
		}
	})
	return errors.Join(run(), serveErr)
}
