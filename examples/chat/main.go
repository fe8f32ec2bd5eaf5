// Command chat is an IRC server written on coop: the client protocol of
// RFC 2812 that real clients (irssi, ii, sic, ...) need, with the
// operator's safeguards of a C IRC daemon — flood control, a send queue
// limit, a client limit, ping, idle and registration timeouts, graceful
// shutdown — and all its shared state (nicks, channels) on one
// scheduler, with no lock.
//
//	go run ./examples/chat -addr 127.0.0.1:6667 [-mode ready]
//	irssi -c 127.0.0.1 -p 6667 -n alice
//
// # Protocol
//
// Registration with NICK and USER (PASS if -pass is set; CAP LS/END is
// answered with no capabilities), then the welcome burst: 001 to 004, 005
// ISUPPORT (CASEMAPPING=rfc1459, CHANTYPES=#, CHANNELLEN, NICKLEN, PREFIX,
// CHANMODES, ...), LUSERS and MOTD. Commands: PING and PONG (the server
// PINGs a silent client too), JOIN (several channels; JOIN 0 leaves them
// all), PART, PRIVMSG and NOTICE to channels and nicks, NAMES, TOPIC,
// MODE (+o, +t, +n on channels, the creator of a channel is its operator;
// +i, +w on oneself), WHO, WHOIS, KICK, QUIT, MOTD, LUSERS. Errors are
// the numerics clients expect (401, 403, 404, 421, 431, 432, 433, 442,
// 451, 461, 462, 482, ...). Messages are at most 512 bytes with CR LF; a
// longer input line gets ERR_INPUTTOOLONG (417) and is not run, and a
// message that would pass the limit once relayed with the sender's
// prefix gets 417 too: nothing is cut. Nicks and channel names follow
// RFC 2812 and compare under the rfc1459 case mapping; prefixes are
// nick!user@host, the host being the client's IP address.
//
// # Operator's limits
//
// -flood-penalty and -flood-burst: ircu's and ngircd's flood control. Every
// message advances the client's flood clock by the penalty (a long line
// more); while the clock is more than the burst ahead of real time the
// client's input waits, and if it piles up past -recvq bytes meanwhile
// the client is dropped with "Excess Flood". -sendq: a client with more
// output waiting is dropped ("SendQ exceeded") instead of growing the
// server. -maxclients: connections past it get an ERROR line and are
// closed. -ping and -pong: a client silent for -ping gets a PING and has
// -pong to answer. -register: a connection must register within it.
// SIGINT or SIGTERM: every client gets "ERROR :Closing Link: ...
// (Server shutting down)" and the server exits.
//
// # Modes
//
// -mode task gives every connection a task that reads and runs its
// commands blocking-style. -mode ready gives a connection a task only
// while it has input: an idle client holds no task, no stack and no
// buffer, only its state (nick, channels) — what a C IRC daemon keeps per
// client.
//
// Chat runs on one scheduler: all shared state is touched by tasks of
// one thread, one command at a time, so no command needs a lock. -cores
// other than 1 is refused: every command and every fan-out would cross
// between threads (README.md says what that would cost); run an instance
// per core instead.
package main

import (
	"bufio"
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
	mode := flag.String("mode", "task", "task: a task per connection; ready: a task only while a connection has input")
	cores := flag.Int("cores", 1, "schedulers; chat keeps its shared state on one, so only 1 is accepted")
	var cfg config
	flag.StringVar(&cfg.name, "name", "coop.chat", "the server's name")
	flag.StringVar(&cfg.network, "network", "coop", "the network's name (ISUPPORT NETWORK)")
	flag.StringVar(&cfg.pass, "pass", "", "connection password (PASS); empty: none")
	motdPath := flag.String("motd", "", "message of the day file; empty: a built-in one")
	flag.DurationVar(&cfg.idle, "ping", 90*time.Second, "silence after which a client is sent PING (0: never)")
	flag.DurationVar(&cfg.pongTimeout, "pong", 60*time.Second, "time a PINGed client has to answer")
	flag.DurationVar(&cfg.regTimeout, "register", 60*time.Second, "time a connection has to register (0: unlimited)")
	flag.IntVar(&cfg.sendQ, "sendq", 256<<10, "most bytes queued for a client before it is dropped")
	flag.IntVar(&cfg.recvQ, "recvq", 4096, "most unprocessed input of a slowed-down client before it is dropped")
	flag.DurationVar(&cfg.floodPenalty, "flood-penalty", time.Second, "flood clock advance per message (0: no flood control)")
	flag.DurationVar(&cfg.floodBurst, "flood-burst", 10*time.Second, "how far the flood clock may run ahead before input waits")
	flag.IntVar(&cfg.maxClients, "maxclients", 10000, "most connections at once; more are refused with ERROR")
	flag.IntVar(&cfg.maxChannels, "maxchannels", 50, "most channels a client may be in")
	flag.IntVar(&cfg.nickLen, "nicklen", 16, "longest nick")
	flag.IntVar(&cfg.sndBuf, "sndbuf", 0, "kernel send buffer per client, in bytes (0: the system's)")
	flag.DurationVar(&cfg.flushDelay, "flush-delay", 0, "how long output waits before it is written, so that lines of several messages leave in one write: less CPU per line, more latency (0: written as soon as the commands that run now have run; at most 1s)")
	flag.Parse()
	logger := log.New(os.Stderr, "chat: ", log.LstdFlags)
	if err := loadMOTD(&cfg, *motdPath); err != nil {
		logger.Fatal(err)
	}
	if err := run(*addr, *mode, *cores, cfg, logger); err != nil {
		logger.Fatal(err)
	}
}

// defaultMOTD is shown without -motd.
var defaultMOTD = []string{"coop chat: an IRC server on cooperative user-space contexts.", "Be kind."}

func loadMOTD(cfg *config, path string) error {
	if path == "" {
		cfg.motd = defaultMOTD
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	cfg.motd = []string{}
	for sc.Scan() {
		l := sc.Text()
		if len(l) > 400 {
			l = l[:400] // a line of ours, not a client's: kept under the limit
		}
		cfg.motd = append(cfg.motd, l)
	}
	return sc.Err()
}

func check(mode string, cores int, cfg config) error {
	switch {
	case mode != "task" && mode != "ready":
		return fmt.Errorf("-mode %q: want task or ready", mode)
	case cores != 1:
		return fmt.Errorf("-cores %d: chat keeps all its shared state on one scheduler, without locks, so it runs on one core; run an instance per core instead", cores)
	case cfg.sendQ < 1024 || cfg.recvQ < 2*maxLine || cfg.maxClients < 1 || cfg.maxChannels < 1:
		return fmt.Errorf("bad limits: -sendq must be at least 1024, -recvq at least %d, -maxclients and -maxchannels positive", 2*maxLine)
	case cfg.nickLen < 9 || cfg.nickLen > 30:
		return fmt.Errorf("-nicklen %d: want 9 (RFC 2812) to 30", cfg.nickLen)
	case cfg.idle < 0 || cfg.pongTimeout <= 0 || cfg.regTimeout < 0 || cfg.floodPenalty < 0 || cfg.floodBurst < 0 || cfg.sndBuf < 0 || cfg.flushDelay < 0:
		return fmt.Errorf("bad timeouts: -pong must be positive, the others not negative")
	case cfg.flushDelay > time.Second:
		return fmt.Errorf("-flush-delay %v: at most 1s (every line waits that long)", cfg.flushDelay)
	case cfg.name == "" || cfg.network == "":
		return fmt.Errorf("-name and -network must not be empty")
	}
	return nil
}

func run(addr, mode string, cores int, cfg config, logger *log.Logger) error {
	if err := check(mode, cores, cfg); err != nil {
		return err
	}
	s := sched.New(sched.WithName("chat"), sched.WithLogger(logger))
	l, err := netio.Listen(s, "tcp", addr)
	if err != nil {
		return err
	}
	srv := newServer(cfg, logger, s, mode == "ready")
	ns := &netio.Server{Logger: logger}
	if mode == "task" {
		ns.Handler = srv.handle
	} else {
		ns.Ready = srv.ready
		ns.ConnState = srv.connState
	}
	logger.Printf("listening on %s (%s mode)", l.Addr(), mode)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sg := <-sig
		logger.Printf("%v: shutting down", sg)
		// Every client is told, then the listener closes.
		s.Do(srv.shutdown)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := ns.Shutdown(ctx); err != nil {
			logger.Printf("shutdown: %v", err)
		}
	}()

	var serveErr error
	s.Go(func() {
		srv.start()
		serveErr = ns.Serve(l)
	})
	if err := s.Run(); err != nil {
		return err
	}
	if serveErr != nil && serveErr != netio.ErrServerClosed {
		return serveErr
	}
	return nil
}
