package prefork

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// A Worker is the pool as seen from inside one worker process: its slot
// and generation, its scheduler group, its listeners, and the master's
// requests to drain. Run makes it and passes it to Config.Serve.
type Worker struct {
	cfg       *Config
	slot, gen int
	id        int
	group     *sched.Group
	listeners map[string][]*netio.Listener
	order     []*netio.Listener // every listener, for Serve and drains
	page      *page
	connLimit uint64 // accepted connections after which to ask for a recycle; 0: none
	send      func(msg string)
	logger    *log.Logger

	readyOnce sync.Once
	drainOnce sync.Once
	draining  atomic.Bool
	retiring  atomic.Bool   // the slot is being removed: empty the accept queues first
	immediate atomic.Bool   // close connections at once instead of draining
	done      chan struct{} // closed when the worker is asked to stop
}

// Slot returns the worker's slot, 0 ≤ slot < the pool's size: the index
// of the listening sockets it serves in ReusePort mode.
func (w *Worker) Slot() int { return w.slot }

// Generation returns the generation the worker belongs to: 1 at start,
// one more at every reload (and after a binary upgrade).
func (w *Worker) Generation() int { return w.gen }

// Group returns the worker's schedulers: Config.Cores of them, running.
func (w *Worker) Group() *sched.Group { return w.group }

// Listeners returns the listeners of the Listen named name (its Address
// if it has no Name), one per scheduler: the i-th is served by
// Group().Scheduler(i). It returns nil for an unknown name.
func (w *Worker) Listeners(name string) []*netio.Listener { return w.listeners[name] }

// Logger returns the pool's logger.
func (w *Worker) Logger() *log.Logger { return w.logger }

// Ready tells the master that the worker serves: only then does it count
// towards the pool's capacity, and only then is its predecessor in the
// slot drained. Serve calls it; a worker with accept loops of its own
// calls it once they run. Later calls do nothing.
func (w *Worker) Ready() {
	w.readyOnce.Do(func() { w.send(msgReady) })
}

// Done returns a channel closed when the master asks the worker to stop:
// a reload, a recycle, a scale-down, a stop, or the master's death.
// Serve watches it; a worker with accept loops of its own stops
// accepting when it is closed, finishes its connections within
// Config.DrainTimeout, and returns from Config.Serve.
func (w *Worker) Done() <-chan struct{} { return w.done }

// Draining reports whether the worker has been asked to stop. A
// keep-alive protocol answers its next request with its way of saying
// that the connection closes (HTTP's "Connection: close") and closes it,
// so that no request of the client races the close; a health endpoint
// fails. With Config.StopDelay, a stopping pool's workers report true
// for that long before they stop accepting (and before the server's own
// Draining does). When the pool stops, the master marks every worker
// (in the memory they share) before it sends any worker its order, so
// the workers report true together rather than each when it reads its
// order: once one has failed a health check, a kept-alive request to any
// other is told to close. It costs one or two atomic loads.
func (w *Worker) Draining() bool {
	return w.draining.Load() || (w.page != nil && w.page.stopping.Load() != 0)
}

// ConnOpened and ConnClosed count a connection of an accept loop of the
// worker's own, for the status, the recycling by connections and the
// adaptive pool's LoadConns; Serve counts its connections itself.
func (w *Worker) ConnOpened() {
	n := w.page.accepted.Add(1)
	w.page.active.Add(1)
	if w.connLimit > 0 && n == w.connLimit {
		w.send(msgRecycle)
	}
}

// ConnClosed counts the end of a connection that ConnOpened counted.
func (w *Worker) ConnClosed() { w.page.active.Add(-1) }

// drain begins the worker's stop: it is called once, for the master's
// request, SIGTERM or the end of the worker.
func (w *Worker) drain(immediate, retire bool) {
	if immediate {
		w.immediate.Store(true)
	}
	if retire {
		w.retiring.Store(true)
	}
	w.drainOnce.Do(func() {
		w.draining.Store(true)
		close(w.done)
	})
}

// Serve serves every listener of the worker with srv — each on its
// scheduler, as srv.ServeGroup does — tells the master the worker is
// ready, and returns nil once the worker has been asked to stop and has
// drained: it closes its listeners (the master keeps the sockets, so
// connections queued there are taken by the worker's successor), lets
// its connections finish for up to Config.DrainTimeout — Draining and
// srv.Draining report true meanwhile — then closes what remains
// (srv.Drain, which ends in srv.Shutdown). With
// Config.ReloadImmediate, or on an immediate stop, it closes them at
// once. If a listener fails, Serve returns that error.
//
// Serve counts srv's connections (through srv.ConnState, whose previous
// value it calls too) for the status, recycling and the adaptive pool.
func (w *Worker) Serve(srv *netio.Server) error {
	user := srv.ConnState
	srv.ConnState = func(c *netio.Conn, st netio.ConnState) {
		switch st {
		case netio.StateNew:
			w.ConnOpened()
		case netio.StateClosed:
			w.ConnClosed()
		}
		if user != nil {
			user(c, st)
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeGroup(w.order) }()
	w.Ready()
	select {
	case err := <-served:
		if !w.Draining() {
			return fmt.Errorf("prefork: serving: %w", err)
		}
		// The server ended while the worker drains (in a stop delay,
		// say): the drain goes on, and its wait for the end below must
		// find this one.
		served <- err
	case <-w.done:
	}
	if w.retiring.Load() {
		w.waitQueuesEmpty(time.Second)
	}
	for _, l := range w.order {
		l.Close()
	}
	w.send(msgClosed)
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, netio.ErrServerClosed) {
		w.logger.Printf("prefork: worker %d (slot %d): serving ended with %v", os.Getpid(), w.slot, err)
	}
	if w.immediate.Load() {
		return srv.Close()
	}
	// srv.Drain makes srv.Draining report true at once (a keep-alive
	// protocol closes after its next reply), and shuts the server down
	// when the drain time is up, if its connections have not all ended
	// by then.
	deadline := time.Now().Add(w.cfg.DrainTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- srv.Drain(ctx, time.Until(deadline)) }()
	for srv.Stats().Active > 0 && !w.immediate.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	switch {
	case w.immediate.Load():
		return srv.Close()
	case srv.Stats().Active == 0:
		return nil
	}
	if err := <-drained; err != nil {
		w.logger.Printf("prefork: worker %d (slot %d): drain: %v; the remaining connections were closed", os.Getpid(), w.slot, err)
	}
	return nil
}

// Messages between the master and a worker, one per datagram of their
// socket pair.
const (
	msgReady     = "ready"      // worker: serving
	msgRecycle   = "recycle"    // worker: reached its connection limit
	msgDumped    = "dumped"     // worker: its dump is written
	msgClosed    = "closed"     // worker: its listeners are closed, it accepts no more
	msgDrain     = "drain"      // master: stop accepting, finish, exit
	msgRetire    = "retire"     // master: as drain, after emptying the slot's accept queues
	msgStopLater = "stop-later" // master: the pool stops: Draining now, drain after Config.StopDelay
	msgStop      = "stop"       // master: close everything and exit now
	msgDump      = "dump"       // master: write a dump of every goroutine to the log
)

// workerEnv names the environment variable that makes a process a worker
// and tells it its place in the pool (a workerSpec in JSON on Linux).
const workerEnv = "COOP_PREFORK_WORKER"

// startedAsWorker is read once, before main: Run removes the variable
// from the worker's environment, so that the user's own child processes
// do not see it.
var startedAsWorker = os.Getenv(workerEnv) != ""

// IsWorker reports whether this process was started by a pool's master
// as a worker: Run, called here, becomes the worker and never returns.
// Code before Run that only the master should run (start-up work,
// banners, measurements of the whole pool) checks it; so does code that
// must tell a worker from the master after Run, outside Config.Serve.
// A new master started by a binary upgrade is not a worker.
func IsWorker() bool { return startedAsWorker }
