// Command echo is a TCP echo server on coop: everything a client sends
// comes back, byte for byte, until the client closes its side; then the
// server closes too. It shows the two ways a netio.Server runs a session:
//
//   - -mode task (the default): each connection is a task running a plain
//     blocking loop, Read then Write, with a per-read idle deadline;
//   - -mode ready: an idle connection holds no task and no stack; when it
//     becomes readable a pooled task echoes what is there and returns.
//
// With -cores N > 1 the server runs on a sched.Group of N schedulers, each
// with its own SO_REUSEPORT listener and its own connections.
//
// Run it and talk to it with netcat:
//
//	go run ./examples/echo -addr 127.0.0.1:7007 [-mode ready] [-cores 2]
//	nc -N 127.0.0.1 7007 < somefile     # -N: half-close at end of input
//
// SIGINT or SIGTERM shuts it down gracefully: it stops accepting, lets
// sessions finish for up to -grace, closes the rest and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
	"golang.org/x/sys/unix"
)

var logger = log.New(os.Stderr, "echo: ", log.LstdFlags)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "address to listen on")
	cores := flag.Int("cores", 1, "number of schedulers (threads), each with its own SO_REUSEPORT listener")
	mode := flag.String("mode", "task", "task: a task per connection; ready: a task only while a connection is readable")
	idle := flag.Duration("idle", 5*time.Minute, "close a connection that sends nothing, or does not read its echo, for this long (0: never)")
	grace := flag.Duration("grace", 3*time.Second, "how long shutdown waits for sessions to end before closing them")
	flag.Parse()
	if *cores < 1 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	srv := &netio.Server{Logger: logger}
	switch *mode {
	case "task":
		srv.Handler = func(c *netio.Conn) { echoTask(c, *idle) }
	case "ready":
		srv.Ready = echoReady
		srv.IdleTimeout = *idle
		srv.WriteTimeout = *idle
	default:
		fmt.Fprintf(os.Stderr, "echo: -mode must be task or ready, not %q\n", *mode)
		os.Exit(2)
	}
	if err := serve(srv, *addr, *cores, *mode, *grace); err != nil {
		logger.Fatal(err)
	}
}

// echoTask is a session in task mode: a plain blocking loop. The Reader
// borrows a buffer from the scheduler for each read and gives it back
// before the task parks for the next one, so an idle connection holds
// none and every connection reads into the same, cache-hot buffer.
func echoTask(c *netio.Conn, idle time.Duration) {
	r := netio.NewReader(c)
	var rd, wd deadline
	for {
		rd.extend(c, idle, c.SetReadDeadline)
		b, err := r.Fill()
		if len(b) == 0 && errors.Is(err, os.ErrDeadlineExceeded) && inputWaiting(c) {
			// A deadline found past with input waiting is not idleness:
			// the scheduler's thread did not run for a while (a loaded
			// machine, a stopped process) and the client's input came
			// meanwhile; the deadline fails a Read even then, as net's
			// does. Renew the idle time and read it.
			rd.at = time.Time{}
			continue
		}
		if len(b) > 0 {
			wd.extend(c, idle, c.SetWriteDeadline)
			if _, werr := c.Write(b); werr != nil {
				logErr(c, werr)
				return
			}
			r.Discard(len(b))
		}
		if err != nil {
			logErr(c, err)
			return // the server closes c
		}
	}
}

// A deadline is an idle timeout for one direction of a connection,
// renewed at every request from the scheduler's clock (read once per
// poll, not once per request), and moved only when it has aged by an
// eighth of the timeout (at most a second): a deadline is a timer in the
// scheduler's heap, and a busy connection need not move it every time.
type deadline struct{ at time.Time }

func (d *deadline) extend(c *netio.Conn, idle time.Duration, set func(time.Time) error) {
	if idle <= 0 {
		return
	}
	now := c.Scheduler().Now()
	if d.at.Sub(now) < idle-min(idle/8, time.Second) {
		d.at = now.Add(idle)
		set(d.at)
	}
}

// inputWaiting reports whether c has input (or the client's end of
// stream) to read, without reading it.
func inputWaiting(c *netio.Conn) bool {
	var b [1]byte
	_, _, err := unix.Recvfrom(c.FD().Sysfd(), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
	return err == nil
}

// echoReady runs when a connection is readable: it echoes one read's
// worth and returns. The server calls it again at once if more input is
// waiting, else puts the connection back to idle; an error (io.EOF at the
// client's half-close) closes the connection. Its buffer is lent by the
// scheduler for the call: an idle connection owns none.
func echoReady(c *netio.Conn) error {
	pool := c.Scheduler().Buffers()
	buf := pool.Get(16 << 10)
	defer pool.Put(buf)
	n, err := c.Read(buf)
	if n > 0 {
		if _, werr := c.Write(buf[:n]); werr != nil {
			logErr(c, werr)
			return werr
		}
	}
	if err != nil {
		logErr(c, err)
	}
	return err
}

// logErr logs err unless it is the normal end of a session: end of
// stream, a reset or broken pipe from a client that went away, an idle
// deadline, or a close by shutdown.
func logErr(c *netio.Conn, err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
	case errors.Is(err, os.ErrDeadlineExceeded):
		logger.Printf("%v: idle or not reading, closing", c.RemoteAddr())
	default:
		logger.Printf("%v: %v", c.RemoteAddr(), err)
	}
}

// serve runs srv on addr with one scheduler, or a group of cores
// schedulers each with its own listener, until SIGINT or SIGTERM.
func serve(srv *netio.Server, addr string, cores int, mode string, grace time.Duration) error {
	var (
		start   func(func()) *sched.Task
		run     func() error
		serveLs func() error
		laddr   net.Addr
	)
	if cores == 1 {
		s := sched.New(sched.WithName("echo"), sched.WithLogger(logger))
		l, err := netio.Listen(s, "tcp", addr)
		if err != nil {
			return err
		}
		start, run, laddr = s.Go, s.Run, l.Addr()
		serveLs = func() error { return srv.Serve(l) }
	} else {
		g := sched.NewGroup(cores, sched.WithName("echo"), sched.WithLogger(logger))
		ls, err := netio.ListenGroup(g, "tcp", addr)
		if err != nil {
			return err
		}
		start, run, laddr = g.Go, g.Run, ls[0].Addr()
		serveLs = func() error { return srv.ServeGroup(ls) }
	}
	logger.Printf("listening on %v (%s mode, %d core(s))", laddr, mode, cores)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		logger.Printf("%v: shutting down", sig)
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			logger.Printf("shutdown: %v (remaining connections closed)", err)
		}
	}()

	var serveErr error
	start(func() {
		if err := serveLs(); !errors.Is(err, netio.ErrServerClosed) {
			serveErr = err
		}
	})
	return errors.Join(run(), serveErr)
}
