//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/coopgo/coop/asm"
	"github.com/coopgo/coop/sched"
)

// ErrServerClosed is returned by Serve and ServeGroup once Shutdown or
// Close has been called, and, wrapped in a *net.OpError, by the Read of a
// task-mode handler that waits idle for a next request while the server
// shuts down (see Server). It matches net.ErrClosed.
var ErrServerClosed = fmt.Errorf("netio: server closed: %w", net.ErrClosed)

// Accept back-off after an error such as EMFILE, as net/http does: 5 ms,
// doubling up to 1 s, back to the start after a successful accept.
const (
	acceptDelayMin = 5 * time.Millisecond
	acceptDelayMax = time.Second
)

// readyBurst is how many Ready calls one task makes in a row for a
// connection that stays readable before it yields to the scheduler's other
// tasks: a peer that pipelines without pause must not starve the rest.
const readyBurst = 16

// A Server serves the connections of Listeners, each on its listener's
// scheduler. Set exactly one of Handler (task mode) or Ready (ready mode).
//
// # Task mode
//
// Each connection gets a task that runs Handler(c), blocking-style, and
// the connection is closed when Handler returns. Before Handler runs the
// server sets the read deadline to now+ReadTimeout and the write deadline
// to now+WriteTimeout (each if not zero); from then on the deadlines are
// the handler's, to renew per request as its protocol knows best.
// IdleTimeout does not apply: only the handler knows when its connection
// is idle.
//
// Shutdown ends the handlers that wait for a next request, as net/http
// closes its idle keep-alive connections, and lets the others finish. A
// connection is idle when its handler is parked in Read on it, nothing has
// been read from it since the handler last wrote to it (or since it was
// accepted), and nothing waits unread in the socket's receive queue. Such
// a Read returns an error matching ErrServerClosed (and net.ErrClosed); so
// does every later Read that would wait idle, which is how a handler busy
// when Shutdown began (answering a request, or reading the rest of one) is
// ended once it has answered. The connection is still open when the Read
// fails: the handler may write a goodbye before it returns, and the server
// closes the connection then. Bytes already read, in the handler's own
// buffers (a bufio.Reader), are the handler's to serve first: the server
// sees only Reads that would wait. A request that arrives in the instant
// between the check and the close is lost, as with net/http; clients retry
// idempotent requests on a closed keep-alive connection. Two limits follow
// from the rule: a handler that writes before it has read a whole request
// (an interim reply such as HTTP's 100 Continue, the server's half of a
// TLS handshake) looks idle while it waits for the rest, and a handler
// that waits for anything but a Read of its connection (a subscription
// pushing messages, a long poll) never looks idle; tell those with
// RegisterOnShutdown.
//
// # Ready mode
//
// An idle connection holds no task and no stack: a read hook is armed on
// its descriptor (sched.FD.SetReadHook). When the connection becomes
// readable a pooled task calls Ready(c), which may block as it likes (read
// the rest of a request, write the reply). Ready returning nil puts the
// connection back to idle — or, if input is already waiting, calls Ready
// again at once in the same task (yielding to other tasks every 16 calls);
// an error (io.EOF included) closes it. Whether input waits is known for
// free after a read that came up short; after one that filled its buffer
// it costs one MSG_PEEK system call. Ready must consume what it is given: data it leaves buffered in user
// space (a bufio.Reader kept with SetValue) is not seen as input waiting,
// so Ready should serve every request it has buffered before returning.
//
// In ready mode the server owns the deadlines: while the connection is
// idle its read deadline is now+IdleTimeout (or ReadTimeout if IdleTimeout
// is zero, as in net/http; none if both are zero), and an idle connection
// whose deadline passes is closed. At the start of each Ready call the read
// deadline becomes now+ReadTimeout (none if zero) and, if WriteTimeout is
// set, the write deadline now+WriteTimeout.
//
// # Limits and faults
//
// With MaxConns > 0 a scheduler serves at most MaxConns connections at
// once: a connection accepted above the limit is closed at once (its
// client reads end of stream, or a reset if it had sent data), so that
// clients are refused promptly rather than left waiting in the kernel's
// accept queue. The limit is per scheduler, like nginx's
// worker_connections: a server on a Group of n schedulers serves up to
// n×MaxConns, and no count is shared between threads.
//
// A panic in Handler or Ready is recovered in its task, logged with its
// stack and the remote address, and closes that connection only. An
// accept error never stops the server unless the listener is closed: after
// EMFILE, ENFILE, ENOBUFS, ENOMEM and the like the accept loop logs (at
// most once a second) and backs off, 5 ms doubling up to 1 s.
//
// # Threading
//
// Everything a connection does runs on its scheduler's thread with no
// lock; Serve, Shutdown, Close and Stats may be called from any goroutine.
// The hooks (ConnState) and the logger run on the scheduler's thread and
// must not block it. A Server must not be copied after first use.
type Server struct {
	// Handler serves a connection in task mode.
	Handler func(c *Conn)

	// Ready serves a readable connection in ready mode.
	Ready func(c *Conn) error

	// MaxConns bounds the connections each scheduler serves at once; 0
	// means no limit.
	MaxConns int

	// IdleTimeout closes a ready-mode connection idle this long; 0 falls
	// back to ReadTimeout. It does not apply in task mode. Input that
	// came in time is served even if the server handles the deadline
	// late (its thread held, its process stopped).
	IdleTimeout time.Duration

	// ReadTimeout and WriteTimeout set the connection's deadlines: once
	// before Handler in task mode, at every Ready call in ready mode.
	ReadTimeout, WriteTimeout time.Duration

	// Logger receives handler panics and accept errors; nil means
	// log.Default().
	Logger *log.Logger

	// ConnState, if not nil, is called on the connection's scheduler
	// thread when a connection changes state. It must not block.
	ConnState func(c *Conn, state ConnState)

	// ProxyProtocol, if not nil, has connections from trusted proxies
	// begin with a PROXY protocol header, read in the connection's task
	// before Handler or Ready first runs (see ProxyProtocol).
	ProxyProtocol *ProxyProtocol

	// BaseContext, if not nil, returns the context of the connections
	// of l, as net/http's does; it is called once per Serve, on l's
	// scheduler thread, and must not return nil. ConnContext, if not
	// nil, derives a connection's context from it, as net/http's does;
	// it is called on the connection's scheduler thread for each
	// connection just after its accept (before a PROXY header is read),
	// and must neither block nor return nil. With either set, Handler
	// (or each Ready call) runs under the connection's context, bound
	// with sched.BindContext: sched.Context returns it, and its end
	// interrupts the handler's blocking calls (Read, Write...) with an
	// error matching the context's error and cause. A ready-mode
	// connection waiting idle sees the end when it next becomes
	// readable. With neither set, a connection costs nothing for them.
	BaseContext func(l *Listener) context.Context
	ConnContext func(ctx context.Context, c *Conn) context.Context

	closing  atomic.Bool // Shutdown or Close has begun
	draining atomic.Bool // Drain has begun (see drain.go)

	mu         sync.Mutex
	onShutdown []func()
	listeners  map[*Listener]*servedListener
	shards     map[*sched.Scheduler]*shard
	order      []*shard // shards in creation order, for Stats and Shutdown
}

// A ConnState is a stage in the life of a connection served by a Server,
// reported to Server.ConnState.
type ConnState int

const (
	// StateNew: just accepted, before anything ran for it.
	StateNew ConnState = iota
	// StateActive: Handler or Ready is running for it.
	StateActive
	// StateIdle: ready mode, waiting to become readable, with no task.
	StateIdle
	// StateClosed: closed; the last state.
	StateClosed
)

func (st ConnState) String() string {
	switch st {
	case StateNew:
		return "new"
	case StateActive:
		return "active"
	case StateIdle:
		return "idle"
	case StateClosed:
		return "closed"
	}
	return "ConnState(" + strconv.Itoa(int(st)) + ")"
}

// ServerStats is a snapshot of a Server's counters, summed over its
// schedulers.
type ServerStats struct {
	Accepted     uint64 // connections accepted, refused ones included
	Refused      uint64 // connections closed at once because MaxConns was reached
	AcceptErrors uint64 // accept calls that failed and were retried after a back-off
	Panics       uint64 // panics recovered from Handler or Ready
	Active       int    // connections being served now

	// With ProxyProtocol set: connections closed at once because their
	// source is not trusted, and trusted connections closed because their
	// PROXY header was missing, malformed or late.
	ProxyRefused, ProxyFailed uint64
}

// Serve accepts connections on l and serves them on l's scheduler until
// Shutdown or Close, then returns ErrServerClosed; if l is closed or fails
// otherwise, Serve returns that error. Connections already accepted are
// not affected by Serve returning: Shutdown and Close end them. Serve
// always closes l before it returns.
//
// Called from a task of l's scheduler, Serve runs the accept loop in that
// task. From any other goroutine it runs the loop in a new task of l's
// scheduler and blocks until it ends; the scheduler must be running, or
// be run, for anything to happen. To serve from the start of a program,
// start Serve in a task before Run:
//
//	s.Go(func() { srv.Serve(l) })
//	s.Run()
func (srv *Server) Serve(l *Listener) error {
	if l == nil {
		return errors.New("netio: Serve with a nil Listener")
	}
	if !l.ok() {
		return errors.New("netio: Serve with a Listener not made by Listen")
	}
	if err := srv.validate(); err != nil {
		l.Close()
		return err
	}
	if srv.closing.Load() {
		l.Close()
		return ErrServerClosed
	}
	s := l.Scheduler()
	if t := sched.Current(); t != nil && t.Scheduler() == s {
		return srv.serve(l)
	}
	var err error
	if derr := s.Do(func() { err = srv.serve(l) }); derr != nil {
		l.Close()
		return derr
	}
	return err
}

// Serve serves the connections of l with handler in task mode until l is
// closed; see Server.Serve.
func Serve(l *Listener, handler func(*Conn)) error {
	srv := &Server{Handler: handler}
	return srv.Serve(l)
}

func (srv *Server) validate() error {
	if (srv.Handler == nil) == (srv.Ready == nil) {
		return errors.New("netio: Server needs exactly one of Handler and Ready")
	}
	if srv.MaxConns < 0 || srv.IdleTimeout < 0 || srv.ReadTimeout < 0 || srv.WriteTimeout < 0 {
		return errors.New("netio: Server with a negative limit or timeout")
	}
	if srv.ProxyProtocol != nil {
		return srv.ProxyProtocol.validate()
	}
	return nil
}

// Shutdown stops the server gracefully: it closes the listeners first (new
// connections are refused from then on), closes idle ready-mode
// connections, and waits for the others to finish — a task-mode handler
// to return, a ready-mode connection its current Ready call. If ctx ends
// first, Shutdown closes every remaining connection, as Close does, and
// returns ctx.Err(). Otherwise it returns the error of closing a listener,
// if any.
//
// A task-mode handler waiting idle for a next request is ended: its Read
// fails with ErrServerClosed (see Server for what counts as idle). One
// answering a request finishes it first, and ends when it next waits.
//
// Shutdown may be called from any goroutine; from a task it parks the
// task. Called from a Handler, it waits for that handler too: start it in
// a goroutine of its own instead.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.closing.Store(true)
	srv.mu.Lock()
	for _, f := range srv.onShutdown {
		go f()
	}
	srv.mu.Unlock()
	lerr := srv.closeListeners()
	shards := srv.shardList()
	for _, sh := range shards {
		t := sh.s.Go(sh.beginShutdown)
		go func() {
			// A scheduler that has finished runs nothing more: it has
			// nothing left to wait for either.
			if errors.Is(t.Wait(), sched.ErrStopped) {
				sh.markDone()
			}
		}()
	}
	wait := func() error {
		for _, sh := range shards {
			select {
			case <-sh.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	var err error
	if sched.Current() != nil {
		// A task must not block its scheduler's thread on a channel.
		sched.Offload(func() { err = wait() })
	} else {
		err = wait()
	}
	if err != nil {
		srv.Close()
		return err
	}
	return lerr
}

// RegisterOnShutdown registers f to be called, on a goroutine of its own,
// when Shutdown begins, as net/http's Server does. Shutdown ends the
// handlers waiting in Read for a next request by itself; a handler parked
// in anything else (a subscription, a long poll, a Sleep) needs f to tell
// it (Task.Interrupt, a deadline, a message). f should start the
// handlers' shutdown, not wait for it.
func (srv *Server) RegisterOnShutdown(f func()) {
	srv.mu.Lock()
	srv.onShutdown = append(srv.onShutdown, f)
	srv.mu.Unlock()
}

// Close closes the listeners and every connection at once: blocked reads
// and writes of the handlers return errors matching net.ErrClosed. It
// returns the error of closing a listener, if any. It may be called from
// any goroutine.
func (srv *Server) Close() error {
	srv.closing.Store(true)
	err := srv.closeListeners()
	for _, sh := range srv.shardList() {
		sh.s.Do(sh.closeAll) // ErrStopped: the scheduler is gone, and its tasks
	}
	return err
}

// Stats returns the server's counters. It may be called from any
// goroutine.
func (srv *Server) Stats() ServerStats {
	var st ServerStats
	for _, sh := range srv.shardList() {
		st.Accepted += sh.accepted.Load()
		st.Refused += sh.refused.Load()
		st.AcceptErrors += sh.acceptErrors.Load()
		st.Panics += sh.panics.Load()
		st.Active += int(sh.active.Load())
		st.ProxyRefused += sh.proxy.refused.Load()
		st.ProxyFailed += sh.proxy.failed.Load()
	}
	return st
}

// A servedListener is a listener a Serve call owns. Serve closes it when
// it returns and Shutdown when it begins, whichever comes first: a CAS
// rather than a sync.Once, because the loser must not wait — the close
// runs on the listener's scheduler thread, which may be the loser's.
type servedListener struct {
	l      *Listener
	closed atomic.Bool
}

func (e *servedListener) close() error {
	if !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := e.l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// closeListeners closes the listeners being served. Never under srv.mu:
// a close waits for the listener's scheduler thread, which may itself be
// waiting for srv.mu.
func (srv *Server) closeListeners() error {
	srv.mu.Lock()
	ls := make([]*servedListener, 0, len(srv.listeners))
	for _, e := range srv.listeners {
		ls = append(ls, e)
	}
	srv.mu.Unlock()
	var first error
	for _, e := range ls {
		if err := e.close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (srv *Server) shardList() []*shard {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]*shard(nil), srv.order...)
}

// serve runs the accept loop for l, on l's scheduler thread.
func (srv *Server) serve(l *Listener) error {
	sh, e := srv.register(l)
	if sh == nil {
		l.Close()
		return ErrServerClosed
	}
	defer func() {
		e.close()
		srv.mu.Lock()
		delete(srv.listeners, l)
		srv.mu.Unlock()
	}()
	var base context.Context
	if srv.BaseContext != nil {
		if base = srv.BaseContext(l); base == nil {
			panic("netio: Server.BaseContext returned a nil context")
		}
	}
	return sh.acceptLoop(l, base)
}

// register records l as served and returns the shard of its scheduler, or
// nil once the server is closing. The check is under srv.mu, as is
// Shutdown's listing of listeners and shards after it sets closing: a
// listener is either listed or refused here.
func (srv *Server) register(l *Listener) (*shard, *servedListener) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.closing.Load() {
		return nil, nil
	}
	if srv.listeners == nil {
		srv.listeners = make(map[*Listener]*servedListener)
		srv.shards = make(map[*sched.Scheduler]*shard)
	}
	e := &servedListener{l: l}
	srv.listeners[l] = e
	s := l.Scheduler()
	sh := srv.shards[s]
	if sh == nil {
		sh = &shard{srv: srv, s: s, done: make(chan struct{}), kick: sched.NewChan[struct{}](1)}
		sh.runReady = sh.readyTask()
		srv.shards[s] = sh
		srv.order = append(srv.order, sh)
	}
	return sh, e
}

func (srv *Server) logf(format string, args ...any) {
	l := srv.Logger
	if l == nil {
		l = log.Default()
	}
	l.Printf(format, args...)
}

// idleTimeout is the read deadline of an idle ready-mode connection.
func (srv *Server) idleTimeout() time.Duration {
	if srv.IdleTimeout > 0 {
		return srv.IdleTimeout
	}
	return srv.ReadTimeout
}

// A shard is the part of a Server that lives on one scheduler: its
// connections, its accept loops, its counters. Apart from the counters and
// done, it belongs to the scheduler's thread, which needs no lock for it:
// nothing on the hot path is shared between threads.
type shard struct {
	srv *Server
	s   *sched.Scheduler

	// On the scheduler thread.
	sessions   sessionList
	loops      int                  // accept loops running
	quit       sched.Chan[struct{}] // closed when the server closes: wakes back-off sleeps and the keeper
	quitDone   bool
	keeper     bool                  // a keeper task runs
	abandoning bool                  // the scheduler is ending: start no task
	kick       *sched.Chan[struct{}] // wakes the keeper when the last connection ends
	lastLog    time.Time             // last accept error logged
	unlogged   int                   // accept errors not logged since

	// Ready mode: readable connections waiting for their task, in the
	// order they became readable (queueReady), and the function of those
	// tasks, made once for the shard (runReady).
	readyHead, readyTail *session
	runReady             func()
	peek                 [1]byte // moreInput's buffer

	// Closed when the shard has drained after Shutdown began.
	done     chan struct{}
	doneOnce sync.Once

	// Written on the scheduler thread, read by Stats.
	accepted, refused, acceptErrors, panics atomic.Uint64
	active                                  atomic.Int64
	proxy                                   proxyCounters
}

// acceptLoop accepts connections on l until the server closes or l fails.
func (sh *shard) acceptLoop(l *Listener, base context.Context) error {
	srv := sh.srv
	sh.loops++
	normal := false
	defer func() {
		sh.loops--
		if !normal {
			// The task is unwinding because the scheduler is ending:
			// connections with no task of their own must not outlive it.
			sh.abandon()
			return
		}
		sh.loopEnded()
	}()
	var delay time.Duration
	for {
		c, err := l.AcceptConn()
		if err != nil {
			switch {
			case srv.closing.Load():
				normal = true
				return ErrServerClosed
			case errors.Is(err, sched.ErrInterrupted):
				// The scheduler is stopping (Scheduler.Stop): let go of
				// the connections that hold no task.
				sh.closeAll()
				normal = true
				return err
			case errors.Is(err, net.ErrClosed):
				normal = true
				return err
			}
			// EMFILE, ENFILE, ENOBUFS, ENOMEM, a listener deadline...:
			// the listener stays good, so try again after a pause. The
			// listener stays readable, so the retry needs no new edge.
			delay = min(max(2*delay, acceptDelayMin), acceptDelayMax)
			sh.acceptFailed(l, err, delay)
			if _, serr := sched.SelectTimeout(delay, sh.quit.RecvCase(nil)); errors.Is(serr, sched.ErrInterrupted) {
				sh.closeAll()
				normal = true
				return serr
			}
			continue
		}
		delay = 0
		sh.accepted.Add(1)
		if srv.closing.Load() {
			c.Close()
			normal = true
			return ErrServerClosed
		}
		if srv.MaxConns > 0 && sh.sessions.n >= srv.MaxConns {
			sh.refused.Add(1)
			c.Close()
			continue
		}
		sh.start(c, base)
	}
}

// acceptFailed counts an accept error and logs it, at most once a second.
func (sh *shard) acceptFailed(l *Listener, err error, delay time.Duration) {
	sh.acceptErrors.Add(1)
	now := time.Now()
	if !sh.lastLog.IsZero() && now.Sub(sh.lastLog) < time.Second {
		sh.unlogged++
		return
	}
	more := ""
	if sh.unlogged > 0 {
		more = fmt.Sprintf(" (%d more since the last report)", sh.unlogged)
	}
	sh.lastLog, sh.unlogged = now, 0
	sh.srv.logf("netio: accept error on %v: %v; retrying in %v%s", l.Addr(), err, delay, more)
}

// loopEnded runs when an accept loop returns normally.
func (sh *shard) loopEnded() {
	if sh.loops > 0 {
		return
	}
	if sh.srv.closing.Load() {
		// Do it now rather than wait for Shutdown's task: idle ready-mode
		// connections hold no task, so with the last accept loop gone the
		// scheduler's Run could return before that task arrives.
		sh.beginShutdown()
		return
	}
	if sh.srv.Ready != nil && sh.sessions.n > 0 && !sh.keeper {
		// The listener was closed, not the server: the idle ready-mode
		// connections hold no task, and without one the scheduler's Run
		// would return under them.
		sh.keeper = true
		sh.s.Go(sh.keep)
	}
}

// keep is the keeper task: it holds the scheduler while ready-mode
// connections remain and no accept loop runs. Its long timeout only keeps
// the scheduler from reporting a deadlock: the waits it ends are woken
// through quit and kick.
func (sh *shard) keep() {
	normal := false
	defer func() {
		sh.keeper = false
		if !normal {
			sh.abandon()
		}
	}()
	for sh.sessions.n > 0 && sh.loops == 0 && !sh.srv.closing.Load() {
		_, err := sched.SelectTimeout(time.Hour, sh.quit.RecvCase(nil), sh.kick.RecvCase(nil))
		if errors.Is(err, sched.ErrInterrupted) {
			sh.closeAll() // the scheduler is stopping
			break
		}
	}
	normal = true
}

// kickKeeper wakes the keeper; it runs as a task (Chan needs one).
func (sh *shard) kickKeeper() { sh.kick.TrySend(struct{}{}) }

// start begins serving c, whose session is ss (zero); base is the
// context of its listener, or nil with no BaseContext.
func (sh *shard) start(c *Conn, base context.Context) {
	var ctx context.Context
	if base != nil || sh.srv.ConnContext != nil {
		ctx = sh.srv.connContext(base, c)
	}
	needProxy := false
	if sh.srv.ProxyProtocol != nil {
		var serve bool
		if serve, needProxy = sh.proxyAdmit(c); !serve {
			c.Close()
			return
		}
	}
	ss := &session{sh: sh, c: c, needProxy: needProxy}
	sh.sessions.push(ss)
	sh.active.Add(1)
	sh.setState(c, StateNew)
	if sh.srv.Ready != nil {
		ss.hook = readHook(sh.srv, sh, ss)
		if ctx != nil {
			ss.run = func() { underContext(ctx, ss.serveReady) }
		}
		if needProxy {
			ss.armProxy() // the header comes first, under its own timeout
			return
		}
		ss.arm()
		return
	}
	if ctx != nil {
		sh.s.Spawn(func() { underContext(ctx, ss.serveTask) })
		return
	}
	sh.s.Spawn(ss.serveTask) // no handle needed: Spawn recycles the task
}

func (sh *shard) setState(c *Conn, st ConnState) {
	if h := sh.srv.ConnState; h != nil {
		h(c, st)
	}
}

// untrack forgets an ended session.
func (sh *shard) untrack(ss *session) {
	sh.sessions.remove(ss)
	sh.active.Add(-1)
	if sh.sessions.n == 0 {
		if sh.keeper && !sh.abandoning {
			sh.s.Go(sh.kickKeeper) // untrack may run on the host loop, outside any task
		}
		sh.checkDone()
	}
}

// beginShutdown runs in a task when Shutdown begins: idle ready-mode
// connections close now, busy ones when their Ready call returns; idle
// task-mode handlers are woken now, to find their Read failing with
// ErrServerClosed, and busy ones get the same error when they next wait
// for a request.
func (sh *shard) beginShutdown() {
	sh.closeQuit()
	for ss := sh.sessions.head; ss != nil; {
		next := ss.next
		switch {
		case sh.srv.Ready != nil:
			if !ss.busy {
				ss.end()
			}
		case !ss.c.shutIdle:
			ss.c.shutIdle = true
			if ss.c.readers > 0 && ss.c.idle() {
				// A deadline that has passed (now, on the scheduler's
				// clock, virtual or not) wakes the parked Read, as
				// net/http stops a background read; readWaitErr turns
				// it into ErrServerClosed.
				ss.c.fd.SetReadDeadline(sh.s.Now())
			}
		}
		ss = next
	}
	sh.checkDone()
}

// closeAll closes every connection at once; it runs in a task. Tasks
// blocked on them wake with errors and end their sessions; idle ready-mode
// sessions end now, through their hooks.
func (sh *shard) closeAll() {
	sh.closeQuit()
	for ss := sh.sessions.head; ss != nil; {
		next := ss.next
		ss.c.Close()
		ss = next
	}
	sh.checkDone()
}

// abandon closes every connection while the scheduler unwinds its tasks
// at the end of Run. Chan operations need a running task, so it leaves
// quit alone: nothing will wait on it again.
func (sh *shard) abandon() {
	sh.abandoning = true
	for ss := sh.sessions.head; ss != nil; {
		next := ss.next
		ss.end()
		ss = next
	}
	sh.markDone()
}

func (sh *shard) closeQuit() {
	if !sh.quitDone {
		sh.quitDone = true
		sh.quit.Close()
	}
}

// checkDone marks the shard drained once the server is closing and no
// connection or accept loop is left.
func (sh *shard) checkDone() {
	if sh.srv.closing.Load() && sh.loops == 0 && sh.sessions.n == 0 {
		sh.markDone()
	}
}

func (sh *shard) markDone() { sh.doneOnce.Do(func() { close(sh.done) }) }

// A session is one connection served by a shard. It is 64 bytes, one
// cache line: a ready-mode request finds it cold at thousands of
// connections (TestSessionLayout).
type session struct {
	sh         *shard
	c          *Conn
	prev, next *session
	rnext      *session // ready mode: the next in the shard's queue of readable connections
	busy       bool     // ready mode: a task runs Ready or is about to
	ended      bool
	needProxy  bool // a PROXY header is to be read first

	// Ready mode: the read hook, made once per connection so that arming
	// allocates nothing, and, for a connection with a context, what its
	// task runs (else serveReady).
	hook func(error)
	run  func()
}

// serveTask is a task-mode connection's task. The handler's panic is
// recovered here, in the same frame that ends the session: every frame
// below a parked handler is stack an idle connection keeps.
func (ss *session) serveTask() {
	defer func() {
		p := recover()
		ss.end()
		if p != nil {
			ss.sh.panicked(ss.c, p)
		}
	}()
	sh, srv, c := ss.sh, ss.sh.srv, ss.c
	if ss.needProxy && !ss.proxyHandshake(sh.s.Now().Add(srv.ProxyProtocol.timeout())) {
		return
	}
	if srv.ReadTimeout > 0 || srv.WriteTimeout > 0 {
		ss.setTimeouts()
	}
	sh.setState(c, StateActive)
	srv.Handler(c)
}

// setTimeouts sets the connection's deadlines from the server's timeouts.
// It is a function of its own, kept out of serveTask, whose frame stays
// on the stack of every parked handler.
//
//go:noinline
func (ss *session) setTimeouts() {
	srv, fd := ss.sh.srv, ss.c.fd
	now := ss.sh.s.Now()
	if srv.ReadTimeout > 0 {
		fd.SetReadDeadline(now.Add(srv.ReadTimeout))
	}
	if srv.WriteTimeout > 0 {
		fd.SetWriteDeadline(now.Add(srv.WriteTimeout))
	}
}

// panicked logs a recovered panic of a handler; the scheduler's unwinding
// goes on.
func (sh *shard) panicked(c *Conn, p any) {
	if sched.IsUnwind(p) {
		panic(p)
	}
	sh.panics.Add(1)
	sh.srv.logf("netio: panic serving %v: %v\n%s", c.RemoteAddr(), p, debug.Stack())
}

// arm puts a ready-mode connection to idle: no task, a read hook armed.
// It runs in a task (SetReadHook requires one).
func (ss *session) arm() {
	sh := ss.sh
	fd := ss.c.fd
	ss.busy = false
	ss.c.releaseReader() // an idle connection holds no buffer
	var deadline time.Time
	if d := sh.srv.idleTimeout(); d > 0 {
		deadline = sh.s.Now().Add(d)
	}
	// Also clears a deadline Ready set for itself. A deadline already
	// past makes SetReadHook report it at once.
	fd.SetReadDeadline(deadline)
	sh.setState(ss.c, StateIdle)
	fd.SetReadHook(ss.hook)
}

// readHook returns the read hook of ready-mode session ss (readable).
func readHook(srv *Server, sh *shard, ss *session) func(error) {
	return func(err error) { srv.readable(sh, ss, err) }
}

// readable is a ready-mode connection's read hook, for ss of shard sh. It
// runs on the scheduler thread — the host loop, or a task arming the hook
// — and must not block. The hook's closure holds the server and the shard
// beside the session (32 bytes, a size class that never straddles two
// cache lines), so that the hook reads nothing from the session, whose
// line is cold at thousands of connections: queueReady only stores to it,
// which does not wait for the line, where loading ss.sh did (95% of the
// hook's time in a profile at 10,000 connections, about 100 ns a request).
func (srv *Server) readable(sh *shard, ss *session, err error) {
	if err != nil || srv.closing.Load() {
		// Idle too long, closed, or shutting down while idle. The idle
		// deadline fires only after the scheduler has looked at the
		// descriptors at or after it: input that came in time ran this
		// hook first, even when the thread was held past the deadline.
		ss.end()
		return
	}
	sh.queueReady(ss)
}

// queueReady starts the task of a readable ready-mode connection: the
// connection joins the shard's queue, and the task, a recycled one that
// runs the shard's runReady (one function for all the shard's
// connections), takes the first in the queue. A closure per connection
// would be one more cold cache line per request at thousands of
// connections; the queue's links are in the session, which the hook has
// just touched. Every queued connection has a task of its own: one whose
// Ready call blocks holds up no other.
func (sh *shard) queueReady(ss *session) {
	ss.busy = true
	if sh.readyTail == nil {
		sh.readyHead = ss
	} else {
		sh.readyTail.rnext = ss
	}
	sh.readyTail = ss
	sh.s.Spawn(sh.runReady) // a recycled task: a request allocates no task
}

// readyTask returns the function of the tasks queueReady starts
// (runReady): each serves the first connection in the queue. There are as
// many such tasks not yet started as connections in the queue, and each
// takes one. It is a closure of the shard, not the method value of a
// function that does this, and it calls serveReady, which recovers
// Ready's panics itself: every frame that stands below Ready's read and
// write costs a mispredicted return a request once the system call is
// back (see sys_linux.go), so the frames from the scheduler's worker loop
// to Ready are this closure, serveReady and Ready's own.
func (sh *shard) readyTask() func() {
	return func() {
		ss := sh.nextReady()
		if ss == nil {
			return // cannot happen: one task per queued connection
		}
		if ss.run != nil {
			ss.run()
			return
		}
		ss.serveReady()
	}
}

// nextReady takes the first connection from the ready queue.
func (sh *shard) nextReady() *session {
	ss := sh.readyHead
	if ss == nil {
		return nil
	}
	sh.readyHead, ss.rnext = ss.rnext, nil
	if sh.readyHead == nil {
		sh.readyTail = nil
	} else {
		prefetchReady(sh.readyHead)
	}
	return ss
}

// prefetchReady asks the CPU (asm.Prefetch) for what the tasks behind
// this one in the ready queue will touch first, h being the next: its
// descriptor, the line of the Conn of the one after it, the session of
// the one after that. Each address is in a line asked for one task
// earlier: at thousands of connections these are cold lines that each
// request otherwise waits for, as the kernel's work for the requests
// between pushes out what the read hooks touched.
func prefetchReady(h *session) {
	if c := h.c; c != nil {
		asm.Prefetch(uintptr(unsafe.Pointer(c.fd)), 1)
	}
	n := h.rnext
	if n == nil {
		return
	}
	asm.Prefetch(uintptr(unsafe.Pointer(n.c)), 1)
	if n = n.rnext; n != nil {
		asm.Prefetch(uintptr(unsafe.Pointer(n)), 1)
	}
}

// serveReady is the task a readable ready-mode connection gets. A panic
// of Ready is recovered here (logged, the connection closed), in this
// frame rather than one of its own around the call: see readyTask.
func (ss *session) serveReady() {
	sh, srv, c := ss.sh, ss.sh.srv, ss.c
	fd := c.fd
	normal := false
	defer func() {
		if normal {
			return
		}
		p := recover()
		if p != nil && !sched.IsUnwind(p) {
			sh.panicked(c, p) // logged, then the connection closed
			ss.end()
			return
		}
		ss.end() // unwinding at the end of Run
		if p != nil {
			panic(p)
		}
	}()
	if ss.needProxy {
		if !ss.proxyHandshake(time.Time{}) || srv.closing.Load() {
			normal = true
			ss.end()
			return
		}
		if !ss.moreInput() {
			normal = true
			ss.arm() // the header came alone: idle until the first request
			return
		}
	}
	for runs := 1; ; runs++ {
		if srv.ReadTimeout > 0 {
			fd.SetReadDeadline(sh.s.Now().Add(srv.ReadTimeout))
		} else if srv.IdleTimeout > 0 {
			fd.SetReadDeadline(time.Time{}) // the idle deadline does not bound Ready
		}
		if srv.WriteTimeout > 0 {
			fd.SetWriteDeadline(sh.s.Now().Add(srv.WriteTimeout))
		}
		sh.setState(c, StateActive)
		err := srv.Ready(c)
		if err != nil || srv.closing.Load() || errors.Is(fd.CheckRead(), net.ErrClosed) {
			normal = true
			ss.end()
			return
		}
		if !ss.moreInput() {
			break
		}
		if runs%readyBurst == 0 {
			sched.Yield()
		}
	}
	normal = true
	ss.arm()
}

// moreInput reports whether input waits after a Ready call. The FD's
// flag says only that the last read did not come up short; then a peek
// tells, for one system call, whether the hook or another Ready call is
// due — else an idle connection would hold its task in a read.
func (ss *session) moreInput() bool {
	fd := ss.c.fd
	if !fd.Readable() {
		return false
	}
	if !peekEmpty(ss.c.sysfd, ss.sh.peek[:]) {
		return true // data, end of stream or an error: Ready sees which
	}
	fd.ClearReadable()
	return false
}

// end closes the session's connection and forgets it, once. It runs on the
// scheduler thread, in a task or in a hook.
func (ss *session) end() {
	if ss.ended {
		return
	}
	ss.ended = true
	ss.c.Close() // in ready mode, fires the hook if armed: readable sees ended
	ss.c.releaseReader()
	sh := ss.sh
	sh.untrack(ss)
	sh.setState(ss.c, StateClosed)
}

// sessionList is an intrusive list of the live sessions of a shard.
type sessionList struct {
	head *session
	n    int
}

func (l *sessionList) push(ss *session) {
	ss.prev = nil
	ss.next = l.head
	if l.head != nil {
		l.head.prev = ss
	}
	l.head = ss
	l.n++
}

func (l *sessionList) remove(ss *session) {
	if ss.prev != nil {
		ss.prev.next = ss.next
	} else {
		l.head = ss.next
	}
	if ss.next != nil {
		ss.next.prev = ss.prev
	}
	ss.prev, ss.next = nil, nil
	l.n--
}
