package main

import (
	"time"

	"github.com/coopgo/coop/netio"
)

// serveTask is the task-mode handler: one task per connection, written as
// plain blocking code — read, answer what is complete, write, repeat. The
// buffers are lent for each batch of requests: parked between requests,
// the connection holds none. The deadlines are its own (see
// session.armRead): the server sets none in task mode. Time comes from
// the scheduler's clock, read once per poll rather than once per request.
func (l *local) serveTask(nc *netio.Conn) {
	s := newSession(l, nc)
	l.sessions[s] = struct{}{}
	defer delete(l.sessions, s)
	defer s.release()
	sc := nc.Scheduler()
	now := sc.Now()
	s.armRead(now)
	s.armWrite(now)
	for {
		if l.draining && s.idle() {
			return // shutting down: no next request (the server closes nc)
		}
		s.waiting = s.idle()
		err := s.fill()
		s.waiting = false
		if err != nil {
			s.readFailed(err)
			return
		}
		now = sc.Now()
		if err = s.answer(now); err == nil {
			err = s.flush()
		}
		if err != nil {
			s.finish(err)
			return
		}
		s.release()
		if s.progress {
			s.armRead(now)
			s.armWrite(now)
		}
	}
}

// drain runs in a task of l's scheduler when shutdown begins: task-mode
// connections blocked waiting for their next request are closed now, busy
// ones after the response they are writing.
func (l *local) drain() {
	l.draining = true
	for s := range l.sessions {
		if s.waiting {
			s.nc.Close()
		}
	}
}

// serveReady is the ready-mode handler: it runs, in a pooled task, each
// time the idle connection becomes readable. It reads what is there,
// answers every complete request and returns: between requests the
// connection holds no task, no stack and, once nothing is pending, no
// buffers either — they go back to the scheduler's pool (the server
// gives back the Reader's), as nginx frees a keep-alive connection's
// buffers.
//
// Here the server owns the read deadline: it closes a connection idle for
// its IdleTimeout (the -header-timeout), which bounds each pause of a
// client. The time a pending request has taken so far is checked here,
// each time more of it arrives; so a client that trickles its header in
// is cut off within twice the header timeout.
func (l *local) serveReady(nc *netio.Conn) error {
	s, _ := nc.Value().(*session)
	if s == nil {
		s = newSession(l, nc)
		nc.SetValue(s)
		s.armWrite(nc.Scheduler().Now())
	}
	defer s.release()
	err := s.fill()
	now := nc.Scheduler().Now()
	if err != nil {
		s.readFailed(err)
	} else {
		if err = s.answer(now); err == nil {
			err = s.flush()
		}
		if err != nil {
			s.finish(err)
		}
	}
	if err == nil {
		if s.progress {
			s.armWrite(now)
		}
		switch {
		case s.idle():
			s.started = time.Time{}
		case s.progress || s.started.IsZero():
			s.started = now
		case now.Sub(s.started) > l.cfg.headerTimeout:
			s.out = errorResponse[408].appendTo(s.out, l.clock.dateAt(now), connClose, false)
			err = errClose
			s.finish(err)
		}
	}
	return err
}
