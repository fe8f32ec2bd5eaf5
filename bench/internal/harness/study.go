package harness

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/coopgo/coop/bench/internal/hist"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/models"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// Plan is what the server part of the study runs for every model.
type Plan struct {
	Conns       []int         `json:"conns"`          // closed-loop rows
	Warmup      time.Duration `json:"warmup_ns"`      // before every measured run
	Interval    time.Duration `json:"interval_ns"`    // closed-loop and stream intervals
	Intervals   int           `json:"intervals"`      // intervals per run: the repeats behind each median
	OpenRate    float64       `json:"open_rate"`      // open loop: requests/s, the same for every model (see OpenRate)
	RateNote    string        `json:"rate_note"`      // how OpenRate was chosen
	PoolCap     int           `json:"pool_cap"`       // most worker processes a pool model may start; 0: its own limit
	OpenConns   int           `json:"open_conns"`     // open loop connections
	OpenWindow  time.Duration `json:"open_window_ns"` // open loop interval
	StreamConns int           `json:"stream_conns"`   // streaming connections
	IdleConns   int           `json:"idle_conns"`     // memory row
	CheckConns  int           `json:"check_conns"`    // byte-exact check before timing
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
	// ClientBound is set when the client was busy ≥ 90% of the time: then
	// throughput is the client's limit and CPU per request is the figure
	// to read.
	ClientBound bool `json:"client_bound,omitempty"`
	// Open loop only.
	OfferedRate float64       `json:"offered_rate,omitempty"`
	Latency     *hist.Summary `json:"latency,omitempty"`
	SendLag     *hist.Summary `json:"send_lag,omitempty"`
	P99         Stat          `json:"p99_us"` // per interval

	Limit string             `json:"limit,omitempty"` // the row was not run: why
	Error string             `json:"error,omitempty"`
	Raw   []loadgen.Interval `json:"intervals,omitempty"`
}

// Memory is the memory row of a model.
type Memory struct {
	Conns     int `json:"conns"`
	Processes int `json:"processes"`
	// Anonymous PSS (heap, stacks, runtime metadata; see rawsys.Mem) of
	// the server's main process before any connection, and of all its
	// processes at Conns idle connections; PSS and RSS of the latter.
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
	Model      string  `json:"model"`
	What       string  `json:"what"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	Skipped    string  `json:"skipped,omitempty"`
	Error      string  `json:"error,omitempty"` // the check failed: nothing was timed
	ServerCPUs string  `json:"server_cpus,omitempty"`
	ClientCPUs string  `json:"client_cpus,omitempty"`
	Closed     []Load  `json:"closed,omitempty"`
	Open       *Load   `json:"open,omitempty"`
	Stream     *Load   `json:"stream,omitempty"`
	Memory     *Memory `json:"memory,omitempty"`
}

// Steps is the number of progress steps the three phases report per model.
func (p Plan) Steps() int { return 1 + len(p.Conns) + 1 + 1 + 1 }

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
		l.Error = err.Error()
		if serr := s.Stderr(); serr != "" {
			l.Error += "; server stderr: " + serr
		}
	}
	return l
}

// RunLoadRows is the first phase for a set of models: the byte-exact
// check, the closed-loop rows and the streaming row. Every model's server
// is started and checked first and all stay up (pinned to the server CPU;
// an idle one costs nothing there); then each row is measured for every
// model in turn before the next row. On a shared VM the machine's speed
// drifts by tens of percent over minutes: measuring the models' rows back
// to back, seconds apart, lets them meet the same drift, so "vs epoll"
// compares like with like. A process pool is sized by its connection
// count, and its idle workers are part of its cost: each of its rows gets
// a fresh pool of its own size.
//
// doing names the step in progress and step is called after each step
// with its name, for the progress bar. Failures are recorded in the
// results, row by row; a row never disappears.
func RunLoadRows(ms []models.Model, p Plan, doing, step func(string)) []ModelResult {
	rs := make([]ModelResult, len(ms))
	shared := make([]*session, len(ms)) // nil for a pool: a server per row
	timed := make([]bool, len(ms))
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
			for range 1 + len(p.Conns) + 1 {
				step(m.Name + ": skipped")
			}
			continue
		case m.PerRowServer:
			timed[i] = true
			step(m.Name + ": a fresh, checked server per row")
			continue
		}
		doing(m.Name + ": start and check")
		ss, err := start(m, p, append(slices.Clone(p.Conns), p.StreamConns)...)
		step(m.Name + ": check")
		if err != nil {
			r.Error = err.Error()
			for range len(p.Conns) + 1 {
				step(m.Name + ": not timed")
			}
			continue
		}
		shared[i], timed[i] = ss, true
		r.ServerCPUs = ss.s.CPUs
	}
	row := func(i int, cfg loadgen.Config) Load {
		m, r := ms[i], &rs[i]
		if limit, why := p.maxConns(m); limit > 0 && cfg.Conns > limit {
			return Load{Conns: cfg.Conns, Limit: why}
		}
		ss := shared[i]
		if ss == nil {
			var err error
			if ss, err = start(m, p, cfg.Conns); err != nil {
				return Load{Conns: cfg.Conns, Error: err.Error()}
			}
			defer ss.s.Stop()
		}
		r.ServerCPUs = ss.s.CPUs
		return ss.run(r, cfg)
	}
	for _, c := range p.Conns {
		for i, m := range ms {
			if !timed[i] {
				continue
			}
			name := fmt.Sprintf("%s: closed loop, %d conns", m.Name, c)
			doing(name)
			rs[i].Closed = append(rs[i].Closed, row(i, loadgen.Config{Mode: loadgen.Closed, Conns: c, Interval: p.Interval, Intervals: p.Intervals}))
			step(name)
		}
	}
	for i, m := range ms {
		if !timed[i] {
			continue
		}
		doing(m.Name + ": streaming")
		stream := row(i, loadgen.Config{Mode: loadgen.Stream, Conns: p.StreamConns, Interval: p.Interval, Intervals: p.Intervals})
		rs[i].Stream = &stream
		step(m.Name + ": streaming")
	}
	return rs
}

// OpenRate picks the open-loop rate for every model: frac of the lowest
// closed-loop throughput measured at p.OpenConns connections, so that every
// model runs below its capacity, rounded down to two significant digits. It
// returns 0 when no model has that row. The second result names the model.
func OpenRate(rs []ModelResult, p Plan, frac float64) (float64, string) {
	low, who := 0.0, ""
	for _, r := range rs {
		for _, l := range r.Closed {
			if l.Conns == p.OpenConns && l.Rate.N > 0 && (who == "" || l.Rate.Median < low) {
				low, who = l.Rate.Median, r.Model
			}
		}
	}
	if who == "" {
		return 0, ""
	}
	v := frac * low
	mag := math.Pow(10, math.Floor(math.Log10(v))-1)
	return math.Floor(v/mag) * mag, who
}

// RunOpen is the second phase for a model: the open-loop row at the rate
// every model gets, on a fresh server process, checked first.
func RunOpen(m models.Model, p Plan, r *ModelResult, step func(string)) {
	defer step(m.Name + ": open loop")
	if r.Skipped != "" || r.Error != "" {
		return
	}
	l := Load{Conns: p.OpenConns}
	ss, err := start(m, p, p.OpenConns)
	if err != nil {
		l.Error = err.Error()
		r.Open = &l
		return
	}
	defer ss.s.Stop()
	l = ss.run(r, loadgen.Config{Mode: loadgen.Open, Conns: p.OpenConns, Rate: p.OpenRate, Interval: p.OpenWindow, Intervals: p.Intervals})
	r.Open = &l
}

// RunMemory is the third phase for a model: memory per idle connection, on
// a fresh server process.
func RunMemory(m models.Model, p Plan, r *ModelResult, step func(string)) {
	defer step(m.Name + ": memory")
	if r.Skipped != "" || r.Error != "" {
		return
	}
	r.Memory = measureMemory(m, p)
}

func summarize(cfg loadgen.Config, res loadgen.Result) Load {
	l := Load{Conns: cfg.Conns, Raw: res.Intervals, Latency: res.Latency, SendLag: res.SendLag}
	var rate, cpu, su, cu, p99 []float64
	for _, iv := range res.Intervals {
		wall := iv.Wall.Seconds()
		ops := float64(iv.Requests)
		if cfg.Mode == loadgen.Stream {
			ops = float64(iv.Bytes) / (1 << 20) // MiB
		}
		rate = append(rate, ops/wall)
		if ops > 0 {
			cpu = append(cpu, float64(iv.ServerCPU)/1e3/ops)
		}
		su = append(su, iv.ServerCPU.Seconds()/wall)
		cu = append(cu, iv.ClientCPU.Seconds()/wall)
		if iv.Latency != nil {
			p99 = append(p99, float64(iv.Latency.P99)/1e3)
		}
	}
	l.Rate, l.CPUPerOp, l.ServerUtil, l.ClientUtil, l.P99 = StatOf(rate), StatOf(cpu), StatOf(su), StatOf(cu), StatOf(p99)
	l.ClientBound = l.ClientUtil.Median >= 0.9
	if cfg.Mode == loadgen.Open {
		l.OfferedRate = cfg.Rate
	}
	return l
}

// measureMemory starts a fresh server, reads its main process's memory
// before any connection, opens n idle connections (each checked with one
// echo, so per-connection state exists), and reads the memory of all of
// the server's processes while they are held.
func measureMemory(m models.Model, p Plan) *Memory {
	n := p.IdleConns
	mem := &Memory{Conns: n}
	if limit, why := p.maxConns(m); limit > 0 && n > limit {
		mem.Limit = fmt.Sprintf("%s; measured at %d", why, limit)
		n = limit
		mem.Conns = n
	}
	fail := func(err error) *Memory {
		mem.Error = err.Error()
		return mem
	}
	s, err := StartServer(m, n)
	if err != nil {
		return fail(err)
	}
	defer s.Stop()
	// Baseline: the main process alone. For the process pool that leaves
	// the pre-started workers out, so their whole cost is charged to the
	// connections they exist for.
	base, err := rawsys.Memory(s.Pid)
	if err != nil {
		return fail(err)
	}
	mem.Baseline = base.AnonPSS
	var loaded rawsys.Mem
	hold := func() error {
		// Let the server finish what the last checks started.
		time.Sleep(200 * time.Millisecond)
		pids, err := s.PIDs()
		if err != nil {
			return err
		}
		mem.Processes = len(pids)
		for _, pid := range pids {
			pm, err := rawsys.Memory(pid)
			if err != nil {
				return fmt.Errorf("memory of server process %d: %w", pid, err)
			}
			loaded.PSS += pm.PSS
			loaded.RSS += pm.RSS
			loaded.AnonPSS += pm.AnonPSS
		}
		return nil
	}
	if _, err := RunLoad(loadgen.Config{Mode: loadgen.Idle, Addr: s.Addr, Conns: n}, hold); err != nil {
		return fail(err)
	}
	if err := s.Alive(); err != nil {
		return fail(err)
	}
	mem.AnonPSS, mem.PSS, mem.RSS = loaded.AnonPSS, loaded.PSS, loaded.RSS
	mem.PerConn = (loaded.AnonPSS - base.AnonPSS) / int64(n)
	mem.RSSPer = (loaded.RSS - base.RSS) / int64(n)
	return mem
}
