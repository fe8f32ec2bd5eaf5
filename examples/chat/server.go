package main

import (
	"log"
	"time"

	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// config is what the flags set.
type config struct {
	name        string        // the server's name, the prefix of its own messages
	network     string        // ISUPPORT NETWORK
	pass        string        // connection password (PASS); "" for none
	motd        []string      // message of the day; nil: ERR_NOMOTD
	idle        time.Duration // silence after which the server sends PING
	pongTimeout time.Duration // how long a PINGed client has to answer
	regTimeout  time.Duration // how long a connection may take to register
	sendQ       int           // most bytes queued for a client before it is dropped
	maxClients  int           // connections at once; more get ERROR and are closed
	maxChannels int           // channels one client may be in (CHANLIMIT)
	nickLen     int           // NICKLEN
	sndBuf      int           // SO_SNDBUF of each client's socket; 0: the system's

	// Flood control, as ircu and ngircd do it: every message adds
	// floodPenalty (more for long ones) to the client's flood clock,
	// which never runs behind the real one. While the flood clock is
	// more than floodBurst ahead, the client's input waits (it is slowed
	// down); input that piles up past recvQ bytes while it waits ends
	// the session with "Excess Flood". floodPenalty 0 turns it off.
	floodPenalty time.Duration
	floodBurst   time.Duration
	recvQ        int

	// flushDelay holds output back after the first line waiting, so that
	// the lines of several messages leave in one write per client: each
	// write costs about as much as its lines (see README, "Where the CPU
	// goes"). 0 writes once the commands that run now have run.
	flushDelay time.Duration
}

// maxLine is RFC 2812's limit on a message, CR LF included, in both
// directions.
const maxLine = 512

// A server is the IRC server's shared state: the nick table, the
// channels, every connection, and the buffers its clients borrow.
//
// There is no lock anywhere: every session runs on one scheduler, whose
// tasks run one at a time and switch only where they block (reading,
// writing, waiting for work). No command blocks between looking at the
// state and changing it, so each command is atomic with respect to every
// other session, as in a single-threaded event loop — but written as
// straight-line code per client.
type server struct {
	cfg       config
	log       *log.Logger
	s         *sched.Scheduler
	created   time.Time
	readyMode bool // ready mode: no task per idle client

	nicks    map[string]*client   // by folded nick, registered or not
	channels map[string]*channel  // by folded name
	clients  map[*client]struct{} // every connection not yet closed
	users    int                  // registered clients

	// Output: lines are appended to the recipients' buffers and the
	// flusher task writes them once the tasks that run now have run, so
	// that lines for one client from several senders leave in one write.
	dirty      []*client
	dirtySpare []*client
	kick       *sched.Chan[struct{}]
	flusher    *sched.Task
	sweeper    *sched.Task

	// Buffers lent to clients while they have input or output waiting:
	// an idle client holds none.
	inBufs, outBufs [][]byte

	msg      message // the command being run: commands never block
	scratch  []byte  // builds one fanned-out line at a time
	stopping bool
}

func newServer(cfg config, logger *log.Logger, s *sched.Scheduler, ready bool) *server {
	return &server{
		cfg:       cfg,
		log:       logger,
		s:         s,
		created:   time.Now(),
		readyMode: ready,
		nicks:     make(map[string]*client),
		channels:  make(map[string]*channel),
		clients:   make(map[*client]struct{}),
		kick:      sched.NewChan[struct{}](1),
	}
}

// start runs the server's own tasks: the flusher and the sweeper.
func (srv *server) start() {
	srv.flusher = srv.s.Go(srv.flushLoop)
	srv.sweeper = srv.s.Go(srv.sweepLoop)
}

// inBufSize holds two maximal lines, so that a full line always fits
// after a partial one has been moved to the front.
const inBufSize = 2 * maxLine

func (srv *server) getIn() []byte {
	if n := len(srv.inBufs); n > 0 {
		b := srv.inBufs[n-1]
		srv.inBufs = srv.inBufs[:n-1]
		return b
	}
	return make([]byte, 0, inBufSize)
}

// putIn keeps buffers of the usual size; one that grew while its client
// was slowed down goes to the garbage collector.
func (srv *server) putIn(b []byte) {
	if cap(b) == inBufSize && len(srv.inBufs) < 1024 {
		srv.inBufs = append(srv.inBufs, b[:0])
	}
}

const outBufSize = 2 << 10

func (srv *server) getOut() []byte {
	if n := len(srv.outBufs); n > 0 {
		b := srv.outBufs[n-1]
		srv.outBufs = srv.outBufs[:n-1]
		return b
	}
	return make([]byte, 0, outBufSize)
}

// putOut keeps buffers of the usual size; one that grew for a burst goes
// to the garbage collector.
func (srv *server) putOut(b []byte) {
	if cap(b) <= 8*outBufSize && len(srv.outBufs) < 1024 {
		srv.outBufs = append(srv.outBufs, b[:0])
	}
}

// markDirty has cl's output written by the flusher.
func (srv *server) markDirty(cl *client) {
	cl.dirty = true
	srv.dirty = append(srv.dirty, cl)
	if len(srv.dirty) == 1 {
		srv.kick.TrySend(struct{}{})
	}
}

// flushLoop is the flusher task. It is woken when the first client gets
// output, and runs after the tasks that were runnable then: the readers
// woken by one poll all run their commands before it writes, so a client
// that several of them talk to gets their lines in one system call, as an
// event loop writes its buffers at the end of a pass.
func (srv *server) flushLoop() {
	for {
		if _, err := srv.kick.Recv(); err != nil {
			return
		}
		if d := srv.cfg.flushDelay; d > 0 {
			// Lines queued meanwhile join the batch. An error here means
			// the scheduler is stopping: what waits is written now, and
			// the next Recv ends the loop.
			sched.Sleep(d)
		}
		for len(srv.dirty) > 0 {
			d := srv.dirty
			srv.dirty = srv.dirtySpare[:0]
			for _, cl := range d {
				cl.dirty = false
				cl.flush()
			}
			clear(d)
			srv.dirtySpare = d[:0]
		}
	}
}

// sweepLoop is the sweeper task: once a tick it looks at every client, as
// ngircd's Check_Connections does, to PING the silent, drop those that
// did not answer, and drop connections that never registered. One task
// for all clients keeps timers out of idle ready-mode connections.
func (srv *server) sweepLoop() {
	tick := time.Second
	for _, d := range []time.Duration{srv.cfg.idle, srv.cfg.pongTimeout, srv.cfg.regTimeout} {
		if d > 0 {
			tick = min(tick, max(d/10, 10*time.Millisecond))
		}
	}
	for !srv.stopping {
		if sched.Sleep(tick) != nil {
			return
		}
		now := srv.s.Now()
		for cl := range srv.clients {
			switch {
			case cl.quitting:
			case !cl.registered:
				if srv.cfg.regTimeout > 0 && now.Sub(cl.since) >= srv.cfg.regTimeout {
					cl.drop("Registration timed out")
				}
			case srv.cfg.idle <= 0:
			case cl.pingSent.IsZero():
				if now.Sub(cl.lastInput) >= srv.cfg.idle {
					cl.pingSent = now
					cl.send([]byte("PING :" + srv.cfg.name + "\r\n"))
				}
			case now.Sub(cl.pingSent) >= srv.cfg.pongTimeout:
				cl.drop("Ping timeout: " + secs(srv.cfg.idle+srv.cfg.pongTimeout) + " seconds")
			}
		}
	}
}

// shutdown drops every client, telling it why, waits (a little longer
// than dropGrace) until their connections have closed, and stops the
// server's own tasks. It runs in a task of the scheduler, before the
// netio.Server's Shutdown, which would close idle ready-mode connections
// before their ERROR line is out.
func (srv *server) shutdown() {
	srv.stopping = true
	for cl := range srv.clients {
		cl.drop("Server shutting down")
	}
	wait := dropGrace + 500*time.Millisecond
	deadline := srv.s.Now().Add(wait)
	for len(srv.clients) > 0 && srv.s.Now().Before(deadline) {
		sched.Sleep(5 * time.Millisecond)
	}
	if n := len(srv.clients); n > 0 {
		srv.log.Printf("shutdown: %d clients still connected after %v", n, wait)
	}
	srv.sweeper.Interrupt()
	srv.kick.Close()
}

// connState tracks connections in ready mode, where no task holds an
// idle one: the client is made when the connection is accepted and
// forgotten when it closes, however it closes.
func (srv *server) connState(c *netio.Conn, st netio.ConnState) {
	switch st {
	case netio.StateNew:
		cl := srv.newClient(c)
		c.SetValue(cl)
		if cl.refused {
			srv.s.Go(cl.refuse)
		}
	case netio.StateClosed:
		if cl, ok := c.Value().(*client); ok {
			cl.closed(nil)
		}
	}
}
