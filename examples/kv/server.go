package main

import (
	"errors"
	"hash/maphash"
	"log"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// config is what the flags set.
type config struct {
	maxClients int
	maxArgs    int
	maxBulk    int
	maxQuery   int
	maxOutput  int
	idle       time.Duration
	verbose    bool
	proxy      *netio.ProxyProtocol // -proxy-protocol; nil without
	// shared (-shared mutex): with several schedulers, one store that
	// all of them use under a sync.Mutex, in place of a shard each and
	// forwarding. It exists to measure the two designs side by side.
	shared bool
}

// A server is the key-value server: its shards, one per scheduler, and
// what the connections share across them.
type server struct {
	cfg    config
	log    *log.Logger
	shards []*shard
	bySch  map[*sched.Scheduler]*shard // read-only once serving
	seed   maphash.Seed
	// mu guards the one store every shard points to with -shared mutex;
	// unused (and never taken) otherwise.
	mu sync.Mutex

	clients  atomic.Int64 // connected clients, for -maxclients (as Redis, a total over all threads)
	ids      atomic.Uint64
	stopping atomic.Bool
}

// A shard is the part of the key space one scheduler owns, and what its
// thread keeps for its connections. Only tasks of that scheduler touch
// it, so nothing in it has a lock.
type shard struct {
	s       *sched.Scheduler
	st      *store
	clients map[*client]struct{}
}

func newServer(cfg config, logger *log.Logger, scheds []*sched.Scheduler) *server {
	srv := &server{cfg: cfg, log: logger, bySch: make(map[*sched.Scheduler]*shard), seed: maphash.MakeSeed()}
	var one *store
	if cfg.shared {
		one = newStore()
		scheds[0].Go(func() { one.sweeper(&srv.mu) })
	}
	for _, s := range scheds {
		sh := &shard{s: s, st: one, clients: make(map[*client]struct{})}
		if !cfg.shared {
			sh.st = newStore()
			s.Go(func() { sh.st.sweeper(nil) })
		}
		srv.shards = append(srv.shards, sh)
		srv.bySch[s] = sh
	}
	return srv
}

func (srv *server) logf(format string, args ...any) { srv.log.Printf(format, args...) }

// split reports whether the keys are split between shards: several
// schedulers, each owning its own (not -shared mutex).
func (srv *server) split() bool { return len(srv.shards) > 1 && !srv.cfg.shared }

// ownerOf returns the shard whose store holds key: with split keys, by a
// hash of the key, so that every key has exactly one owner and no store
// is shared between threads; else the client's own.
func (cl *client) ownerOf(key []byte) *shard {
	if !cl.srv.split() {
		return cl.home
	}
	return cl.srv.shards[maphash.Bytes(cl.srv.seed, key)%uint64(len(cl.srv.shards))]
}

// lock and unlock guard the shared store with -shared mutex; without it
// they do nothing: each store has one thread.
func (srv *server) lock() {
	if srv.cfg.shared {
		srv.mu.Lock()
	}
}

func (srv *server) unlock() {
	if srv.cfg.shared {
		srv.mu.Unlock()
	}
}

// connState tracks connections as the netio.Server reports them, on the
// connection's scheduler thread: it makes each one's client, and refuses
// clients over -maxclients the way Redis does, with an error reply before
// the close.
func (srv *server) connState(c *netio.Conn, state netio.ConnState) {
	switch state {
	case netio.StateNew:
		sh := srv.bySch[c.Scheduler()]
		cl := newClient(srv, sh, c)
		c.SetValue(cl)
		if srv.clients.Add(1) > int64(srv.cfg.maxClients) {
			srv.clients.Add(-1)
			cl.refused = true
			c.TryWrite([]byte("-ERR max number of clients reached\r\n")) // best effort, as Redis
			c.Close()
			return
		}
		cl.counted = true
		sh.clients[cl] = struct{}{}
	case netio.StateClosed:
		cl, _ := c.Value().(*client)
		if cl == nil || !cl.counted {
			return
		}
		cl.counted = false
		srv.clients.Add(-1)
		delete(cl.home.clients, cl)
	}
}

// wakeReaders makes every task-mode client that waits for its next
// command give up at once, for a graceful shutdown: a batch being
// answered is finished and written, and no new one is started.
func (srv *server) wakeReaders() {
	past := time.Unix(1, 0)
	for _, sh := range srv.shards {
		sh.s.Do(func() {
			for cl := range sh.clients {
				cl.c.SetReadDeadline(past)
			}
		})
	}
}

// configParams are the parameters CONFIG GET knows.
func (srv *server) configParams() [][2]string {
	return [][2]string{
		{"save", ""},
		{"appendonly", "no"},
		{"databases", "1"},
		{"maxclients", strconv.Itoa(srv.cfg.maxClients)},
		{"proto-max-bulk-len", strconv.Itoa(srv.cfg.maxBulk)},
		{"client-query-buffer-limit", strconv.Itoa(srv.cfg.maxQuery)},
		{"timeout", strconv.Itoa(int(srv.cfg.idle / time.Second))},
	}
}

// on runs fn with sh's store on sh's scheduler: directly if sh is the
// client's own shard (under the lock with -shared mutex), else through
// Scheduler.Do, which parks the client's task until the other thread has
// run fn. Commands of one client thus still run one after the other, in
// order.
func (cl *client) on(sh *shard, fn func(st *store)) {
	if sh == cl.home {
		cl.srv.lock()
		fn(sh.st)
		cl.srv.unlock()
		return
	}
	cl.doOn(sh, func() { fn(sh.st) })
}

// doOn runs fn on sh's scheduler through Scheduler.Do, the client's task
// parked meanwhile.
func (cl *client) doOn(sh *shard, fn func()) {
	if err := sh.s.Do(fn); err != nil {
		// The other scheduler has stopped: shutting down. The reply
		// stream can no longer be trusted.
		cl.srv.logf("client %s: shard %v: %v", cl.addr(), sh.s, err)
		cl.dropNow = true
	}
}

// eachShard runs fn on every shard, in turn.
func (cl *client) eachShard(fn func(st *store)) {
	if !cl.srv.split() {
		cl.on(cl.home, fn)
		return
	}
	for _, sh := range cl.srv.shards {
		cl.on(sh, fn)
	}
}

// byShard runs fn on every shard that owns some of keys[0], keys[step],
// keys[2*step]..., with the positions of its keys among them.
func (cl *client) byShard(keys [][]byte, step int, fn func(st *store, keys [][]byte, idx []int)) {
	n := 1
	if cl.srv.split() {
		n = len(cl.srv.shards)
	}
	if len(cl.idx) < n {
		cl.idx = make([][]int, n)
	}
	for i := range cl.idx {
		cl.idx[i] = cl.idx[i][:0]
	}
	if n == 1 {
		for i := 0; i < len(keys); i += step {
			cl.idx[0] = append(cl.idx[0], i)
		}
		cl.srv.lock()
		fn(cl.home.st, keys, cl.idx[0])
		cl.srv.unlock()
		return
	}
	for i := 0; i < len(keys); i += step {
		s := maphash.Bytes(cl.srv.seed, keys[i]) % uint64(n)
		cl.idx[s] = append(cl.idx[s], i)
	}
	for s, idx := range cl.idx[:n] {
		if len(idx) > 0 {
			cl.on(cl.srv.shards[s], func(st *store) { fn(st, keys, idx) })
		}
	}
}

// scratch returns n reply buffers for MGET's pieces.
func (cl *client) scratch(n int) []replies {
	if len(cl.vals) < n {
		cl.vals = append(cl.vals, make([]replies, n-len(cl.vals))...)
	}
	return cl.vals[:n]
}

// isReset reports a connection the peer reset or abandoned.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
