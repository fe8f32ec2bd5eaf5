//go:build linux

package irc

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/bench/internal/hist"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// The load generator's modes.
const (
	Fanout = "fanout" // senders send at a fixed rate; every delivered line is counted
	Idle   = "idle"   // every client registered and joined, then held while memory is read
)

// LoadConfig is one run of the load generator.
type LoadConfig struct {
	Mode     string  `json:"mode"`
	Addr     string  `json:"addr"`
	Clients  int     `json:"clients"`
	ChanSize int     `json:"chan_size"` // members per channel: clients i*ChanSize.. are in #c<i>
	Senders  int     `json:"senders"`
	Rate     float64 `json:"rate"` // PRIVMSGs per second, all senders together

	Warmup    time.Duration `json:"warmup_ns"`
	Interval  time.Duration `json:"interval_ns"`
	Intervals int           `json:"intervals"`

	// ServerPIDs are charged with server CPU at interval boundaries.
	ServerPIDs []int `json:"server_pids,omitempty"`
	// Oper, if set ("name password"), has every sender become an IRC
	// operator and set user mode +F: ngircd's way to lift its flood
	// control (it has no setting to turn it off).
	Oper string `json:"oper,omitempty"`
	// DialRate, if not 0, paces new connections (per second): a server
	// with a short listen backlog must accept each before its queue
	// overflows.
	DialRate float64 `json:"dial_rate,omitempty"`

	ConnectTimeout time.Duration `json:"connect_timeout_ns,omitempty"` // every client registered and joined
	StallTimeout   time.Duration `json:"stall_timeout_ns,omitempty"`   // no line while deliveries are due
	HoldTimeout    time.Duration `json:"hold_timeout_ns,omitempty"`
}

func (c *LoadConfig) defaults() {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 120 * time.Second
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 5 * time.Second
	}
	if c.HoldTimeout == 0 {
		c.HoldTimeout = 120 * time.Second
	}

}

func (c *LoadConfig) check() error {
	ap, err := netip.ParseAddrPort(c.Addr)
	switch {
	case err != nil:
		return fmt.Errorf("irc load: address %q: %w", c.Addr, err)
	case !ap.Addr().Is4() || !ap.Addr().IsLoopback():
		return fmt.Errorf("irc load: address %q is not IPv4 loopback; the study only targets this machine", c.Addr)
	case c.Clients < 2 || c.ChanSize < 2:
		return fmt.Errorf("irc load: %d clients in channels of %d", c.Clients, c.ChanSize)
	case c.Mode == Fanout && (c.Senders < 1 || c.Senders > maxSenders || c.Senders > c.Clients || c.Rate <= 0 || c.Intervals < 1 || c.Interval <= 0):
		return fmt.Errorf("irc load: %d senders (1 to %d), rate %v, %d intervals of %v", c.Senders, maxSenders, c.Rate, c.Intervals, c.Interval)
	case c.Mode != Fanout && c.Mode != Idle:
		return fmt.Errorf("irc load: unknown mode %q", c.Mode)
	}
	return nil
}

// Interval is what one measurement interval recorded.
type Interval struct {
	Wall      time.Duration `json:"wall_ns"`
	Sent      uint64        `json:"sent"`      // PRIVMSGs the senders sent
	Delivered uint64        `json:"delivered"` // PRIVMSG lines received, checked and counted
	ServerCPU time.Duration `json:"server_cpu_ns"`
	ClientCPU time.Duration `json:"client_cpu_ns"`
	Latency   *hist.Summary `json:"latency,omitempty"` // deliveries of this interval
}

// LoadResult is the outcome of a run.
type LoadResult struct {
	Config     LoadConfig    `json:"config"`
	SetupTime  time.Duration `json:"setup_ns"` // connect, register, join
	Intervals  []Interval    `json:"intervals"`
	Latency    *hist.Summary `json:"latency,omitempty"` // every delivery of the measured intervals
	Expected   uint64        `json:"expected"`          // deliveries due for every PRIVMSG sent, warm-up and drain included
	Delivered  uint64        `json:"delivered"`
	ClientCPUs string        `json:"client_cpus"`
}

const (
	maxSenders  = 16
	maxSetup    = 1024 // in set-up at once: InspIRCd registers clients on a 1-second tick, ngircd holds a new client's first command for a second
	readBufSize = 64 << 10
	batch       = 256
	maxLineLen  = 8 << 10 // longer than any server sends: a broken stream
)

type state uint8

const (
	stConnecting state = iota
	stRegistering
	stJoining
	stJoined
	stPinged // idle mode's second check: PING sent, PONG awaited
)

type conn struct {
	fd     int
	id     int
	ch     int // channel index
	sender int // sender index, or -1
	state  state
	part   []byte // a line received in part
	out    []byte // bytes the socket did not take
	wait   bool   // waiting for EPOLLOUT
	next   [maxSenders]uint32
}

type loader struct {
	cfg      LoadConfig
	epfd     int
	conns    []*conn
	byFD     []*conn
	rbuf     []byte
	events   []unix.EpollEvent
	base     time.Time
	sa       unix.SockaddrInet4
	chans    int
	senders  []*conn
	members  []int // per channel
	ready    int
	lastLine int64

	sent, expected, delivered uint64
	lat, latAll               hist.Histogram
	measuring                 bool
}

func (l *loader) now() int64 { return int64(time.Since(l.base)) }

// RunLoad runs the load generator on the calling goroutine, locked to its
// thread. In idle mode hold is called once every client is registered
// and joined; then each client is checked once more with a PING.
func RunLoad(cfg LoadConfig, hold func() error) (res LoadResult, err error) {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return LoadResult{Config: cfg}, err
	}
	res.Config = cfg
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if res.ClientCPUs, err = rawsys.AllowedCPUs(os.Getpid()); err != nil {
		return res, err
	}
	if err := rawsys.SetTimerSlack(1); err != nil {
		return res, err
	}
	ap := netip.MustParseAddrPort(cfg.Addr)
	l := &loader{
		cfg:    cfg,
		rbuf:   make([]byte, readBufSize),
		events: make([]unix.EpollEvent, batch),
		base:   time.Now(),
		sa:     unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()},
		chans:  (cfg.Clients + cfg.ChanSize - 1) / cfg.ChanSize,
	}
	l.members = make([]int, l.chans)
	for i := range cfg.Clients {
		l.members[i/cfg.ChanSize]++
	}
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return res, os.NewSyscallError("epoll_create1", err)
	}
	defer unix.Close(l.epfd)
	defer l.closeAll()

	start := l.now()
	if err := l.setup(); err != nil {
		return res, err
	}
	res.SetupTime = time.Duration(l.now() - start)
	if cfg.Mode == Idle {
		if hold != nil {
			if err := hold(); err != nil {
				return res, err
			}
		}
		// Every client must still be served after the hold.
		for _, k := range l.conns {
			k.state = stPinged
			l.ready--
			if err := l.write(k, []byte("PING :idle-check\r\n")); err != nil {
				return res, err
			}
		}
		return res, l.loopUntil(func() bool { return l.ready == len(l.conns) }, l.now()+int64(cfg.ConnectTimeout), "second check of idle clients")
	}
	err = l.measure(&res)
	res.Expected, res.Delivered = l.expected, l.delivered
	return res, err
}

// setup connects, registers and joins every client, at most maxSetup
// in set-up at a time, dialling at most cfg.DialRate a second.
func (l *loader) setup() error {
	start := l.now()
	deadline := start + int64(l.cfg.ConnectTimeout)
	for i := 0; i < l.cfg.Clients; i++ {
		if r := l.cfg.DialRate; r > 0 {
			for due := start + int64(float64(i)/r*1e9); l.now() < due; {
				if err := l.step(due); err != nil {
					return fmt.Errorf("irc load: setting up %d clients (%d joined): %w", l.cfg.Clients, l.ready, err)
				}
			}
		}
		for i-l.ready >= maxSetup {
			if err := l.step(deadline); err != nil {
				return fmt.Errorf("irc load: setting up %d clients (%d joined): %w", l.cfg.Clients, l.ready, err)
			}
			if l.now() >= deadline {
				return fmt.Errorf("irc load: setting up %d clients: %d joined after %v", l.cfg.Clients, l.ready, l.cfg.ConnectTimeout)
			}
		}
		if err := l.dial(i); err != nil {
			return err
		}
	}
	return l.loopUntil(func() bool { return l.ready == len(l.conns) }, deadline, fmt.Sprintf("setting up %d clients", l.cfg.Clients))
}

// senderClient is the client index of sender j: senders are spread over
// the channels, the j-th channel's first members first.
func (l *loader) senderClient(j int) int {
	return (j%l.chans)*l.cfg.ChanSize + j/l.chans
}

func (l *loader) dial(id int) error {
	// A reset on close: no TIME_WAIT for tens of thousands of clients.
	fd, err := rawsys.ClientSocket()
	if err != nil {
		return fmt.Errorf("irc load: client %d: %w", id, err)
	}
	k := &conn{fd: fd, id: id, ch: id / l.cfg.ChanSize, sender: -1}
	if l.cfg.Mode == Fanout {
		for j := range l.cfg.Senders {
			if l.senderClient(j) == id {
				k.sender = j
				l.senders = append(l.senders, k)
			}
		}
	}
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, make([]*conn, len(l.byFD)+1024)...)
	}
	l.byFD[fd] = k
	l.conns = append(l.conns, k)
	if err := rawsys.StartConnect(l.epfd, fd, &l.sa); err != nil {
		return fmt.Errorf("irc load: client %d to %s: %w", id, l.cfg.Addr, err)
	}
	return nil
}

func (l *loader) closeAll() {
	for _, k := range l.conns {
		if k.fd >= 0 {
			unix.Close(k.fd)
			k.fd = -1
		}
	}
}

var errDeadline = errors.New("deadline exceeded")

func (l *loader) loopUntil(cond func() bool, deadline int64, what string) error {
	for !cond() {
		if l.now() >= deadline {
			return fmt.Errorf("irc load: %s: %w (%d of %d done)", what, errDeadline, l.ready, len(l.conns))
		}
		if err := l.step(deadline); err != nil {
			return fmt.Errorf("irc load: %s: %w", what, err)
		}
	}
	return nil
}

// step waits for events until at most wake and handles them.
func (l *loader) step(wake int64) error {
	return rawsys.EpollStep(l.epfd, l.events, wake, l.now, l.byFD, l.handle)
}

func (l *loader) handle(k *conn, events uint32) error {
	if k.state == stConnecting {
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return nil
		}
		if err := rawsys.ConnectResult(k.fd); err != nil {
			return fmt.Errorf("client %d to %s: %w", k.id, l.cfg.Addr, err)
		}
		k.state = stRegistering
		nick := "c" + strconv.Itoa(k.id)
		return l.write(k, []byte("NICK "+nick+"\r\nUSER "+nick+" 0 * :"+nick+"\r\n"))
	}
	hup := events&(unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) != 0
	if events&unix.EPOLLIN != 0 || hup {
		if err := l.readable(k, hup); err != nil {
			return err
		}
	}
	if events&unix.EPOLLOUT != 0 && k.wait {
		k.wait = false
		return l.write(k, nil)
	}
	return nil
}

// readable reads what arrived: until a short read, or after a hang-up
// until the end of the stream (see package loadgen).
func (l *loader) readable(k *conn, hup bool) error {
	for {
		n, e := rawsys.Read(k.fd, l.rbuf)
		switch {
		case e == unix.EAGAIN:
			return nil
		case e != 0:
			return fmt.Errorf("client %d: %w", k.id, os.NewSyscallError("read", e))
		case n == 0:
			return fmt.Errorf("client %d: the server closed the connection (state %d)", k.id, k.state)
		}
		if err := l.lines(k, l.rbuf[:n]); err != nil {
			return err
		}
		if n < len(l.rbuf) && !hup {
			return nil
		}
	}
}

// lines splits received bytes into lines and acts on each.
func (l *loader) lines(k *conn, data []byte) error {
	l.lastLine = l.now()
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(k.part)+len(data) > maxLineLen {
				return fmt.Errorf("client %d: a line of more than %d bytes", k.id, maxLineLen)
			}
			k.part = append(k.part, data...)
			return nil
		}
		line := data[:i]
		data = data[i+1:]
		if len(k.part) > 0 {
			k.part = append(k.part, line...)
			line = k.part
		}
		if err := l.line(k, bytes.TrimSuffix(line, []byte{'\r'})); err != nil {
			return err
		}
		k.part = k.part[:0]
	}
	return nil
}

var (
	privmsg = []byte(" PRIVMSG ")
	pong    = []byte(" PONG ")
)

// line acts on one line from the server.
func (l *loader) line(k *conn, line []byte) error {
	if i := bytes.Index(line, privmsg); i >= 0 && line[0] == ':' {
		return l.deliver(k, line[i+len(privmsg):])
	}
	if bytes.HasPrefix(line, []byte("PING ")) {
		return l.write(k, append([]byte("PONG "), append(line[5:], '\r', '\n')...))
	}
	if bytes.HasPrefix(line, []byte("ERROR ")) {
		return fmt.Errorf("client %d: the server says %q", k.id, line)
	}
	// ":server NNN nick ..." : a numeric reply.
	f := bytes.Fields(line)
	if len(f) < 2 {
		return nil
	}
	cmd := string(f[1])
	switch {
	case k.state == stRegistering && cmd == "001":
		var b []byte
		if k.sender >= 0 && l.cfg.Oper != "" {
			b = append(b, "OPER "+l.cfg.Oper+"\r\nMODE c"+strconv.Itoa(k.id)+" +F\r\n"...)
		}
		b = append(b, "JOIN #c"+strconv.Itoa(k.ch)+"\r\n"...)
		k.state = stJoining
		return l.write(k, b)
	case k.state == stJoining && cmd == "366":
		k.state = stJoined
		l.ready++
	case k.state == stPinged && bytes.Contains(line, pong) && bytes.HasSuffix(line, []byte("idle-check")):
		k.state = stJoined
		l.ready++
	case cmd == "433" || cmd == "432" || cmd == "451" || cmd == "403" || cmd == "405" || cmd == "471" || cmd == "473" || cmd == "474":
		return fmt.Errorf("client %d: set-up refused: %q", k.id, line)
	}
	return nil
}

// deliver checks and counts one PRIVMSG: "#c<ch> :<sender> <seq> <ns>".
// Each sender's messages must arrive at every other member of its
// channel exactly once and in order.
func (l *loader) deliver(k *conn, rest []byte) error {
	i := bytes.Index(rest, []byte(" :"))
	if i < 0 {
		return fmt.Errorf("client %d: malformed PRIVMSG %q", k.id, rest)
	}
	text := bytes.Fields(rest[i+2:])
	if len(text) != 3 {
		return fmt.Errorf("client %d: unexpected PRIVMSG text %q", k.id, rest)
	}
	s, e1 := strconv.Atoi(string(text[0]))
	seq, e2 := strconv.ParseUint(string(text[1]), 10, 32)
	at, e3 := strconv.ParseInt(string(text[2]), 10, 64)
	if e1 != nil || e2 != nil || e3 != nil || s < 0 || s >= l.cfg.Senders {
		return fmt.Errorf("client %d: unexpected PRIVMSG text %q", k.id, rest)
	}
	if l.senders[s].ch != k.ch || k.sender == s {
		return fmt.Errorf("client %d (#c%d): a message of sender %d (#c%d) that is not for it", k.id, k.ch, s, l.senders[s].ch)
	}
	if uint32(seq) != k.next[s] {
		return fmt.Errorf("client %d: message %d of sender %d arrived when %d was due (lost, repeated or out of order)", k.id, seq, s, k.next[s])
	}
	k.next[s]++
	l.delivered++
	if l.measuring {
		l.lat.Record(l.now() - at)
	}
	return nil
}

// write sends b (and whatever waits before it); what the socket does not
// take waits for EPOLLOUT.
func (l *loader) write(k *conn, b []byte) error {
	if k.wait {
		k.out = append(k.out, b...)
		return nil
	}
	if len(k.out) > 0 {
		k.out = append(k.out, b...)
		b = k.out
	}
	for len(b) > 0 {
		n, e := rawsys.Write(k.fd, b)
		switch {
		case e == unix.EAGAIN:
			k.out = append(k.out[:0], b...)
			k.wait = true
			return nil
		case e != 0:
			return fmt.Errorf("client %d: %w", k.id, os.NewSyscallError("write", e))
		}
		b = b[n:]
	}
	k.out = k.out[:0]
	return nil
}

// snapshot is the cumulative state at an interval boundary.
type snapshot struct {
	t                    int64
	sent, delivered      uint64
	serverCPU, clientCPU time.Duration
}

func (l *loader) snapshot() (snapshot, error) {
	s := snapshot{sent: l.sent, delivered: l.delivered}
	for _, pid := range l.cfg.ServerPIDs {
		d, err := rawsys.ProcessCPU(pid)
		if err != nil {
			return s, fmt.Errorf("irc load: server process %d gone? %w", pid, err)
		}
		s.serverCPU += d
	}
	s.clientCPU = rawsys.SelfCPU()
	s.t = l.now()
	return s, nil
}

// measure sends at the fixed rate through the warm-up and the measured
// intervals, then waits for every delivery due.
func (l *loader) measure(res *LoadResult) error {
	cfg := l.cfg
	t0 := l.now()
	period := 1e9 / cfg.Rate
	var m uint64 // messages sent
	boundary := t0 + int64(cfg.Warmup)
	interval := -1
	var prev snapshot
	for {
		now := l.now()
		if now >= boundary {
			s, err := l.snapshot()
			if err != nil {
				return err
			}
			if interval >= 0 {
				sum := l.lat.Summary()
				l.latAll.Merge(&l.lat)
				res.Intervals = append(res.Intervals, Interval{
					Wall: time.Duration(s.t - prev.t), Sent: s.sent - prev.sent, Delivered: s.delivered - prev.delivered,
					ServerCPU: s.serverCPU - prev.serverCPU, ClientCPU: s.clientCPU - prev.clientCPU, Latency: &sum,
				})
			}
			l.lat.Reset()
			l.measuring = true
			prev = s
			interval++
			if interval == cfg.Intervals {
				break
			}
			boundary = s.t + int64(cfg.Interval)
			now = l.now()
		}
		// Send every message whose time has come.
		for {
			at := t0 + int64(float64(m)*period)
			if at > now {
				break
			}
			j := int(m % uint64(cfg.Senders))
			k := l.senders[j]
			seq := m / uint64(cfg.Senders)
			msg := "PRIVMSG #c" + strconv.Itoa(k.ch) + " :" + strconv.Itoa(j) + " " + strconv.FormatUint(seq, 10) + " " + strconv.FormatInt(at, 10) + "\r\n"
			if err := l.write(k, []byte(msg)); err != nil {
				return err
			}
			if len(k.out) > 1<<20 {
				return fmt.Errorf("irc load: sender %d has 1 MiB unsent: the server does not read it", j)
			}
			m++
			l.sent++
			l.expected += uint64(l.members[k.ch] - 1)
		}
		if l.delivered < l.expected && now-l.lastLine > int64(cfg.StallTimeout) {
			return fmt.Errorf("irc load: no line for %v with %d deliveries due: the server stalled", cfg.StallTimeout, l.expected-l.delivered)
		}
		next := t0 + int64(float64(m)*period)
		if err := l.step(min(boundary, next, now+int64(cfg.StallTimeout))); err != nil {
			return fmt.Errorf("irc load: %w", err)
		}
	}
	l.measuring = false
	lat := l.latAll.Summary()
	res.Latency = &lat
	// Drain: every delivery due must arrive.
	start := l.now()
	for l.delivered < l.expected {
		now := l.now()
		if now-l.lastLine > int64(cfg.StallTimeout) || now-start > int64(time.Minute) {
			return fmt.Errorf("irc load: draining: %d of %d deliveries arrived", l.delivered, l.expected)
		}
		if err := l.step(now + int64(cfg.StallTimeout)/4); err != nil {
			return fmt.Errorf("irc load: draining: %w", err)
		}
	}
	return nil
}
