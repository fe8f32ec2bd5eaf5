// Command http is a minimal HTTP/1.1 server written directly on netio, not
// on net/http: nginx's model — an event loop per core, a small buffer per
// connection, responses batched into one write — in blocking-style code.
// The study compares it with nginx and net/http under wrk.
//
// It serves:
//
//	GET|HEAD /  or  /hello    "Hello, World!\n" (a precomputed response)
//	GET|HEAD /static/PATH     the file PATH under -root, sent with sendfile
//	GET|HEAD /healthz         200 "ok" while serving, 503 "draining" once draining
//	GET|HEAD /ip              the client's address as the handler sees it, host:port
//
// with keep-alive (HTTP/1.1, and HTTP/1.0 that asks for it) and pipelining:
// every complete request in the read buffer is answered, in order, and the
// responses go out in one write. A request is refused, and the connection
// closed after the answer, with 400 for bad syntax (request line, header
// fields, a missing Host on HTTP/1.1, a bad Content-Length or
// Transfer-Encoding), 411 for a chunked body (bodies are read by
// Content-Length only, and discarded), 413 for a body over -max-body, 414
// or 431 for a request line or header over -max-header, and 505 for an
// HTTP version other than 1.x. A request whose header does not arrive
// within -header-timeout (keep-alive idle time included) gets 408 and the
// connection is closed: slowloris clients cannot hold the server. (In
// ready mode a client that stops sending in the middle of a header is
// closed at the idle deadline without an answer, as nginx does at
// client_header_timeout: no task is there to write one.)
//
// Two modes: -mode task runs a task per connection, a plain loop of Read,
// answer, Write; -mode ready keeps an idle connection with no task, no
// stack and no buffers, and runs a pooled task only while it is readable.
// With -cores N > 1 it runs N schedulers, each with its own SO_REUSEPORT
// listener. The hot path allocates nothing: buffers are reused, responses
// precomputed, the Date header formatted once a second per scheduler.
//
// Run it and talk to it:
//
//	go run ./examples/http -addr 127.0.0.1:8080 -root ./docs [-mode ready] [-cores 2]
//	curl -i http://127.0.0.1:8080/
//	curl -O http://127.0.0.1:8080/static/index.html
//	wrk -t1 -c100 -d5s http://127.0.0.1:8080/
//
// SIGINT or SIGTERM shuts it down gracefully: it stops accepting, closes
// idle connections, lets busy ones finish their responses for up to
// -grace, closes the rest and exits 0. With -drain-delay D it first
// drains for D, for the load balancer in front of it: it keeps serving,
// /healthz answers 503 so that the balancer's health check takes it out
// of rotation, and every response carries "Connection: close" so that
// keep-alive clients reconnect through the balancer to another server. A
// second signal closes everything at once.
//
// Behind HAProxy's send-proxy-v2 or nginx's proxy_protocol, run it with
// -proxy-protocol -proxy-trusted CIDRs (the balancers' addresses):
// connections from them begin with a PROXY header, whose client address
// is what /ip, the logs and the handlers see (see the README's "Past one
// machine").
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
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/netio/prefork"
	"github.com/coopgo/coop/sched"
)

var logger = log.New(os.Stderr, "http: ", log.LstdFlags)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	cores := flag.Int("cores", 1, "number of schedulers (threads), each with its own SO_REUSEPORT listener")
	mode := flag.String("mode", "task", "task: a task per connection; ready: a task only while a connection is readable")
	root := flag.String("root", "", "directory served under /static/ (none if empty)")
	maxHeader := flag.Int("max-header", 8<<10, "largest request line plus header fields, in bytes (431 beyond)")
	maxBody := flag.Int64("max-body", 1<<20, "largest request body read and discarded, in bytes (413 beyond)")
	headerTimeout := flag.Duration("header-timeout", 10*time.Second, "time to receive a request header, keep-alive idle time included (408 beyond)")
	writeTimeout := flag.Duration("write-timeout", 30*time.Second, "time to write a response to a client that does not read")
	maxConns := flag.Int("max-conns", 10000, "connections served at once per scheduler (0: no limit)")
	grace := flag.Duration("grace", 3*time.Second, "how long shutdown waits for busy connections before closing them")
	workers := flag.Int("workers", 0, "worker processes (netio/prefork), each with -cores schedulers; 0: this process serves alone")
	maxWorkers := flag.Int("max-workers", 0, "an adaptive pool of -workers to this many worker processes, sized on their schedulers' busy time; with -workers 0, ondemand: no worker until a connection comes, none again after -idle-timeout")
	idleTimeout := flag.Duration("idle-timeout", 10*time.Second, "with -workers 0 -max-workers N: how long a worker with no connection stays")
	control := flag.String("control", "", "with -workers or -max-workers: the pool's control socket (see preforkctl)")
	flag.Parse()
	pool := poolSize{min: *workers, max: *maxWorkers, idle: *idleTimeout}
	if *cores < 1 || *workers < 0 || *maxWorkers < 0 || (*maxWorkers > 0 && *maxWorkers < *workers) || *idleTimeout <= 0 ||
		(*control != "" && !pool.on()) || *maxHeader < 256 || *maxBody < 0 || *headerTimeout <= time.Second ||
		*writeTimeout <= time.Second || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "http: bad flags (-cores ≥ 1, -workers ≥ 0, -max-workers 0 or ≥ -workers, -idle-timeout > 0, -control needs a pool, -max-header ≥ 256, timeouts > 1s)")
		flag.Usage()
		os.Exit(2)
	}
	cfg := &config{
		maxHeader:     *maxHeader,
		maxBody:       *maxBody,
		headerTimeout: *headerTimeout,
		writeTimeout:  *writeTimeout,
		logger:        logger,
	}
	if *root != "" {
		r, err := os.OpenRoot(*root)
		if err != nil {
			logger.Fatal(err)
		}
		defer r.Close()
		cfg.root = r
	}
	pp, err := farmConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "http: %v\n", err)
		os.Exit(2)
	}
	cfg.proxy = pp
	if *mode != "task" && *mode != "ready" {
		fmt.Fprintf(os.Stderr, "http: -mode must be task or ready, not %q\n", *mode)
		os.Exit(2)
	}
	if pool.on() {
		if err := servePool(cfg, *addr, pool, *cores, *mode, *maxConns, *grace, *drainDelay, *control); err != nil {
			logger.Fatal(err)
		}
		return
	}
	if err := serve(cfg, *addr, *cores, *mode, *maxConns, *grace, *drainDelay); err != nil {
		logger.Fatal(err)
	}
}

// newServer makes the server for scheds, each with its local state.
func newServer(cfg *config, scheds []*sched.Scheduler, mode string, maxConns int) (*netio.Server, map[*sched.Scheduler]*local) {
	// Each scheduler's sessions share a local: read-only after this, the
	// map needs no lock.
	locals := make(map[*sched.Scheduler]*local, len(scheds))
	for _, s := range scheds {
		locals[s] = &local{cfg: cfg, sessions: make(map[*session]struct{})}
	}
	srv := &netio.Server{Logger: logger, MaxConns: maxConns, ProxyProtocol: cfg.proxy}
	cfg.srv = srv
	if mode == "task" {
		srv.Handler = func(c *netio.Conn) { locals[c.Scheduler()].serveTask(c) }
	} else {
		srv.Ready = func(c *netio.Conn) error {
			if s, ok := c.Value().(*session); ok {
				return s.loc.serveReady(c)
			}
			return locals[c.Scheduler()].serveReady(c)
		}
		// The idle timeout bounds the pauses of a client between and
		// within requests; the read timeout bounds a Ready call's reads,
		// which could otherwise park for good after a stale readiness
		// edge (data already read by the previous call).
		srv.IdleTimeout = cfg.headerTimeout
		srv.ReadTimeout = cfg.headerTimeout
	}
	return srv, locals
}

// servePool runs the server as a pool of worker processes (netio/prefork):
// the master listens and supervises, each worker runs cores schedulers,
// each with its own SO_REUSEPORT socket. SIGHUP reloads (a new
// generation, rolling, old workers draining), SIGUSR2 upgrades the
// binary, SIGTERM and SIGINT stop gracefully, SIGQUIT at once. A
// keep-alive connection of a draining worker gets "Connection: close" on
// its next response, and closes after it. With -drain-delay D, SIGTERM
// or SIGINT makes the workers drain for D first, as the single process
// does (prefork.Config.StopDelay). With -max-workers the pool adapts
// between -workers and it; from -workers 0 it is ondemand.
func servePool(cfg *config, addr string, size poolSize, cores int, mode string, maxConns int, grace, drainDelay time.Duration, control string) error {
	return prefork.Run(&prefork.Config{
		Listen:        []prefork.Listen{{Name: "http", Network: "tcp", Address: addr}},
		Workers:       size.min,
		MinWorkers:    size.minWorkers(),
		MaxWorkers:    size.max,
		IdleTimeout:   size.idle,
		Cores:         cores,
		ControlSocket: control,
		DrainTimeout:  grace,
		StopDelay:     drainDelay,
		SchedOptions:  []sched.Option{sched.WithLogger(logger)},
		Logger:        logger,
		Serve: func(w *prefork.Worker) error {
			scheds := w.Group().Schedulers()
			cfg.worker = w // one worker per process
			srv, _ := newServer(cfg, scheds, mode, maxConns)
			return w.Serve(srv) // srv.Draining is true while the worker drains

		},
	})
}

// poolSize is what -workers, -max-workers and -idle-timeout ask of a
// pool of processes.
type poolSize struct {
	min, max int
	idle     time.Duration
}

// on reports whether the flags ask for a pool.
func (p poolSize) on() bool { return p.min > 0 || p.max > 0 }

// minWorkers is prefork.Config.MinWorkers: -workers for an adaptive
// pool (0 is ondemand), none for a fixed one.
func (p poolSize) minWorkers() int {
	if p.max == 0 {
		return 0
	}
	return p.min
}

// serve runs the server on addr with one scheduler, or a group of cores
// schedulers each with its own listener, until SIGINT or SIGTERM.
func serve(cfg *config, addr string, cores int, mode string, maxConns int, grace, drainDelay time.Duration) error {
	var (
		scheds  []*sched.Scheduler
		start   func(func()) *sched.Task
		run     func() error
		serveLs func(*netio.Server) error
		laddr   net.Addr
	)
	if cores == 1 {
		s := sched.New(sched.WithName("http"), sched.WithLogger(logger))
		l, err := netio.Listen(s, "tcp", addr)
		if err != nil {
			return err
		}
		scheds = []*sched.Scheduler{s}
		start, run, laddr = s.Go, s.Run, l.Addr()
		serveLs = func(srv *netio.Server) error { return srv.Serve(l) }
	} else {
		g := sched.NewGroup(cores, sched.WithName("http"), sched.WithLogger(logger))
		ls, err := netio.ListenGroup(g, "tcp", addr)
		if err != nil {
			return err
		}
		scheds = g.Schedulers()
		start, run, laddr = g.Go, g.Run, ls[0].Addr()
		serveLs = func(srv *netio.Server) error { return srv.ServeGroup(ls) }
	}

	srv, locals := newServer(cfg, scheds, mode, maxConns)
	logger.Printf("listening on %v (%s mode, %d core(s))", laddr, mode, cores)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if mode == "task" {
		// The server closes idle ready-mode connections itself; only the
		// handlers know which task-mode ones are idle.
		srv.RegisterOnShutdown(func() {
			for s, l := range locals {
				s.Go(l.drain)
			}
		})
	}
	go func() {
		sig := <-sigs
		if drainDelay > 0 {
			logger.Printf("%v: draining for %v (/healthz fails, connections close after their next response), then shutting down", sig, drainDelay)
		} else {
			logger.Printf("%v: shutting down", sig)
		}
		go func() {
			sig := <-sigs
			logger.Printf("%v again: closing every connection now", sig)
			srv.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), drainDelay+grace)
		defer cancel()
		if err := srv.Drain(ctx, drainDelay); err != nil {
			logger.Printf("shutdown: %v (remaining connections closed)", err)
		}
	}()

	var serveErr error
	start(func() {
		if err := serveLs(srv); !errors.Is(err, netio.ErrServerClosed) {
			serveErr = err
		}
	})
	return errors.Join(run(), serveErr)
}
