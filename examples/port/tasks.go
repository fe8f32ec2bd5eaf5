package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// This file is the tally server as blocking-style tasks: each session is
// a loop of Read, run the line, Write, in a task of its own, and the
// ticks come from a second task that Sleeps. Both tasks of a session touch
// its tally with no lock: tasks of one scheduler run one at a time and
// switch only where they block.
//
// Everything statemachine.go keeps in smConn is here too, but implicit:
// the state is where the task is in its loop (the program counter), the
// buffers are the bufio.Reader and a local slice, the timers are a read
// deadline per Read and a Sleep.

// taskServer holds what the sessions of all schedulers share: the idle
// timeout, and the shutdown flag and session lists with which shutdown
// says "BYE shutdown" to each.
type taskServer struct {
	idle     time.Duration
	logger   *log.Logger
	closing  atomic.Bool
	sessions map[*sched.Scheduler]sessionSet // fixed at startup; each set belongs to its scheduler's thread
}

// A sessionSet is the session tasks of one scheduler. Only tasks of that
// scheduler touch it, so it needs no lock.
type sessionSet map[*sched.Task]struct{}

// session serves one connection; the netio.Server closes it on return.
func (ts *taskServer) session(c *netio.Conn) {
	set := ts.sessions[c.Scheduler()]
	me := sched.Current()
	set[me] = struct{}{}
	defer delete(set, me)

	var t tally
	var ticker *sched.Task
	stopTicker := func() {
		if ticker != nil {
			ticker.Interrupt()
			// An interrupt of this task (shutdown) ends the Wait early;
			// the ticker ends promptly anyway, and closing says the rest.
			for errors.Is(ticker.Wait(), sched.ErrInterrupted) {
			}
			ticker = nil
		}
	}
	defer stopTicker()

	r := bufio.NewReaderSize(idleReader{c, ts.idle}, maxLine)
	var out []byte
	quit, eof := false, false
	for !quit && !eof {
		if ts.closing.Load() {
			// Shutdown began, and its interrupt may have been spent
			// elsewhere (or came before this session started).
			out = append(out, replyShutdown...)
			break
		}
		line, err := r.ReadSlice('\n')
		switch {
		case err == nil:
			line = line[:len(line)-1]
		case err == io.EOF:
			eof = true // run a last line without "\n", if any
		case err == bufio.ErrBufferFull:
			out = append(out, replyTooLong...)
			quit = true
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			out = append(out, replyIdle...)
			quit = true
			continue
		case errors.Is(err, sched.ErrInterrupted):
			out = append(out, replyShutdown...)
			quit = true
			continue
		default:
			ts.logErr(c, err)
			return
		}
		var act action
		out, act = t.exec(line, out)
		switch act {
		case actQuit:
			quit = true
		case actTick:
			stopTicker()
			if every := t.tickEvery; every > 0 {
				ticker = c.Scheduler().Go(func() { ts.tick(c, &t, every) })
			}
		}
		// Reply once no complete line is buffered: a pipelining client
		// gets one write for its whole batch, and nothing waits for input
		// while a reply is pending. The last reply waits for the ticker
		// to stop, below: nothing may follow it.
		if !quit && !eof && (len(out) >= maxPending || !lineBuffered(r)) {
			if err := ts.write(c, out); err != nil {
				ts.logErr(c, err)
				return
			}
			out = out[:0]
		}
	}
	stopTicker()
	if len(out) > 0 {
		if err := ts.write(c, out); err != nil {
			ts.logErr(c, err)
			return
		}
	}
	ts.linger(c, eof)
}

// tick is a session's ticker task: a line every every, at a fixed rate,
// until interrupted. It reads the session's tally directly.
func (ts *taskServer) tick(c *netio.Conn, t *tally, every time.Duration) {
	next := time.Now().Add(every)
	for {
		if sched.Sleep(time.Until(next)) != nil {
			return // interrupted: the session stopped the ticks
		}
		if err := ts.write(c, t.tick(nil)); err != nil {
			if !errors.Is(err, sched.ErrInterrupted) {
				ts.logErr(c, err)
				c.Close() // the client does not read: end the session too
			}
			return
		}
		next = nextTick(next, time.Now(), every)
	}
}

// write writes a reply; a client that does not read it within the idle
// timeout is dropped.
func (ts *taskServer) write(c *netio.Conn, b []byte) error {
	if ts.idle > 0 {
		c.SetWriteDeadline(time.Now().Add(ts.idle))
	}
	_, err := c.Write(b)
	return err
}

// linger shuts down the write side and reads until the client closes too
// (or lingerTime passes): see statemachine.go's linger for why.
func (ts *taskServer) linger(c *netio.Conn, eof bool) {
	if err := c.CloseWrite(); err != nil || eof {
		return
	}
	c.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
}

// shutdown interrupts every session, which then says "BYE shutdown" and
// ends; sessions that start from now on say it at once.
func (ts *taskServer) shutdown() {
	ts.closing.Store(true)
	for s, set := range ts.sessions {
		s.Go(func() {
			for t := range set {
				t.Interrupt()
			}
		})
	}
}

func (ts *taskServer) logErr(c *netio.Conn, err error) {
	switch {
	case errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, sched.ErrInterrupted), errors.Is(err, os.ErrDeadlineExceeded):
	default:
		ts.logger.Printf("%v: %v", c.RemoteAddr(), err)
	}
}

// lineBuffered reports whether r holds a complete line, or a full buffer.
func lineBuffered(r *bufio.Reader) bool {
	b, _ := r.Peek(r.Buffered())
	return bytes.IndexByte(b, '\n') >= 0 || len(b) == r.Size()
}

// idleReader renews the read deadline before every Read: the session is
// idle when no byte arrives for d. A deadline found past with input
// waiting is not idleness: the scheduler's thread did not run for a while
// (a loaded machine, a stopped process), and the client's input came
// meanwhile; the read deadline fails a Read even then, as net's does.
type idleReader struct {
	c *netio.Conn
	d time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	if r.d <= 0 {
		return r.c.Read(p)
	}
	r.c.SetReadDeadline(time.Now().Add(r.d))
	n, err := r.c.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) && inputWaiting(r.c.FD().Sysfd()) {
		r.c.SetReadDeadline(time.Now().Add(r.d))
		return r.c.Read(p)
	}
	return n, err
}
