// Command kv is a key-value server that speaks the Redis protocol (RESP2),
// written on coop: every connection's commands are read and answered
// blocking-style, by a task (-mode task) or, in ready mode, by a pooled
// task that exists only while the connection has input (-mode ready), on
// one scheduler thread per core.
//
// It shows what an event-loop server such as Redis does — pipelining with
// one write per batch of commands, an output buffer per client with a
// limit, lazy plus active expiry, protocol errors answered then closed —
// written as straight-line code, and is measured against redis-server by
// the study (server CPU time per request under redis-benchmark).
//
// Run it and talk to it with any Redis client:
//
//	go run ./examples/kv -addr 127.0.0.1:6380
//	redis-cli -p 6380 set greeting hello
//	redis-cli -p 6380 get greeting
//	redis-benchmark -p 6380 -t get,set -P 16 -q
//
// Commands: PING, ECHO, GET, SET (EX, PX, EXAT, PXAT, NX, XX, GET,
// KEEPTTL), DEL, UNLINK, EXISTS, INCR, DECR, INCRBY, DECRBY, MGET, MSET,
// EXPIRE, PEXPIRE (NX, XX, GT, LT), PERSIST, TTL, PTTL, KEYS, DBSIZE,
// FLUSHALL, FLUSHDB, SELECT 0, QUIT, and for clients' start-up COMMAND
// (an empty table; COUNT and LIST of kv's commands), CONFIG GET (a few
// parameters), HELLO (RESP2 only) and CLIENT SETNAME/GETNAME/ID/SETINFO/
// INFO. Replies and error texts are Redis
// 7's; protocol errors are answered and the connection then closed, as
// Redis does. Values are strings; there is one database.
//
// # Cores
//
// With -cores N > 1 the key space is split into N shards by a hash of the
// key; each scheduler owns one shard and is the only thread that touches
// it, so no store has a lock. A connection is served by the scheduler
// whose SO_REUSEPORT listener accepted it; a command about a key of
// another shard is run on that shard's scheduler through
// sched.Scheduler.Do, which parks the connection's task meanwhile, so a
// client's commands still run in order. Forwarding costs a cross-thread
// round trip per command (or per shard, for MGET, MSET, DEL, EXISTS,
// KEYS, DBSIZE, FLUSHALL), and MSET over several shards is not atomic.
// With -cores 1 (the default) everything runs on one thread.
//
// -shared mutex is the other design, for comparison (the study's table
// "shared state across event-loop instances"): the N schedulers share one
// store under a sync.Mutex, and every command runs on the connection's
// own scheduler, holding the lock; nothing is forwarded.
//
// # Limits
//
// -maxclients (excess clients get "-ERR max number of clients reached"
// and are closed), -maxargs and -maxbulk (Redis's multibulk and
// proto-max-bulk-len limits; longer is a protocol error), -maxquery (the
// most one command may take in memory; the client is closed), -maxoutput
// (replies pending for a client that does not read them; past it the
// client is closed, as with Redis's client-output-buffer-limit), -timeout
// (close clients idle this long; 0: never). SIGINT or SIGTERM shut the
// server down gracefully: batches being answered are finished and
// written, then every connection is closed.
//
// # Behind a load balancer
//
// With -proxy-protocol, connections from -proxy-trusted sources (the
// balancers: HAProxy's send-proxy-v2 in TCP mode, nginx's stream
// proxy_protocol) begin with a PROXY protocol header, and the client's
// address it carries is the one the server logs and CLIENT INFO reports.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coopgo/coop/examples/internal/proxyflag"
	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/netio/prefork"
	"github.com/coopgo/coop/sched"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "address to listen on")
	cores := flag.Int("cores", 1, "schedulers (threads), each owning a shard of the keys")
	mode := flag.String("mode", "task", "task: a task per connection; ready: a task only while a connection has input")
	workers := flag.Int("workers", 0, "worker processes (netio/prefork), each with its own keys and -cores schedulers; 0: this process serves alone")
	control := flag.String("control", "", "with -workers: the pool's control socket (see preforkctl)")
	drain := flag.Duration("drain", 30*time.Second, "with -workers: how long a worker being replaced (reload, upgrade, stop) waits for its clients to close their connections before it closes them (RESP cannot ask a client to close)")
	var cfg config
	flag.IntVar(&cfg.maxClients, "maxclients", 10000, "most clients connected at once")
	flag.IntVar(&cfg.maxArgs, "maxargs", 1024*1024, "most arguments in one command")
	flag.IntVar(&cfg.maxBulk, "maxbulk", 64<<20, "longest argument, in bytes")
	flag.IntVar(&cfg.maxQuery, "maxquery", 256<<20, "most memory one command may take, in bytes")
	flag.IntVar(&cfg.maxOutput, "maxoutput", 64<<20, "most replies pending for a client that does not read them, in bytes")
	flag.DurationVar(&cfg.idle, "timeout", 0, "close a client idle this long (0: never)")
	flag.BoolVar(&cfg.verbose, "v", false, "log protocol errors and dropped clients")
	shared := flag.String("shared", "none", "none: with -cores > 1 each scheduler owns a shard of the keys and forwards commands about the others'; mutex: the schedulers share one store under a sync.Mutex")
	proxy := proxyflag.Register(nil)
	flag.Parse()
	logger := log.New(os.Stderr, "kv: ", log.LstdFlags)
	pp, err := proxy.Config()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kv: %v\n", err)
		os.Exit(2)
	}
	cfg.proxy = pp
	switch *shared {
	case "none":
	case "mutex":
		cfg.shared = true
	default:
		logger.Fatalf("-shared %q: want none or mutex", *shared)
	}
	if *workers < 0 || (*control != "" && *workers == 0) || *drain <= 0 {
		logger.Fatal("-workers must be ≥ 0, -control needs -workers, and -drain must be positive")
	}
	run := run
	if *workers > 0 {
		run = func(addr string, cores int, mode string, cfg config, logger *log.Logger) error {
			return runPool(addr, *workers, cores, mode, *control, *drain, cfg, logger)
		}
	}
	if err := run(*addr, *cores, *mode, cfg, logger); err != nil {
		logger.Fatal(err)
	}
}

// runPool serves as a pool of worker processes (netio/prefork). Each
// worker has its own keys — a process pool suits a cache whose clients
// shard their keys, not one shared store — and -cores schedulers, each
// with its own SO_REUSEPORT socket. SIGHUP reloads (a new generation,
// rolling: a worker's keys go with it), SIGUSR2 upgrades the binary,
// SIGTERM and SIGINT stop gracefully, SIGQUIT at once. A worker being
// replaced stops accepting and waits up to drain for its clients to
// close: RESP has no way to ask a client to close (HTTP's "Connection:
// close"), so a client still connected then is cut, and its next
// command fails.
func runPool(addr string, workers, cores int, mode, control string, drain time.Duration, cfg config, logger *log.Logger) error {
	if err := checkFlags(cores, mode, cfg); err != nil {
		return err
	}
	return prefork.Run(&prefork.Config{
		Listen:        []prefork.Listen{{Name: "resp", Network: "tcp", Address: addr}},
		Workers:       workers,
		Cores:         cores,
		ControlSocket: control,
		DrainTimeout:  drain,
		SchedOptions:  []sched.Option{sched.WithLogger(logger)},
		Logger:        logger,
		Serve: func(w *prefork.Worker) error {
			scheds := w.Group().Schedulers()
			srv := newServer(cfg, logger, scheds)
			ns := &netio.Server{Logger: logger, ConnState: srv.connState, ProxyProtocol: cfg.proxy}
			if mode == "task" {
				ns.Handler = srv.handle
			} else {
				ns.Ready = srv.ready
				ns.IdleTimeout = cfg.idle
			}
			return w.Serve(ns)
		},
	})
}

// checkFlags checks the flags both ways of running share.
func checkFlags(cores int, mode string, cfg config) error {
	switch {
	case cores < 1:
		return fmt.Errorf("-cores %d: need at least 1", cores)
	case mode != "task" && mode != "ready":
		return fmt.Errorf("-mode %q: want task or ready", mode)
	case cfg.maxClients < 1 || cfg.maxArgs < 1 || cfg.maxBulk < 1 || cfg.maxOutput < 1:
		return fmt.Errorf("-maxclients, -maxargs, -maxbulk and -maxoutput must be positive")
	case cfg.idle < 0:
		return fmt.Errorf("-timeout must not be negative")
	case cfg.maxQuery < cfg.maxBulk:
		return fmt.Errorf("-maxquery %d is less than -maxbulk %d", cfg.maxQuery, cfg.maxBulk)
	}
	return nil
}

func run(addr string, cores int, mode string, cfg config, logger *log.Logger) error {
	if err := checkFlags(cores, mode, cfg); err != nil {
		return err
	}

	// One scheduler, or a group of them with a listener each.
	var scheds []*sched.Scheduler
	var g *sched.Group
	var ls []*netio.Listener
	var err error
	if cores == 1 {
		s := sched.New(sched.WithName("kv"), sched.WithLogger(logger))
		scheds = []*sched.Scheduler{s}
		l, err := netio.Listen(s, "tcp", addr)
		if err != nil {
			return err
		}
		ls = []*netio.Listener{l}
	} else {
		g = sched.NewGroup(cores, sched.WithName("kv"), sched.WithLogger(logger))
		scheds = g.Schedulers()
		if ls, err = netio.ListenGroup(g, "tcp", addr); err != nil {
			return err
		}
	}

	srv := newServer(cfg, logger, scheds)
	ns := &netio.Server{Logger: logger, ConnState: srv.connState, ProxyProtocol: cfg.proxy}
	if mode == "task" {
		ns.Handler = srv.handle
	} else {
		ns.Ready = srv.ready
		ns.IdleTimeout = cfg.idle
	}
	serveErr := make(chan error, 1)
	serve := func() { serveErr <- ns.ServeGroup(ls) }
	logger.Printf("listening on %s (%d core(s), %s mode)", ls[0].Addr(), cores, mode)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		logger.Printf("%v: shutting down", s)
		srv.stopping.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- ns.Shutdown(ctx) }()
		if mode == "task" {
			srv.wakeReaders()
		}
		if err := <-done; err != nil {
			logger.Printf("shutdown: %v", err)
		}
		// The expiry sweepers are all that is left: stop them.
		for _, s := range scheds {
			s.Stop()
		}
	}()

	if g != nil {
		g.Go(serve)
		err = g.Run()
	} else {
		scheds[0].Go(serve)
		err = scheds[0].Run()
	}
	if serr := <-serveErr; serr != nil && serr != netio.ErrServerClosed {
		return serr
	}
	return err
}
