package prefork

import (
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/coopgo/coop/sched"
)

// Mode says how the workers share a listening address.
type Mode int

const (
	// ReusePort gives every scheduler of every worker slot a socket of
	// its own, bound to the address with SO_REUSEPORT and owned by the
	// master: the kernel spreads connections evenly among them, and a
	// slot's sockets — with their accept queues — outlive the worker that
	// serves them, so nothing queued is lost when it is replaced.
	ReusePort Mode = iota
	// Shared gives every worker the same socket, which each scheduler
	// registers with EPOLLEXCLUSIVE: a connection wakes one acceptor, not
	// all. The kernel wakes the acceptor that waited last, so an idle
	// pool serves most connections from one worker (unicorn's and
	// pitchfork's behaviour); use it where slots must not hold
	// connections a worker has not taken, or for Unix sockets.
	Shared
)

func (m Mode) String() string {
	switch m {
	case ReusePort:
		return "reuseport"
	case Shared:
		return "shared"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// A Listen names an address the master listens on.
type Listen struct {
	// Name identifies the listener to the workers (Worker.Listeners) and
	// matches systemd's FileDescriptorName= (LISTEN_FDNAMES). Names must
	// be unique; empty means the Address.
	Name string
	// Network is "tcp", "tcp4", "tcp6" or "unix".
	Network string
	// Address is what to bind, as for net.Listen.
	Address string
}

func (l Listen) name() string {
	if l.Name != "" {
		return l.Name
	}
	return l.Address
}

// Load selects what the adaptive pool measures.
type Load int

const (
	// LoadBusy measures each worker's schedulers' CPU time: a worker
	// whose threads ran 60% of the last interval carries 0.6 of a
	// worker's load.
	LoadBusy Load = iota
	// LoadConns measures connections in flight over Config.ConnsPerWorker:
	// with ConnsPerWorker 1, Apache 1.3's one connection per process.
	LoadConns
)

// An Rlimit is a resource limit set in each worker before it runs the
// user's function, as setrlimit(2) takes it.
type Rlimit struct {
	Resource int // unix.RLIMIT_NOFILE, ...
	Cur, Max uint64
}

// Config configures a pool. The zero value of every field but Listen and
// Serve means its documented default.
type Config struct {
	// Listen lists the addresses the master listens on (or takes over
	// from systemd's socket activation, by name). At least one.
	Listen []Listen

	// Serve runs in each worker, on the worker's main goroutine, while
	// the worker's scheduler group runs: it typically builds a
	// netio.Server and calls Worker.Serve. Its return ends the worker:
	// nil is a clean exit, an error is logged and makes the exit a
	// failure.
	Serve func(w *Worker) error

	// Workers is the size of a fixed pool: the number of slots. The
	// default is runtime.NumCPU() divided by Cores (none in an ondemand
	// pool, see MinWorkers).
	Workers int
	// MinWorkers and MaxWorkers make the pool adaptive when MaxWorkers >
	// MinWorkers: it starts with Workers (clamped to the range) and adds
	// or retires workers so that the spare capacity — workers' worth of
	// load not used — stays between MinSpare and MaxSpare, as Apache's
	// Min/MaxSpareServers and PHP-FPM's dynamic mode do.
	//
	// MinWorkers 0 (with MaxWorkers ≥ 1) is the ondemand pool, PHP-FPM's
	// pm = ondemand: it starts with Workers workers (default none) and
	// idles at zero. With no worker the master watches the listening
	// sockets — it never accepts: the connection waits in the accept
	// queue — and starts a worker when a connection is queued; a worker
	// with no connection for IdleTimeout is retired, down to none.
	// Between one worker and MaxWorkers it adapts as above.
	MinWorkers, MaxWorkers int
	// IdleTimeout is how long a worker of an ondemand pool may go with no
	// connection in flight and none accepted before it is retired
	// (default 10s, as PHP-FPM's pm.process_idle_timeout), give or take a
	// quarter of it.
	IdleTimeout time.Duration
	// MinSpare and MaxSpare bound the spare capacity, in workers. The
	// defaults are 0.5 and 1.5.
	MinSpare, MaxSpare float64
	// Load selects the measure of load (LoadBusy by default).
	Load Load
	// ConnsPerWorker is a worker's capacity for LoadConns.
	ConnsPerWorker int
	// ScaleInterval is how often the adaptive pool decides (default 1s);
	// it retires a worker only after ScaleInterval×5 of spare capacity
	// above MaxSpare.
	ScaleInterval time.Duration

	// Cores is the number of schedulers (OS threads) in each worker: 1
	// runs a sched.Scheduler, more a sched.Group — the seed's hybrid of
	// processes and event loops. Default 1.
	Cores int
	// Mode says how workers share the addresses (ReusePort by default;
	// Unix sockets are always Shared).
	Mode Mode
	// SchedOptions configure the workers' schedulers.
	SchedOptions []sched.Option

	// ReadyTimeout bounds a worker's start, from exec to Ready (default
	// 30s): a worker not ready by then is killed and counts as a failed
	// start.
	ReadyTimeout time.Duration
	// DrainTimeout bounds a graceful drain (default 30s): a worker
	// stops accepting, finishes its connections, and is closed (then
	// killed) when the time is up.
	DrainTimeout time.Duration
	// ReloadImmediate makes a reload or recycle close the old worker's
	// connections at once instead of draining them.
	ReloadImmediate bool
	// MaxSurge bounds how many slots are being replaced at once by a
	// reload, a recycle or a hang (default 1). A replacement starts
	// before its predecessor drains, so capacity never dips.
	MaxSurge int

	// BackoffMin and BackoffMax bound the per-slot delay before a worker
	// that failed is started again: it doubles, with ±20% jitter, from
	// BackoffMin (default 100ms) to BackoffMax (default 10s), and falls
	// back to none once a worker has been ready for StableAfter.
	BackoffMin, BackoffMax time.Duration
	// StableAfter is how long a worker must stay up for its slot's
	// back-off to reset (default 10s).
	StableAfter time.Duration
	// CrashLoop is the number of failed starts in a row that makes a slot
	// crash-looping (default 5): it is logged with the reason, the slot
	// waits BackoffMax between tries, and a reload that meets it stops
	// replacing workers, leaving the previous generation serving.
	CrashLoop int

	// MaxConns recycles a worker after it accepted this many connections
	// (0: never), give or take MaxConnsJitter (default 0.1: ±10%), so
	// that workers do not all recycle at once.
	MaxConns       int
	MaxConnsJitter float64
	// MaxAge recycles a worker this long after its start (0: never),
	// with the same jitter.
	MaxAge time.Duration
	// MaxRSS recycles a worker whose resident set exceeds this many
	// bytes (0: never).
	MaxRSS int64

	// HangTimeout is how long a worker's scheduler may go without a
	// heartbeat before the worker counts as hung (default 10s; negative:
	// no hang detection). The worker's schedulers also run sched's
	// watchdog at half this threshold, which logs the task holding the
	// thread with its stack. A hung worker is asked for a dump of all its
	// goroutines, replaced, and killed DumpWait later (default 1s).
	HangTimeout time.Duration
	DumpWait    time.Duration

	// User and Group, if set, are who the workers run as: the master
	// (root) binds, the workers drop to them before Serve runs. Chroot,
	// if set, is the directory each worker chroots into first. Rlimits
	// are set in each worker before it drops privileges.
	User, Group string
	Chroot      string
	Rlimits     []Rlimit
	// MemoryMax, if positive, puts each worker in a cgroup v2 of its own
	// with memory.max set to it, where cgroup v2 with the memory
	// controller is writable; elsewhere the limit is skipped and the log
	// says why.
	MemoryMax int64

	// ControlSocket, if set, is the path of a Unix socket (mode 0600) on
	// which the master answers status, reload, upgrade, scale and stop
	// (see Control and cmd/preforkctl).
	ControlSocket string
	// UpgradeTimeout bounds a binary upgrade (default 60s): a new master
	// whose workers are not all ready by then is killed, and the old
	// one goes on serving.
	UpgradeTimeout time.Duration
	// StopTimeout bounds a graceful stop (default DrainTimeout).
	StopTimeout time.Duration
	// StopDelay, if positive, is how long a graceful stop (SIGTERM,
	// SIGINT, the control socket's stop) keeps the workers accepting and
	// serving before they drain, with Worker.Draining reporting true: the
	// time a load balancer in front needs to see the health endpoint fail
	// and take the host out (its check interval times the failures it
	// counts, plus one interval), as netio.Server.Drain's delay. A reload
	// or a recycle does not wait: the successor serves already.
	StopDelay time.Duration

	// Args and Env say how the master executes the program again, for a
	// worker or for a new master (SIGUSR2): Args replaces os.Args
	// (Args[0] included: what the program sees as its name; the binary
	// executed is always this one, or its replacement on disk), and Env
	// is added to the master's environment (KEY=value; a KEY the
	// environment has is replaced). The defaults serve a program whose
	// main reaches Run whatever it is given. A program that dispatches on
	// its arguments or environment before it reaches Run — a subcommand,
	// a role named in a variable it removes once read, a test binary's
	// TestMain — sets them so that the new process takes the same path to
	// the same Run. Env may not set the pool's own variables
	// (COOP_PREFORK_*) or systemd's LISTEN_* ones.
	Args []string
	Env  []string

	// Logger receives the master's and the workers' reports; nil means
	// log.Default(). Workers write to the stderr they inherit from the
	// master.
	Logger *log.Logger
}

// withDefaults returns a copy of c with its defaults filled in, or an
// error naming the first bad field.
func (c *Config) withDefaults() (*Config, error) {
	if c == nil {
		return nil, errors.New("prefork: nil Config")
	}
	d := *c
	if len(d.Listen) == 0 {
		return nil, errors.New("prefork: Config.Listen is empty")
	}
	if d.Serve == nil {
		return nil, errors.New("prefork: Config.Serve is nil")
	}
	seen := map[string]bool{}
	for _, l := range d.Listen {
		switch l.Network {
		case "tcp", "tcp4", "tcp6", "unix":
		default:
			return nil, fmt.Errorf("prefork: listener %q: network %q: want tcp, tcp4, tcp6 or unix", l.name(), l.Network)
		}
		if seen[l.name()] {
			return nil, fmt.Errorf("prefork: two listeners named %q", l.name())
		}
		seen[l.name()] = true
	}
	if d.Args != nil && len(d.Args) == 0 {
		return nil, errors.New("prefork: Config.Args is empty: it needs at least the program's name (Args[0]), or nil for os.Args")
	}
	for _, kv := range d.Env {
		k, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
			return nil, fmt.Errorf("prefork: Config.Env: %q is not KEY=value", kv)
		case reservedEnv(k):
			return nil, fmt.Errorf("prefork: Config.Env: %s belongs to the pool (or to systemd)", k)
		}
	}
	if d.Cores == 0 {
		d.Cores = 1
	}
	if d.Cores < 1 || d.Cores > maxCores {
		return nil, fmt.Errorf("prefork: Cores %d: want 1 to %d", d.Cores, maxCores)
	}
	ondemand := d.MinWorkers == 0 && d.MaxWorkers > 0
	if d.Workers == 0 && !ondemand {
		d.Workers = max(runtime.NumCPU()/d.Cores, 1)
	}
	if d.MaxWorkers > 0 || d.MinWorkers > 0 {
		if d.MinWorkers < 0 || d.MaxWorkers < max(d.MinWorkers, 1) {
			return nil, fmt.Errorf("prefork: MinWorkers %d, MaxWorkers %d: want 0 ≤ min ≤ max, max ≥ 1", d.MinWorkers, d.MaxWorkers)
		}
		d.Workers = min(max(d.Workers, d.MinWorkers), d.MaxWorkers)
	} else {
		d.MinWorkers, d.MaxWorkers = d.Workers, d.Workers
	}
	lo := 1
	if ondemand {
		lo = 0
	}
	if d.Workers < lo || d.MaxWorkers > maxSlots {
		return nil, fmt.Errorf("prefork: %d workers: want %d to %d", d.Workers, lo, maxSlots)
	}
	if d.MinSpare == 0 && d.MaxSpare == 0 {
		d.MinSpare, d.MaxSpare = 0.5, 1.5
	}
	if d.MinSpare < 0 || d.MaxSpare <= d.MinSpare {
		return nil, fmt.Errorf("prefork: MinSpare %v, MaxSpare %v: want 0 ≤ min < max", d.MinSpare, d.MaxSpare)
	}
	if d.Load == LoadConns && d.ConnsPerWorker < 1 && d.MaxWorkers > d.MinWorkers {
		return nil, errors.New("prefork: LoadConns needs ConnsPerWorker ≥ 1")
	}
	setDur := func(p *time.Duration, def time.Duration) {
		if *p == 0 {
			*p = def
		}
	}
	setDur(&d.ScaleInterval, time.Second)
	setDur(&d.IdleTimeout, 10*time.Second)
	setDur(&d.ReadyTimeout, 30*time.Second)
	setDur(&d.DrainTimeout, 30*time.Second)
	setDur(&d.BackoffMin, 100*time.Millisecond)
	setDur(&d.BackoffMax, 10*time.Second)
	setDur(&d.StableAfter, 10*time.Second)
	setDur(&d.HangTimeout, 10*time.Second)
	setDur(&d.DumpWait, time.Second)
	setDur(&d.UpgradeTimeout, time.Minute)
	setDur(&d.StopTimeout, d.DrainTimeout)
	if d.BackoffMax < d.BackoffMin {
		return nil, fmt.Errorf("prefork: BackoffMax %v < BackoffMin %v", d.BackoffMax, d.BackoffMin)
	}
	if d.MaxSurge == 0 {
		d.MaxSurge = 1
	}
	if d.CrashLoop == 0 {
		d.CrashLoop = 5
	}
	if d.MaxConnsJitter == 0 {
		d.MaxConnsJitter = 0.1
	}
	if d.MaxSurge < 1 || d.CrashLoop < 1 || d.MaxConns < 0 || d.MaxAge < 0 || d.MaxRSS < 0 ||
		d.MaxConnsJitter < 0 || d.MaxConnsJitter >= 1 || d.MemoryMax < 0 || d.StopDelay < 0 || d.IdleTimeout < 0 {
		return nil, errors.New("prefork: a negative limit, or MaxConnsJitter outside [0, 1)")
	}
	if d.Logger == nil {
		d.Logger = log.Default()
	}
	return &d, nil
}

// ondemand reports whether the pool idles at zero workers (MinWorkers 0),
// once the defaults are in.
func (c *Config) ondemand() bool { return c.MinWorkers == 0 && c.MaxWorkers > 0 }

// reservedEnv reports whether the pool's processes must not inherit the
// variable k from their parent: the pool's own (a worker's spec, a new
// master's) and systemd's socket activation (for the master only).
func reservedEnv(k string) bool {
	switch k {
	case "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES":
		return true
	}
	return strings.HasPrefix(k, "COOP_PREFORK_")
}

// args returns the arguments of a re-execution (Config.Args).
func (c *Config) args() []string {
	if c.Args != nil {
		return c.Args
	}
	return os.Args
}

// Limits of the shared status page.
const (
	maxCores = 64
	maxSlots = 4096
)
