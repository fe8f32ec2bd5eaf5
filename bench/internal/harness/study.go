//go:build linux

package harness

import (
	"fmt"
	"slices"
	"time"

	"github.com/coopgo/coop/bench/internal/hist"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/models"
)

// Plan is what the server part of the study runs for every model.
type Plan struct {
	// Conns are the session counts of the sweep: at each, every model is
	// measured in closed loop, at equal load and for memory.
	Conns     []int         `json:"conns"`
	Warmup    time.Duration `json:"warmup_ns"`   // before every measured run
	Interval  time.Duration `json:"interval_ns"` // every measured interval
	Intervals int           `json:"intervals"`   // intervals per run: the repeats behind each median
	// RateFraction sets the equal-load rate at each count: this share of
	// the slowest model's closed-loop throughput there (see EqualRate).
	RateFraction float64 `json:"rate_fraction"`
	// FixedRate, if not 0, is the equal-load rate at every count instead
	// (the -rate flag).
	FixedRate float64 `json:"fixed_rate,omitempty"`
	// Order is the order in which the load generator's connections send
	// in the sweep's closed-loop and equal-load rows (loadgen.Config.Order;
	// "" is rotation, the default), and Seed seeds a random order.
	Order loadgen.Order `json:"order,omitempty"`
	Seed  uint64        `json:"seed,omitempty"`
	// Rates are the equal-load rates the run chose, one per count.
	Rates   []Rate `json:"rates,omitempty"`
	PoolCap int    `json:"pool_cap"` // most worker processes a pool model may start; 0: its own limit
	// NoFile is the descriptor limit the study's processes run with, and
	// NoFileWhy why it is below what the largest count needs ("" if not).
	NoFile    int    `json:"nofile"`
	NoFileWhy string `json:"nofile_why,omitempty"`
	// Settle is how long the memory reading waits after the last
	// connection's first exchange, for the server to finish its work.
	Settle      time.Duration `json:"settle_ns"`
	OpenConns   int           `json:"open_conns"`   // the count whose equal-load row is the latency table
	StreamConns int           `json:"stream_conns"` // streaming connections
	CheckConns  int           `json:"check_conns"`  // byte-exact check before timing
}

// Rate is the equal-load rate chosen at one count.
type Rate struct {
	Conns int     `json:"conns"`
	Rate  float64 `json:"rate"`
	// SetBy is the model whose closed-loop throughput set the rate ("" when
	// FixedRate set it); TooSlow are the models left out of the choice (see
	// EqualRate).
	SetBy   string   `json:"set_by,omitempty"`
	TooSlow []string `json:"too_slow,omitempty"`
}

// Stat is the median and range of a measurement's repeats.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// StatOf summarises xs.
func StatOf(xs []float64) Stat {
	if len(xs) == 0 {
		return Stat{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// Load is one measured run of the load generator against a model.
type Load struct {
	Conns int `json:"conns"`
	// Per interval: throughput, server CPU per request (µs; per MiB in
	// stream rows), and the CPU utilisation of server and client (1 = one
	// CPU busy all the time).
	Rate       Stat `json:"rate"` // requests/s, or MiB/s in stream rows
	CPUPerOp   Stat `json:"cpu_per_op_us"`
	ServerUtil Stat `json:"server_util"`
	ClientUtil Stat `json:"client_util"`
	// ClientPerOp is the load generator's own CPU per request (per MiB in
	// stream rows): it must stay below the servers' for the client not to
	// be what is measured.
	ClientPerOp Stat `json:"client_cpu_per_op_us"`
	// ClientBound is set when the client was busy ≥ 90% of the time: then
	// throughput is the client's limit and CPU per request is the figure
	// to read.
	ClientBound bool `json:"client_bound,omitempty"`
	// Open loop (equal load) only.
	OfferedRate float64       `json:"offered_rate,omitempty"`
	Latency     *hist.Summary `json:"latency,omitempty"`
	SendLag     *hist.Summary `json:"send_lag,omitempty"`
	P99         Stat          `json:"p99_us"` // per interval

	// SourceAddrs is the number of loopback source addresses the client
	// spread its connections over (1 unless the port range ran short).
	SourceAddrs int `json:"source_addrs,omitempty"`

	Limit string             `json:"limit,omitempty"` // the row was not run: why
	Error string             `json:"error,omitempty"`
	Raw   []loadgen.Interval `json:"intervals,omitempty"`
}

// Memory is a model's memory at one count.
type Memory struct {
	Conns     int `json:"conns"`
	Processes int `json:"processes"`
	// Anonymous PSS (heap, stacks, runtime metadata; see rawsys.Mem) of
	// the server's main process before any connection, and of all its
	// processes once each of Conns connections has made one exchange;
	// PSS and RSS of the latter.
	Baseline int64  `json:"baseline_anon_pss"`
	AnonPSS  int64  `json:"anon_pss"`
	PSS      int64  `json:"pss"`
	RSS      int64  `json:"rss"`
	PerConn  int64  `json:"anon_pss_per_conn"` // (AnonPSS - Baseline) / Conns
	RSSPer   int64  `json:"rss_per_conn"`      // (RSS - baseline RSS) / Conns, summed over processes
	Limit    string `json:"limit,omitempty"`
	Error    string `json:"error,omitempty"`
}

// ModelResult is everything measured for one model.
type ModelResult struct {
	Model      string `json:"model"`
	What       string `json:"what"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Skipped    string `json:"skipped,omitempty"`
	Error      string `json:"error,omitempty"` // the check failed: nothing was timed
	ServerCPUs string `json:"server_cpus,omitempty"`
	ClientCPUs string `json:"client_cpus,omitempty"`
	// The sweep, one entry per count of Plan.Conns: closed loop, equal
	// load (open loop at the count's rate), memory.
	Closed []Load   `json:"closed,omitempty"`
	Equal  []Load   `json:"equal,omitempty"`
	Memory []Memory `json:"memory_sweep,omitempty"`
	Stream *Load    `json:"stream,omitempty"`
}

// At returns the model's rows at conns connections (nil where missing).
func (r *ModelResult) At(conns int) (closed, equal *Load, mem *Memory) {
	for i := range r.Closed {
		if r.Closed[i].Conns == conns {
			closed = &r.Closed[i]
		}
	}
	for i := range r.Equal {
		if r.Equal[i].Conns == conns {
			equal = &r.Equal[i]
		}
	}
	for i := range r.Memory {
		if r.Memory[i].Conns == conns {
			mem = &r.Memory[i]
		}
	}
	return closed, equal, mem
}

// Steps is the number of progress steps the study's server part reports
// per model: the check and the stream row, then three per count of the
// sweep (set-up and memory, closed loop, equal load).
func (p Plan) Steps() int { return 2 + 3*len(p.Conns) }

// maxConns is the most connections model m may be given under plan p, and
// why; 0 means no limit.
func (p Plan) maxConns(m models.Model) (int, string) {
	switch {
	case m.MaxConns == 0:
		return 0, ""
	case p.PoolCap > 0 && p.PoolCap < m.MaxConns:
		return p.PoolCap, fmt.Sprintf("pool capped at %d processes in this mode (a Go process takes ~15-30 ms of CPU to start here); -full runs up to %d", p.PoolCap, m.MaxConns)
	default:
		return m.MaxConns, m.Limit
	}
}

// limit says why model m cannot be given conns connections here, or "":
// the plan's cap on a pool, what the machine lets the model hold, and the
// descriptors each side needs.
func (p Plan) limit(m models.Model, conns int) string {
	if max, why := p.maxConns(m); max > 0 && conns > max {
		return why
	}
	if m.Capacity != nil {
		if max, why := m.Capacity(); why != "" && conns > max {
			return why
		}
	}
	if p.NoFile > 0 && conns+descriptorMargin > p.NoFile {
		why := p.NoFileWhy
		if why == "" {
			why = fmt.Sprintf("RLIMIT_NOFILE is %d", p.NoFile)
		}
		return fmt.Sprintf("%d connections need %d descriptors in the server and in the client: %s", conns, conns+descriptorMargin, why)
	}
	return ""
}

// descriptorMargin is what a process needs besides its connections: the
// listener, epoll, pipes, the runtime's own.
const descriptorMargin = 256

// NoFileFor is the descriptor limit a plan needs in every process.
func (p Plan) NoFileFor() int {
	return slices.Max(append(slices.Clone(p.Conns), p.StreamConns, p.CheckConns)) + descriptorMargin
}

// session runs load against one server process of a model.
type session struct {
	m     models.Model
	p     Plan
	s     *Server
	limit int
	why   string
}

// start starts a fresh server for the model, sized for the largest row it
// will serve, and checks it byte-exact before anything is timed.
func start(m models.Model, p Plan, conns ...int) (*session, error) {
	ss := &session{m: m, p: p}
	ss.limit, ss.why = p.maxConns(m)
	size := slices.Max(append(conns, p.CheckConns))
	if ss.limit > 0 {
		size = min(size, ss.limit)
	}
	if m.PerRowServer {
		size = slices.Max(conns) // a pool exactly as large as its row
	}
	s, err := StartServer(m, size)
	if err != nil {
		return nil, err
	}
	ss.s = s
	check := min(p.CheckConns, size)
	if err := Verify(s, check); err != nil {
		s.Stop()
		return nil, err
	}
	return ss, nil
}

func (ss *session) run(r *ModelResult, cfg loadgen.Config) Load {
	l := Load{Conns: cfg.Conns}
	if ss.limit > 0 && cfg.Conns > ss.limit {
		l.Limit = ss.why
		return l
	}
	s := ss.s
	pids, err := s.PIDs()
	if err == nil {
		cfg.Addr, cfg.ServerPIDs, cfg.Warmup = s.Addr, pids, ss.p.Warmup
		var res loadgen.Result
		res, err = RunLoad(cfg, nil)
		if err == nil {
			err = s.Alive()
		}
		if err == nil {
			r.ClientCPUs = res.ClientCPUs
			l = summarize(cfg, res)
		}
	}
	if err != nil {
		l.Error = withStderr(err, s)
	}
	return l
}

// withStderr is err's text followed by what the server said on stderr.
func withStderr(err error, s *Server) string {
	msg := err.Error()
	if serr := s.Stderr(); serr != "" {
		msg += "; server stderr: " + serr
	}
	return msg
}

// RunChecks is the first part of the server study: every model's server is
// started and checked byte-exact (many connections, streaming, odd sizes
// to 1 MiB), then the streaming row is measured for every model back to
// back, with every server up (pinned to the server CPU; an idle one costs
// nothing there). On a shared VM the machine's speed drifts by tens of
// percent over minutes: measuring the models' rows back to back, seconds
// apart, lets them meet the same drift, so "vs epoll" compares like with
// like. A process pool is sized by its connection count, and its idle
// workers are part of its cost: it gets a fresh pool for its row. A model
// that fails its check is not measured any further.
//
// doing names the step in progress and step is called after each step
// with its name, for the progress bar. Failures are recorded in the
// results, row by row; a row never disappears.
func RunChecks(ms []models.Model, p Plan, doing, step func(string)) []ModelResult {
	rs := make([]ModelResult, len(ms))
	shared := make([]*session, len(ms)) // nil for a pool: a server per row
	defer func() {
		for _, ss := range shared {
			if ss != nil {
				ss.s.Stop()
			}
		}
	}()
	for i, m := range ms {
		r := &rs[i]
		*r = ModelResult{Model: m.Name, What: m.What, GOMAXPROCS: m.GOMAXPROCS}
		switch {
		case m.Serve == nil:
			r.Skipped = m.Skip
			step(m.Name + ": skipped")
			continue
		case m.PerRowServer:
			step(m.Name + ": a fresh, checked server per row")
			continue
		}
		doing(m.Name + ": start and check")
		ss, err := start(m, p, p.StreamConns)
		step(m.Name + ": check")
		if err != nil {
			r.Error = err.Error()
			continue
		}
		shared[i] = ss
		r.ServerCPUs = ss.s.CPUs
	}
	for i, m := range ms {
		r := &rs[i]
		if r.Skipped != "" || r.Error != "" {
			step(m.Name + ": streaming not measured")
			continue
		}
		doing(m.Name + ": streaming")
		ss := shared[i]
		if ss == nil {
			var err error
			if ss, err = start(m, p, p.StreamConns); err != nil {
				r.Error = err.Error()
				step(m.Name + ": streaming")
				continue
			}
			r.ServerCPUs = ss.s.CPUs
		}
		stream := ss.run(r, loadgen.Config{Mode: loadgen.Stream, Conns: p.StreamConns, Interval: p.Interval, Intervals: p.Intervals})
		if shared[i] == nil {
			ss.s.Stop()
		}
		r.Stream = &stream
		step(m.Name + ": streaming")
	}
	return rs
}

func summarize(cfg loadgen.Config, res loadgen.Result) Load {
	l := Load{Conns: cfg.Conns, Raw: res.Intervals, Latency: res.Latency, SendLag: res.SendLag}
	var rate, cpu, ccpu, su, cu, p99 []float64
	for _, iv := range res.Intervals {
		wall := iv.Wall.Seconds()
		ops := float64(iv.Requests)
		if cfg.Mode == loadgen.Stream {
			ops = float64(iv.Bytes) / (1 << 20) // MiB
		}
		rate = append(rate, ops/wall)
		if ops > 0 {
			cpu = append(cpu, float64(iv.ServerCPU)/1e3/ops)
			ccpu = append(ccpu, float64(iv.ClientCPU)/1e3/ops)
		}
		su = append(su, iv.ServerCPU.Seconds()/wall)
		cu = append(cu, iv.ClientCPU.Seconds()/wall)
		if iv.Latency != nil {
			p99 = append(p99, float64(iv.Latency.P99)/1e3)
		}
	}
	l.Rate, l.CPUPerOp, l.ClientPerOp, l.ServerUtil, l.ClientUtil, l.P99 = StatOf(rate), StatOf(cpu), StatOf(ccpu), StatOf(su), StatOf(cu), StatOf(p99)
	l.SourceAddrs = res.SourceAddrs
	l.ClientBound = l.ClientUtil.Median >= 0.9
	if cfg.Mode == loadgen.Open {
		l.OfferedRate = cfg.Rate
	}
	return l
}
