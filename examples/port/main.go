// Command port is one small line protocol served two ways, to show what
// porting a C event-loop server to coop changes:
//
//   - -impl statemachine (statemachine.go): the C way. One event loop per
//     thread on raw readiness events (sched.FD read hooks), non-blocking
//     system calls, a struct per connection with its state, buffers and
//     timers spelled out, and handlers that never block.
//   - -impl tasks (tasks.go): the coop way. A netio.Server runs each
//     session as a task whose code is a plain loop — read a line, run it,
//     write the reply — with deadlines and Sleep for its timers.
//
// Both speak the same protocol (protocol.go): a running tally per session
// with ADD, SUM, AVG, RESET, PING, QUIT, a periodic TICK, an idle timeout
// and a line-length limit. Both pass the same tests. README.md in this
// directory is the porting guide.
//
//	go run ./examples/port -impl statemachine -addr 127.0.0.1:7070
//	printf 'ADD 2\nADD 5\nAVG\nQUIT\n' | nc 127.0.0.1 7070
//	OK 2
//	OK 7
//	AVG 3.50
//	BYE
//
// With -cores N > 1 either runs on a sched.Group of N schedulers, one
// SO_REUSEPORT listener each. SIGINT or SIGTERM says "BYE shutdown" to
// every session, waits up to -grace for them to close, and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

var logger = log.New(os.Stderr, "port: ", log.LstdFlags)

func main() {
	addr := flag.String("addr", "127.0.0.1:7070", "address to listen on")
	cores := flag.Int("cores", 1, "number of schedulers (threads), each with its own SO_REUSEPORT listener")
	impl := flag.String("impl", "tasks", "statemachine: an event loop on readiness events; tasks: a blocking-style task per session")
	idle := flag.Duration("idle", time.Minute, `say "BYE idle" to a session that sends nothing for this long (0: never)`)
	grace := flag.Duration("grace", 2*time.Second, "how long shutdown waits for sessions to close")
	flag.Parse()
	if *cores < 1 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	switch *impl {
	case "statemachine":
		err = runStateMachine(*addr, *cores, *idle, *grace)
	case "tasks":
		err = runTasks(*addr, *cores, *idle, *grace)
	default:
		fmt.Fprintf(os.Stderr, "port: -impl must be statemachine or tasks, not %q\n", *impl)
		os.Exit(2)
	}
	if err != nil {
		logger.Fatal(err)
	}
}

// schedulers makes one scheduler, or a group of cores, with a listener on
// addr for each.
func schedulers(addr string, cores int, opts ...sched.Option) (ss []*sched.Scheduler, ls []*netio.Listener, g *sched.Group, err error) {
	opts = append(opts, sched.WithName("port"), sched.WithLogger(logger))
	if cores == 1 {
		s := sched.New(opts...)
		l, err := netio.Listen(s, "tcp", addr)
		if err != nil {
			return nil, nil, nil, err
		}
		return []*sched.Scheduler{s}, []*netio.Listener{l}, nil, nil
	}
	g = sched.NewGroup(cores, opts...)
	ls, err = netio.ListenGroup(g, "tcp", addr)
	if err != nil {
		return nil, nil, nil, err
	}
	return g.Schedulers(), ls, g, nil
}

// onSignal runs shutdown in a goroutine of its own at SIGINT or SIGTERM.
func onSignal(shutdown func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		logger.Printf("%v: shutting down", sig)
		shutdown()
	}()
}

func listening(ls []*netio.Listener, impl string) {
	logger.Printf("listening on %v (%s, %d core(s))", ls[0].Addr(), impl, len(ls))
}

// runStateMachine runs an event loop per scheduler. The schedulers are
// kept alive explicitly: between events an event loop holds no task.
func runStateMachine(addr string, cores int, idle, grace time.Duration) error {
	ss, ls, g, err := schedulers(addr, cores, sched.WithKeepAlive())
	if err != nil {
		return err
	}
	loops := make([]*smServer, len(ss))
	for i, s := range ss {
		loops[i] = newSMServer(s, ls[i], idle, logger)
		s.Go(loops[i].start)
	}
	listening(ls, "statemachine")
	onSignal(func() {
		var wg sync.WaitGroup
		for _, srv := range loops {
			wg.Go(func() {
				if err := srv.s.Do(func() { srv.shutdown(grace) }); err != nil {
					logger.Print(err)
				}
			})
		}
		wg.Wait()
		if g != nil {
			g.Stop()
		} else {
			ss[0].Stop()
		}
	})
	if g != nil {
		return g.Run()
	}
	return ss[0].Run()
}

// runTasks serves the sessions with a netio.Server in task mode.
func runTasks(addr string, cores int, idle, grace time.Duration) error {
	ss, ls, g, err := schedulers(addr, cores)
	if err != nil {
		return err
	}
	ts := &taskServer{idle: idle, logger: logger, sessions: make(map[*sched.Scheduler]sessionSet)}
	for _, s := range ss {
		ts.sessions[s] = make(sessionSet)
	}
	srv := &netio.Server{Handler: ts.session, Logger: logger}
	listening(ls, "tasks")
	onSignal(func() {
		ts.shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			logger.Printf("shutdown: %v (remaining connections closed)", err)
		}
	})
	var serveErr error
	serve := func() {
		var err error
		if g != nil {
			err = srv.ServeGroup(ls)
		} else {
			err = srv.Serve(ls[0])
		}
		if !errors.Is(err, netio.ErrServerClosed) {
			serveErr = err
		}
	}
	if g != nil {
		g.Go(serve)
		return errors.Join(g.Run(), serveErr)
	}
	ss[0].Go(serve)
	return errors.Join(ss[0].Run(), serveErr)
}
