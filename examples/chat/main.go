// Command chat is a line-based chat server in the spirit of an IRC
// daemon, written on coop: nicknames, rooms, broadcast and private
// messages, PING/PONG for idle clients, and a send queue limit per client
// (IRC's SendQ) that drops a client that reads too slowly instead of
// letting it stall the others or grow the server's memory.
//
// Every client has two tasks: a reader that runs its commands and a
// writer that sends what is queued for it, many lines per system call.
// All the shared state — the nick table, the rooms — lives on one
// scheduler and has no lock: tasks of one scheduler run one at a time and
// switch only where they block, and no command blocks, so each command
// runs atomically. That is also why chat runs on one core: spreading
// sessions over several schedulers would put locks (or message passing)
// on every broadcast. It refuses -cores other than 1; to use more cores,
// run several instances (or shard rooms between them, as examples/kv
// shards keys).
//
// Talk to it with nc or telnet:
//
//	go run ./examples/chat -addr 127.0.0.1:6667
//	nc 127.0.0.1 6667
//	NICK alice
//	JOIN #coop
//	MSG #coop hello, room
//	MSG bob hello, bob
//	NAMES #coop
//	PART #coop
//	QUIT :bye
//
// Lines end with "\n" or "\r\n" and may be 512 bytes long, line end
// included (longer ones get "417 ... :Input line was too long" and are
// skipped). Replies use IRC's numerics (001 welcome, 353/366 names, 401
// no such nick, 433 nick in use, ...); messages from others arrive as
// ":nick MSG #room :text", ":nick JOIN #room", ":nick QUIT :reason". A
// client silent for -idle gets "PING :coop-chat"; with no input within
// -pongtimeout it is dropped with "ERROR :Ping timeout". A client with
// more than -sendq bytes waiting to be sent is dropped with
// "ERROR :SendQ exceeded".
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

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6667", "address to listen on")
	cores := flag.Int("cores", 1, "schedulers; chat keeps its state on one, so only 1 is accepted")
	var cfg config
	flag.DurationVar(&cfg.idle, "idle", 90*time.Second, "silence after which a client is sent PING (0: never)")
	flag.DurationVar(&cfg.pongTimeout, "pongtimeout", 60*time.Second, "time a PINGed client has to answer")
	flag.IntVar(&cfg.sendQ, "sendq", 256<<10, "most bytes queued for a client before it is dropped")
	flag.IntVar(&cfg.maxLine, "maxline", 512, "longest input line, line end included")
	flag.IntVar(&cfg.maxRooms, "maxrooms", 50, "most rooms a client may be in")
	flag.IntVar(&cfg.maxClients, "maxclients", 10000, "most clients at once; more are refused")
	flag.IntVar(&cfg.sndBuf, "sndbuf", 64<<10, "kernel send buffer per client, in bytes (0: the system's)")
	flag.Parse()
	logger := log.New(os.Stderr, "chat: ", log.LstdFlags)
	if err := run(*addr, *cores, cfg, logger); err != nil {
		logger.Fatal(err)
	}
}

func run(addr string, cores int, cfg config, logger *log.Logger) error {
	switch {
	case cores != 1:
		return fmt.Errorf("-cores %d: chat keeps all its state on one scheduler, without locks, so it runs on one core; run an instance per core instead", cores)
	case cfg.sendQ < 1024 || cfg.maxLine < 16 || cfg.maxRooms < 1 || cfg.maxClients < 1 || cfg.idle < 0 || cfg.pongTimeout <= 0 || cfg.sndBuf < 0:
		return fmt.Errorf("bad limits: -sendq must be at least 1024, -maxline at least 16, -pongtimeout positive, the others not negative")
	}
	s := sched.New(sched.WithName("chat"), sched.WithLogger(logger))
	l, err := netio.Listen(s, "tcp", addr)
	if err != nil {
		return err
	}
	srv := newServer(cfg, logger, s)
	ns := &netio.Server{Handler: srv.handle, MaxConns: cfg.maxClients, Logger: logger}
	logger.Printf("listening on %s", l.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sg := <-sig
		logger.Printf("%v: shutting down", sg)
		ctx, cancel := context.WithTimeout(context.Background(), dropGrace+time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- ns.Shutdown(ctx) }()
		// Sessions wait for their clients' next line: end them.
		s.Do(srv.shutdown)
		if err := <-done; err != nil {
			logger.Printf("shutdown: %v", err)
		}
	}()

	var serveErr error
	s.Go(func() { serveErr = ns.Serve(l) })
	if err := s.Run(); err != nil {
		return err
	}
	if serveErr != nil && serveErr != netio.ErrServerClosed {
		return serveErr
	}
	return nil
}
