//go:build linux

package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/bench/internal/echo"
	"github.com/coopgo/coop/bench/internal/hist"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// Mode selects what the client does; see the package comment.
type Mode string

// The modes.
const (
	Closed Mode = "closed"
	Open   Mode = "open"
	Stream Mode = "stream"
	Idle   Mode = "idle"
	// Session opens the connections, checks one echo on each, and then
	// runs measurements on them one after another as the harness asks
	// (see Client and the role's command lines): one set-up serves a
	// memory reading and several rows.
	Session Mode = "session"
)

// Order is the order in which a measurement's connections send (see
// Config.Order).
type Order string

// The orders.
const (
	// Rotation sends in the order the connections were opened: the open
	// loop visits them round-robin, and the closed loop starts them in
	// that order and keeps it. The server accepted them, and allocated
	// their state, in about that order too, so consecutive requests touch
	// consecutive objects: an order a hardware prefetcher can follow,
	// which real clients do not keep.
	Rotation Order = "rotation"
	// Random sends in an order drawn from Config.Seed: the open loop
	// visits every connection once per round, in a new random order each
	// round; the closed loop starts the connections in a random order,
	// which it keeps (each request leaves when its reply is back, so the
	// order at the start is the order the server sees). Consecutive
	// requests then touch unrelated connections, as a population of
	// independent clients would.
	Random Order = "random"
)

// ParseOrder parses an order's name; "" is Rotation.
func ParseOrder(s string) (Order, error) {
	switch o := Order(s); o {
	case "":
		return Rotation, nil
	case Rotation, Random:
		return o, nil
	}
	return "", fmt.Errorf("loadgen: unknown order %q (want %s or %s)", s, Rotation, Random)
}

// Config is one run of the client.
type Config struct {
	Mode  Mode   `json:"mode"`
	Addr  string `json:"addr"` // ip:port, loopback only
	Conns int    `json:"conns"`

	// Rate is the open mode's total request rate, per second.
	Rate float64 `json:"rate,omitempty"`

	// Order is the order in which the connections send in closed and open
	// mode: Rotation ("" too) or Random, drawn from Seed (the same seed,
	// the same order).
	Order Order  `json:"order,omitempty"`
	Seed  uint64 `json:"seed,omitempty"`

	// The run: Warmup, then Intervals intervals of Interval each, each
	// reported on its own. An interval runs from one snapshot of the
	// counters to the next, and the next is due Interval after the last
	// was taken: a snapshot taken late (the client descheduled on a busy
	// machine) makes its interval longer, never the next one shorter.
	Warmup    time.Duration `json:"warmup_ns"`
	Interval  time.Duration `json:"interval_ns"`
	Intervals int           `json:"intervals"`

	// ServerPIDs are the processes whose CPU clocks are charged to the
	// server at each interval boundary.
	ServerPIDs []int `json:"server_pids,omitempty"`

	// PerAddr is the most connections opened from one loopback source
	// address; 0: half the kernel's ephemeral port range. Beyond it the
	// connections spread over 127.0.0.1, 127.0.0.2, ... (bound with
	// IP_BIND_ADDRESS_NO_PORT, so the kernel picks each port at connect
	// time by the whole 4-tuple): one address has only the ephemeral
	// range's ~28,000 ports, too few for 50,000 connections.
	PerAddr int `json:"per_addr,omitempty"`

	// Limits. Zero values take the defaults below.
	ConnectTimeout time.Duration `json:"connect_timeout_ns,omitempty"` // all connections up and checked
	StallTimeout   time.Duration `json:"stall_timeout_ns,omitempty"`   // no reply while requests are outstanding
	HoldTimeout    time.Duration `json:"hold_timeout_ns,omitempty"`    // idle, session: longest wait for the harness
}

func (c *Config) defaults() {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 60 * time.Second
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 5 * time.Second
	}
	if c.HoldTimeout == 0 {
		c.HoldTimeout = 120 * time.Second
	}
}

func (c *Config) check() error {
	ap, err := netip.ParseAddrPort(c.Addr)
	switch {
	case err != nil:
		return fmt.Errorf("loadgen: address %q: %w", c.Addr, err)
	case !ap.Addr().IsLoopback():
		return fmt.Errorf("loadgen: address %q is not loopback; the study only targets this machine", c.Addr)
	case c.Conns < 1:
		return fmt.Errorf("loadgen: %d connections", c.Conns)
	case c.Mode == Open && c.Rate <= 0:
		return fmt.Errorf("loadgen: open mode needs a positive rate")
	case c.Mode != Closed && c.Mode != Open && c.Mode != Stream && c.Mode != Idle && c.Mode != Session:
		return fmt.Errorf("loadgen: unknown mode %q", c.Mode)
	case c.PerAddr < 0:
		return fmt.Errorf("loadgen: %d connections per source address", c.PerAddr)
	}
	if _, err := ParseOrder(string(c.Order)); err != nil {
		return err
	}
	if c.Mode != Idle && c.Mode != Session {
		return c.checkRun()
	}
	return nil
}

// checkRun checks the fields of a measurement.
func (c *Config) checkRun() error {
	switch {
	case c.Mode != Closed && c.Mode != Open && c.Mode != Stream:
		return fmt.Errorf("loadgen: cannot measure in mode %q", c.Mode)
	case c.Mode == Open && c.Rate <= 0:
		return fmt.Errorf("loadgen: open mode needs a positive rate")
	case c.Intervals < 1 || c.Interval <= 0:
		return fmt.Errorf("loadgen: %d intervals of %v", c.Intervals, c.Interval)
	}
	_, err := ParseOrder(string(c.Order))
	return err
}

// Interval is what one measurement interval recorded.
type Interval struct {
	Wall      time.Duration `json:"wall_ns"`
	Requests  uint64        `json:"requests"` // replies completed (closed, open)
	Bytes     uint64        `json:"bytes"`    // bytes echoed back and checked (stream)
	ServerCPU time.Duration `json:"server_cpu_ns"`
	ClientCPU time.Duration `json:"client_cpu_ns"`
	// Open mode: replies completed in this interval.
	Latency *hist.Summary `json:"latency,omitempty"`
}

// Result is the outcome of a run.
type Result struct {
	Config      Config        `json:"config"`
	ConnectTime time.Duration `json:"connect_ns"`
	Intervals   []Interval    `json:"intervals"`
	// Open mode: every reply of the measured intervals, and how late the
	// client sent requests after their scheduled times (its own lag).
	Latency *hist.Summary `json:"latency,omitempty"`
	SendLag *hist.Summary `json:"send_lag,omitempty"`
	// ClientCPUs is the client's CPU affinity as the kernel reports it.
	ClientCPUs string `json:"client_cpus"`
	// SourceAddrs is the number of loopback source addresses the
	// connections were spread over (see Config.PerAddr).
	SourceAddrs int `json:"source_addrs,omitempty"`
	// Checked counts every reply (request/response modes) or byte (stream
	// mode) compared with what was sent, warm-up and drain included, in
	// this measurement.
	Checked uint64 `json:"checked"`
}

// Hold is called in idle mode once every connection is up and checked; the
// connections stay open until it returns.
type Hold func() error

const (
	maxConnecting = 256         // connections in set-up at once: keeps the server's accept queue short
	maxQueued     = 10_000      // open mode: outstanding requests on one connection before giving up
	maxBehind     = time.Second // open mode: how far the replies may fall behind the schedule
	readBufSize   = 64 << 10    // the client's own read buffer: big enough that it rarely reads twice
	batch         = 256         // epoll events per wait
)

type connState uint8

const (
	stConnecting connState = iota // connect issued, waiting for EPOLLOUT
	stChecking                    // connected, first echo outstanding
	stReady                       // first echo checked
	stRunning                     // under load
)

type conn struct {
	fd    int
	id    uint32
	state connState

	// Request/response modes: requests sent and replies completed, and how
	// much of the current reply has arrived.
	sent, done uint64
	got        int
	exp        [echo.MsgSize]byte // the reply being received, regenerated per reply

	// Stream mode: offsets into the connection's stream.
	sOff, rOff uint64

	out       []byte // request bytes the socket did not take yet, from outHead
	outHead   int
	writeWait bool // a write came up short: wait for EPOLLOUT

	sched []int64 // open mode: scheduled send times of outstanding requests
	head  int
}

type client struct {
	cfg    Config
	epfd   int
	conns  []*conn
	byFD   []*conn
	rbuf   []byte
	events []unix.EpollEvent
	msg    [echo.MsgSize]byte
	base   time.Time
	sa     unix.SockaddrInet4
	src    []unix.SockaddrInet4 // source addresses to spread over; nil: the kernel's choice

	ready    int // connections past their first echo
	running  bool
	requests uint64
	bytes    uint64
	lastDone int64 // time of the last reply completed
	lat, lag hist.Histogram
	latAll   hist.Histogram

	cpus string // the client's CPU affinity

	// The measurement's send order: the connections in the order they
	// start (closed) or send in this round (open), and the source of a
	// random order's shuffles.
	order []*conn
	rng   *rand.Rand

	// open mode schedule
	inFlight int    // requests sent and not answered, all connections
	next     uint64 // index of the next request to send
	t0       int64
	period   float64
}

// setOrder sets the measurement's send order: the connections as opened
// (Rotation), or shuffled with a generator seeded from the configuration
// (Random).
func (c *client) setOrder() {
	c.order = append(c.order[:0], c.conns...)
	c.rng = nil
	if c.cfg.Order == Random {
		c.rng = rand.New(rand.NewPCG(c.cfg.Seed, 0x636f6f70)) // "coop"
		c.shuffle()
	}
}

func (c *client) shuffle() {
	c.rng.Shuffle(len(c.order), func(i, j int) { c.order[i], c.order[j] = c.order[j], c.order[i] })
}

func (c *client) now() int64 { return int64(time.Since(c.base)) }

// Run runs the client on the calling goroutine, which it locks to its
// thread: it connects, then measures (closed, open, stream) or holds the
// connections while hold runs (idle). A non-nil error means the run is
// invalid, whatever it measured.
func Run(cfg Config, hold Hold) (Result, error) {
	cl, err := Dial(cfg)
	if err != nil {
		return Result{Config: cfg}, err
	}
	defer cl.Close()
	if cfg.Mode != Idle {
		return cl.Measure(cfg)
	}
	res := cl.Result()
	if hold != nil {
		if err := hold(); err != nil {
			return res, err
		}
	}
	// The server must still be serving every connection after the hold.
	return res, cl.Recheck()
}

// Client is a set of connections that are up and checked, on which
// measurements run one after another. It belongs to the goroutine that
// dialled it, which it keeps locked to its thread until Close.
type Client struct {
	c       *client
	connect time.Duration
}

// Dial opens cfg.Conns connections to cfg.Addr, at most maxConnecting in
// set-up at a time, and checks one echo on each. cfg.Mode only selects the
// defaults and checks that apply; the measurements come from Measure.
func Dial(cfg Config) (*Client, error) {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ap := netip.MustParseAddrPort(cfg.Addr)
	if !ap.Addr().Is4() {
		return nil, fmt.Errorf("loadgen: %s: only IPv4 loopback is supported", cfg.Addr)
	}
	src, err := sources(cfg)
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	cl := &Client{c: &client{
		cfg:    cfg,
		rbuf:   make([]byte, readBufSize),
		events: make([]unix.EpollEvent, batch),
		base:   time.Now(),
		sa:     unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()},
		src:    src,
		epfd:   -1,
	}}
	fail := func(err error) (*Client, error) {
		cl.Close()
		return nil, err
	}
	c := cl.c
	// Open mode's send timers must fire on time: see SetTimerSlack.
	if err := rawsys.SetTimerSlack(1); err != nil {
		return fail(err)
	}
	if c.cpus, err = rawsys.AllowedCPUs(os.Getpid()); err != nil {
		return fail(err)
	}
	if c.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fail(os.NewSyscallError("epoll_create1", err))
	}
	start := c.now()
	if err := c.connectAll(); err != nil {
		return fail(err)
	}
	cl.connect = time.Duration(c.now() - start)
	c.setOrder() // each measurement sets its own; until then, as opened
	return cl, nil
}

// sources returns the source addresses cfg's connections spread over, or
// nil when one address has ports enough.
func sources(cfg Config) ([]unix.SockaddrInet4, error) {
	per := cfg.PerAddr
	if per == 0 {
		ports, err := rawsys.EphemeralPorts()
		if err != nil {
			return nil, err
		}
		per = max(ports/2, 1)
	}
	n := (cfg.Conns + per - 1) / per
	if n <= 1 {
		return nil, nil
	}
	if n > 250 {
		return nil, fmt.Errorf("loadgen: %d connections at %d per source address need %d loopback addresses; at most 250", cfg.Conns, per, n)
	}
	src := make([]unix.SockaddrInet4, n)
	for i := range src {
		src[i].Addr = [4]byte{127, 0, 0, byte(1 + i)}
	}
	return src, nil
}

// Result returns what a measurement reports about the connections alone:
// the configuration, the set-up time, where the client runs.
func (cl *Client) Result() Result {
	return Result{Config: cl.c.cfg, ConnectTime: cl.connect, ClientCPUs: cl.c.cpus, SourceAddrs: max(len(cl.c.src), 1)}
}

// Measure runs one measurement on the open connections: run's Mode (closed,
// open or stream), Rate, Order, Seed, Warmup, Interval and Intervals; its
// other fields are ignored. Every reply is checked and every request
// drained before it returns. After an error the connections are in an
// unknown state: Close them.
func (cl *Client) Measure(run Config) (Result, error) {
	c := cl.c
	if err := run.checkRun(); err != nil {
		return cl.Result(), err
	}
	c.cfg.Mode, c.cfg.Rate, c.cfg.Warmup, c.cfg.Interval, c.cfg.Intervals = run.Mode, run.Rate, run.Warmup, run.Interval, run.Intervals
	c.cfg.Order, c.cfg.Seed = run.Order, run.Seed
	res := cl.Result()
	before := c.requests + c.bytes
	err := c.measure(&res)
	res.Checked = c.requests + c.bytes - before
	return res, err
}

// Recheck sends one more request on every connection and checks its
// reply: after a hold, the server must still serve every connection.
func (cl *Client) Recheck() error {
	c := cl.c
	for _, k := range c.conns {
		k.state = stChecking
		c.ready--
		if err := c.sendRequest(k); err != nil {
			return err
		}
	}
	return c.loopUntil(func() bool { return c.ready == len(c.conns) }, c.now()+int64(c.cfg.ConnectTimeout), "second check of idle connections")
}

// Close closes every connection (with a reset: no TIME_WAIT) and the epoll
// descriptor, and unlocks the thread.
func (cl *Client) Close() {
	if cl.c == nil {
		return
	}
	cl.c.closeAll()
	if cl.c.epfd >= 0 {
		unix.Close(cl.c.epfd)
	}
	cl.c = nil
	runtime.UnlockOSThread()
}

// connectAll opens every connection, at most maxConnecting in set-up at a
// time, and checks one echo on each.
func (c *client) connectAll() error {
	deadline := c.now() + int64(c.cfg.ConnectTimeout)
	for i := 0; i < c.cfg.Conns; i++ {
		for i-c.ready >= maxConnecting {
			if err := c.step(deadline); err != nil {
				return fmt.Errorf("loadgen: connecting %d connections (%d up): %w", c.cfg.Conns, c.ready, err)
			}
		}
		if err := c.dial(uint32(i)); err != nil {
			return err
		}
	}
	return c.loopUntil(func() bool { return c.ready == len(c.conns) }, deadline, fmt.Sprintf("connecting %d connections", c.cfg.Conns))
}

func (c *client) dial(id uint32) error {
	// A reset on close: no TIME_WAIT (see the package comment).
	fd, err := rawsys.ClientSocket()
	if err != nil {
		return fmt.Errorf("loadgen: connection %d: %w", id, err)
	}
	if len(c.src) > 0 {
		// Bind the source address only; connect picks the port by the
		// whole 4-tuple, so every address has the full port range.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			unix.Close(fd)
			return fmt.Errorf("loadgen: %w", os.NewSyscallError("setsockopt(IP_BIND_ADDRESS_NO_PORT)", err))
		}
		src := &c.src[int(id)%len(c.src)]
		if err := unix.Bind(fd, src); err != nil {
			unix.Close(fd)
			return fmt.Errorf("loadgen: connection %d: %w", id, os.NewSyscallError("bind", err))
		}
	}
	k := &conn{fd: fd, id: id}
	for fd >= len(c.byFD) {
		c.byFD = append(c.byFD, make([]*conn, len(c.byFD)+1024)...)
	}
	c.byFD[fd] = k
	c.conns = append(c.conns, k)
	if err := rawsys.StartConnect(c.epfd, fd, &c.sa); err != nil {
		return fmt.Errorf("loadgen: connection %d to %s: %w", id, c.cfg.Addr, err)
	}
	return nil
}

func (c *client) closeAll() {
	for _, k := range c.conns {
		if k.fd >= 0 {
			unix.Close(k.fd)
			k.fd = -1
		}
	}
}

// loopUntil runs the event loop until cond holds, or fails at deadline.
func (c *client) loopUntil(cond func() bool, deadline int64, what string) error {
	for !cond() {
		if c.now() >= deadline {
			return fmt.Errorf("loadgen: %s: %w", what, errDeadline)
		}
		if err := c.step(deadline); err != nil {
			return fmt.Errorf("loadgen: %s: %w", what, err)
		}
	}
	return nil
}

var errDeadline = errors.New("deadline exceeded")

// ErrOverCapacity reports an open-loop rate the server cannot sustain.
var ErrOverCapacity = errors.New("over capacity")

// step waits for events until at most wake (nanoseconds on c's clock) and
// handles them. Events already pending are taken with a raw non-blocking
// poll; only a wait that may sleep goes through the runtime. Reaching wake
// with no events is not an error: callers check their own deadlines.
func (c *client) step(wake int64) error {
	return rawsys.EpollStep(c.epfd, c.events, wake, c.now, c.byFD, c.handle)
}

func (c *client) handle(k *conn, events uint32) error {
	if k.state == stConnecting {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return nil
		}
		if err := rawsys.ConnectResult(k.fd); err != nil {
			return fmt.Errorf("connection %d to %s: %w", k.id, c.cfg.Addr, err)
		}
		k.state = stChecking
		return c.sendRequest(k)
	}
	hup := events&(unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0
	if events&unix.EPOLLIN != 0 || hup {
		if err := c.readable(k, hup); err != nil {
			return err
		}
	}
	if events&unix.EPOLLOUT != 0 && k.writeWait {
		k.writeWait = false
		if err := c.flush(k); err != nil {
			return err
		}
	}
	return nil
}

// readable reads what arrived. One read per edge: a read shorter than the
// buffer drained the socket, and the next arrival brings a new edge. Not
// so after a hang-up (hup): the peer's last bytes and its FIN can arrive
// before one epoll_wait and be reported as one edge, and the read that
// returns the bytes does not return the end of stream. No edge follows, so
// the loop reads on until it sees the end (or an error, or EAGAIN).
func (c *client) readable(k *conn, hup bool) error {
	for {
		n, e := rawsys.Read(k.fd, c.rbuf)
		switch {
		case e == unix.EAGAIN:
			return nil
		case e != 0:
			return fmt.Errorf("connection %d: %w", k.id, os.NewSyscallError("read", e))
		case n == 0:
			return fmt.Errorf("connection %d: server closed the connection (%d requests sent, %d replies)", k.id, k.sent, k.done)
		}
		if err := c.consume(k, c.rbuf[:n]); err != nil {
			return err
		}
		if n < len(c.rbuf) && !hup {
			return nil
		}
	}
}

// consume checks received bytes against what was sent and acts on each
// completed reply.
func (c *client) consume(k *conn, data []byte) error {
	if k.state == stRunning && c.cfg.Mode == Stream {
		return c.consumeStream(k, data)
	}
	for len(data) > 0 {
		if k.done >= k.sent {
			return fmt.Errorf("connection %d: %d unsolicited bytes after reply %d", k.id, len(data), k.done)
		}
		if k.got == 0 {
			echo.Message(k.exp[:], k.id, k.done)
		}
		m := min(len(data), echo.MsgSize-k.got)
		if !bytes.Equal(data[:m], k.exp[k.got:k.got+m]) {
			return fmt.Errorf("connection %d: reply %d, bytes %d..%d: got %x, want %x", k.id, k.done, k.got, k.got+m, data[:m], k.exp[k.got:k.got+m])
		}
		data = data[m:]
		k.got += m
		if k.got < echo.MsgSize {
			return nil
		}
		k.got = 0
		k.done++
		if err := c.replied(k); err != nil {
			return err
		}
	}
	return nil
}

func (c *client) replied(k *conn) error {
	now := c.now()
	c.lastDone = now
	switch k.state {
	case stChecking:
		k.state = stReady
		c.ready++
		if c.running {
			return c.start(k)
		}
		return nil
	case stRunning:
	default:
		return fmt.Errorf("connection %d: reply in state %d", k.id, k.state)
	}
	c.requests++
	switch c.cfg.Mode {
	case Closed:
		if c.running {
			return c.sendRequest(k)
		}
	case Open:
		t := k.sched[k.head]
		k.head++
		if k.head == len(k.sched) {
			k.sched, k.head = k.sched[:0], 0
		}
		c.lat.Record(now - t)
		c.inFlight--
	}
	return nil
}

func (c *client) consumeStream(k *conn, data []byte) error {
	for len(data) > 0 {
		m := min(len(data), echo.StreamChunk)
		if k.rOff+uint64(m) > k.sOff {
			return fmt.Errorf("connection %d: %d bytes back at offset %d, only %d sent", k.id, m, k.rOff, k.sOff)
		}
		if want := echo.Stream(k.id, k.rOff, m); !bytes.Equal(data[:m], want) {
			i := 0
			for data[i] == want[i] {
				i++
			}
			return fmt.Errorf("connection %d: stream byte %d: got %#x, want %#x", k.id, k.rOff+uint64(i), data[i], want[i])
		}
		k.rOff += uint64(m)
		c.bytes += uint64(m)
		data = data[m:]
	}
	c.lastDone = c.now()
	if c.running && !k.writeWait {
		return c.flush(k)
	}
	return nil
}

// start puts a checked connection under load.
func (c *client) start(k *conn) error {
	k.state = stRunning
	switch c.cfg.Mode {
	case Closed:
		return c.sendRequest(k)
	case Stream:
		return c.flush(k)
	}
	return nil // open: the schedule sends
}

// sendRequest sends the connection's next 64-byte request.
func (c *client) sendRequest(k *conn) error {
	echo.Message(c.msg[:], k.id, k.sent)
	k.sent++
	if len(k.out) > k.outHead || k.writeWait {
		if k.outHead > 0 && k.outHead >= len(k.out)/2 {
			k.out = k.out[:copy(k.out, k.out[k.outHead:])]
			k.outHead = 0
		}
		k.out = append(k.out, c.msg[:]...)
		return nil
	}
	n, e := rawsys.Write(k.fd, c.msg[:])
	switch {
	case e == unix.EAGAIN:
		n = 0
	case e != 0:
		return fmt.Errorf("connection %d: %w", k.id, os.NewSyscallError("write", e))
	}
	if n < len(c.msg) {
		k.out = append(k.out, c.msg[n:]...)
		k.writeWait = true
	}
	return nil
}

// flush writes pending request bytes, or in stream mode tops the window up.
func (c *client) flush(k *conn) error {
	if k.state == stRunning && c.cfg.Mode == Stream {
		for c.running && k.sOff-k.rOff < echo.StreamWindow {
			m := int(min(echo.StreamChunk, echo.StreamWindow-(k.sOff-k.rOff)))
			n, e := rawsys.Write(k.fd, echo.Stream(k.id, k.sOff, m))
			switch {
			case e == unix.EAGAIN:
				k.writeWait = true
				return nil
			case e != 0:
				return fmt.Errorf("connection %d: %w", k.id, os.NewSyscallError("write", e))
			}
			k.sOff += uint64(n)
			if n < m {
				k.writeWait = true
				return nil
			}
		}
		return nil
	}
	for len(k.out) > k.outHead {
		n, e := rawsys.Write(k.fd, k.out[k.outHead:])
		switch {
		case e == unix.EAGAIN:
			k.writeWait = true
			return nil
		case e != 0:
			return fmt.Errorf("connection %d: %w", k.id, os.NewSyscallError("write", e))
		}
		k.outHead += n
	}
	k.out, k.outHead = k.out[:0], 0
	return nil
}

// snapshot is the cumulative state at an interval boundary.
type snapshot struct {
	t                    int64
	requests, bytes      uint64
	serverCPU, clientCPU time.Duration
}

func (c *client) snapshot() (snapshot, error) {
	s := snapshot{requests: c.requests, bytes: c.bytes}
	for _, pid := range c.cfg.ServerPIDs {
		d, err := rawsys.ProcessCPU(pid)
		if err != nil {
			return s, fmt.Errorf("loadgen: server process %d gone? %w", pid, err)
		}
		s.serverCPU += d
	}
	s.clientCPU = rawsys.SelfCPU()
	s.t = c.now() // after the clock reads, which cost up to a millisecond for a pool of 1,000
	return s, nil
}

// outstanding reports whether any request (or stream byte) awaits its echo.
func (c *client) outstanding() bool {
	for _, k := range c.conns {
		if k.done < k.sent || k.rOff < k.sOff {
			return true
		}
	}
	return false
}

// measure runs the warm-up and the measured intervals, then drains.
func (c *client) measure(res *Result) error {
	cfg := c.cfg
	// A client measures more than once: start from a clean schedule and
	// empty histograms.
	c.next, c.inFlight = 0, 0
	c.lat.Reset()
	c.lag.Reset()
	c.latAll.Reset()
	c.running = true
	c.setOrder()
	for _, k := range c.order {
		if err := c.start(k); err != nil {
			return err
		}
	}
	now := c.now()
	c.lastDone = now
	c.t0, c.period = now, 1e9/cfg.Rate
	boundary := now + int64(cfg.Warmup)
	interval := -1 // the warm-up
	var prev snapshot
	for {
		now = c.now()
		if now >= boundary {
			s, err := c.snapshot()
			if err != nil {
				return err
			}
			if interval >= 0 {
				iv := Interval{
					Wall:      time.Duration(s.t - prev.t),
					Requests:  s.requests - prev.requests,
					Bytes:     s.bytes - prev.bytes,
					ServerCPU: s.serverCPU - prev.serverCPU,
					ClientCPU: s.clientCPU - prev.clientCPU,
				}
				if cfg.Mode == Open {
					sum := c.lat.Summary()
					iv.Latency = &sum
					c.latAll.Merge(&c.lat)
				}
				res.Intervals = append(res.Intervals, iv)
			} else {
				c.lag.Reset() // the warm-up's lag is not reported
			}
			c.lat.Reset()
			prev = s
			interval++
			if interval == cfg.Intervals {
				break
			}
			// From the snapshot, not the old boundary: each interval
			// is at least Interval long.
			boundary = s.t + int64(cfg.Interval)
			now = c.now()
		}
		wake := boundary
		if cfg.Mode == Open {
			next, err := c.sendDue(now)
			if err != nil {
				return err
			}
			wake = min(wake, next)
		}
		if stalled, err := c.stalled(); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		} else if stalled {
			return fmt.Errorf("loadgen: no reply for %v with requests outstanding: the server stalled", cfg.StallTimeout)
		}
		// Wake at least every stall period to check for a stall.
		if err := c.step(min(wake, now+int64(cfg.StallTimeout))); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
	}
	// Drain: every request sent gets its reply checked, and in open mode
	// its latency counted, before the run counts as valid.
	c.running = false
	if err := c.drain(); err != nil {
		return err
	}
	if cfg.Mode == Open {
		c.latAll.Merge(&c.lat)
		lat, lag := c.latAll.Summary(), c.lag.Summary()
		res.Latency, res.SendLag = &lat, &lag
	}
	return nil
}

// drain waits for every outstanding reply. It fails when no reply arrives
// for a stall period, or after maxDrain in all.
func (c *client) drain() error {
	const maxDrain = time.Minute
	start := c.now()
	for c.outstanding() {
		stalled, err := c.stalled()
		now := c.now()
		switch {
		case err != nil:
			return fmt.Errorf("loadgen: draining outstanding requests: %w", err)
		case stalled:
			return fmt.Errorf("loadgen: draining outstanding requests: no reply for %v: the server stalled", c.cfg.StallTimeout)
		case now-start > int64(maxDrain):
			return fmt.Errorf("loadgen: draining outstanding requests: still not done after %v", maxDrain)
		}
		if err := c.step(now + int64(c.cfg.StallTimeout)/4); err != nil {
			return fmt.Errorf("loadgen: draining outstanding requests: %w", err)
		}
	}
	return nil
}

// stalled reports whether no reply has come for the stall timeout while
// requests are outstanding. Before it says so, it takes what is already
// waiting in the sockets without waiting for more: a client that was itself
// away (descheduled on a busy machine, or stopped with its whole process)
// finds there the replies that came meanwhile, and only a server that sent
// nothing is called stalled.
func (c *client) stalled() (bool, error) {
	if c.now()-c.lastDone <= int64(c.cfg.StallTimeout) || !c.outstanding() {
		return false, nil
	}
	if err := c.step(0); err != nil { // a wake time already past: no wait
		return false, err
	}
	return c.now()-c.lastDone > int64(c.cfg.StallTimeout), nil
}

// sendDue sends every open-mode request whose scheduled time has come and
// returns the next scheduled time.
func (c *client) sendDue(now int64) (int64, error) {
	n := uint64(len(c.conns))
	for {
		s := c.t0 + int64(float64(c.next)*c.period)
		if s > now {
			return s, nil
		}
		i := c.next % n
		if i == 0 && c.next > 0 && c.rng != nil {
			c.shuffle() // a new round, a new order
		}
		k := c.order[i]
		if len(k.sched)-k.head >= maxQueued {
			return 0, fmt.Errorf("loadgen: connection %d has %d requests outstanding at %.0f/s: the server is not keeping up (%w)", k.id, maxQueued, c.cfg.Rate, ErrOverCapacity)
		}
		limit := max(1000, int(c.cfg.Rate*maxBehind.Seconds()))
		if c.inFlight > limit {
			// Take the replies already waiting first: a client that was
			// away (see stalled) finds the replies to what it sent before
			// in its sockets, and sends what fell due meanwhile in one
			// burst, whose replies come back as it sends.
			if err := c.step(0); err != nil {
				return 0, fmt.Errorf("loadgen: %w", err)
			}
		}
		if c.inFlight > limit {
			return 0, fmt.Errorf("loadgen: %d requests outstanding at %.0f/s: replies are more than %v behind the schedule; the server cannot sustain this rate (%w)", c.inFlight, c.cfg.Rate, maxBehind, ErrOverCapacity)
		}
		k.sched = append(k.sched, s)
		c.inFlight++
		if err := c.sendRequest(k); err != nil {
			return 0, err
		}
		c.lag.Record(now - s)
		c.next++
	}
}
