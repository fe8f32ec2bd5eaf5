//go:build linux

package harness

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/models"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// RunSweep is the second part of the server study: every model at every
// session count of p.Conns, in increasing order. At each count:
//
//  1. model after model, a fresh server is started and its memory read
//     before any connection; the load generator opens the count's
//     connections with one exchange each, and the server's memory is read
//     again (memory per session); server and connections stay up, idle;
//  2. the closed-loop row runs for every model, back to back, each on its
//     own connections;
//  3. the equal-load rate is chosen from the closed-loop rows (EqualRate),
//     or p.FixedRate is used, and the open-loop row at that rate runs for
//     every model, back to back; then every server and client ends.
//
// So each row is measured for every model seconds apart, every row of a
// count with the same connections open on the machine (every model's, the
// idle ones included), and one set-up per model and count serves all three
// readings (at 10,000 connections the set-up costs more than a row). rs
// holds the models' results from RunChecks: a model that failed its check
// or was skipped is not measured. The rates chosen are appended to p.Rates.
func RunSweep(ms []models.Model, p *Plan, rs []ModelResult, doing, step func(string)) {
	for _, c := range p.Conns {
		sweepCount(ms, p, rs, c, doing, step)
	}
}

// point is one model's server and client at one count, up from the memory
// reading to the equal-load row.
type point struct {
	s      *Server
	cl     *Client
	failed string // why the rows after a failed one are not measured
}

func (pt *point) close() {
	if pt.cl != nil {
		pt.cl.Close()
	}
	pt.s.Stop()
}

func sweepCount(ms []models.Model, p *Plan, rs []ModelResult, c int, doing, step func(string)) {
	pts := make([]*point, len(ms))
	defer func() {
		for _, pt := range pts {
			if pt != nil {
				pt.close()
			}
		}
	}()
	// each runs row for every model measured at this count (one that failed
	// its check, was skipped or failed at this count is not) and reports
	// the step, named after what, for every model.
	each := func(what string, row func(i int, m models.Model, r *ModelResult)) {
		for i, m := range ms {
			name := fmt.Sprintf("%s: %d conns: %s", m.Name, c, what)
			if rs[i].Skipped == "" && rs[i].Error == "" {
				doing(name)
				row(i, m, &rs[i])
			}
			step(name)
		}
	}

	each("connect, memory", func(i int, m models.Model, r *ModelResult) {
		if why := p.limit(m, c); why != "" {
			r.Memory = append(r.Memory, Memory{Conns: c, Limit: why})
			return
		}
		var mem Memory
		pts[i], mem = openPoint(m, *p, c, r)
		r.Memory = append(r.Memory, mem)
	})

	each("closed loop", func(i int, _ models.Model, r *ModelResult) {
		r.Closed = append(r.Closed, pointRow(pts[i], *p, c, loadgen.Closed, 0, r))
	})

	rate := Rate{Conns: c, Rate: p.FixedRate}
	if rate.Rate == 0 {
		rate.Rate, rate.SetBy, rate.TooSlow = EqualRate(rs, c, p.RateFraction)
	}
	p.Rates = append(p.Rates, rate)

	each("equal load", func(i int, _ models.Model, r *ModelResult) {
		r.Equal = append(r.Equal, pointRow(pts[i], *p, c, loadgen.Open, rate.Rate, r))
	})
}

// openPoint starts model m's server, reads its memory, lets the client open
// c connections with one exchange each, and reads the memory again. It
// returns the point, up and idle, or nil if it failed (the error is in the
// memory row, or the limit if the model cannot hold c connections).
func openPoint(m models.Model, p Plan, c int, r *ModelResult) (*point, Memory) {
	mem := Memory{Conns: c}
	s, err := StartServer(m, c)
	if err != nil {
		mem.Error = err.Error()
		return nil, mem
	}
	pt := &point{s: s}
	r.ServerCPUs = s.CPUs
	fail := func(err error) (*point, Memory) {
		mem.Error = withStderr(err, s)
		pt.close()
		return nil, mem
	}
	// Baseline: the main process alone. For the process pool that leaves
	// the pre-started workers out, so their whole cost is charged to the
	// connections they exist for.
	base, err := rawsys.Memory(s.Pid)
	if err != nil {
		return fail(err)
	}
	pids, err := s.PIDs()
	if err != nil {
		return fail(err)
	}
	mem.Baseline = base.AnonPSS
	if pt.cl, err = StartClient(loadgen.Config{Addr: s.Addr, Conns: c, ServerPIDs: pids}); err != nil {
		return fail(err)
	}
	r.ClientCPUs = pt.cl.Setup.ClientCPUs
	// Let the server finish what the first exchanges started.
	time.Sleep(p.Settle)
	if err := readMemory(s, base, &mem); err != nil {
		return fail(err)
	}
	if err := s.Alive(); err != nil {
		return fail(err)
	}
	return pt, mem
}

// readMemory reads the memory of all of the server's processes into mem.
func readMemory(s *Server, base rawsys.Mem, mem *Memory) error {
	pids, err := s.PIDs()
	if err != nil {
		return err
	}
	var loaded rawsys.Mem
	for _, pid := range pids {
		pm, err := rawsys.Memory(pid)
		if err != nil {
			return fmt.Errorf("memory of server process %d: %w", pid, err)
		}
		loaded.PSS += pm.PSS
		loaded.RSS += pm.RSS
		loaded.AnonPSS += pm.AnonPSS
	}
	n := int64(mem.Conns)
	mem.Processes = len(pids)
	mem.AnonPSS, mem.PSS, mem.RSS = loaded.AnonPSS, loaded.PSS, loaded.RSS
	mem.PerConn = (loaded.AnonPSS - base.AnonPSS) / n
	mem.RSSPer = (loaded.RSS - base.RSS) / n
	return nil
}

// pointRow runs a closed-loop row, or an open-loop row at rate, on the
// point's connections. Without a point the memory row says why: the row
// repeats it.
func pointRow(pt *point, p Plan, c int, mode loadgen.Mode, rate float64, r *ModelResult) Load {
	l := Load{Conns: c}
	if mode == loadgen.Open {
		l.OfferedRate = rate
	}
	if pt == nil {
		if _, _, mem := r.At(c); mem != nil && mem.Limit != "" {
			l.Limit = mem.Limit
		} else {
			l.Limit = "not measured: the set-up failed (see the memory row)"
		}
		return l
	}
	if pt.failed != "" {
		l.Limit = "not measured: " + pt.failed
		return l
	}
	if mode == loadgen.Open && rate <= 0 {
		l.Limit = "no equal-load rate: no closed-loop row at this count served a request"
		return l
	}
	cfg := loadgen.Config{Mode: mode, Conns: c, Rate: rate, Order: p.Order, Seed: p.Seed, Warmup: p.Warmup, Interval: p.Interval, Intervals: p.Intervals}
	err := pt.s.Alive()
	var res loadgen.Result
	if err == nil {
		res, err = pt.cl.Measure(cfg)
	}
	if err == nil {
		err = pt.s.Alive()
	}
	switch {
	case err != nil && mode == loadgen.Open && strings.Contains(err.Error(), loadgen.ErrOverCapacity.Error()):
		l.Limit = fmt.Sprintf("over capacity: could not keep up with %.0f requests/s: %s", rate, trimError(err.Error()))
		pt.failed = "the load generator ended"
		return l
	case err != nil:
		l.Error = withStderr(err, pt.s)
		pt.failed = "the " + string(mode) + " row failed"
		return l
	}
	return summarize(cfg, res)
}

// trimError keeps the load generator's own sentence of an error.
func trimError(s string) string {
	if i := strings.LastIndex(s, "loadgen: "); i >= 0 {
		s = s[i+len("loadgen: "):]
	}
	return strings.TrimSpace(s)
}

// slowFactor bounds who sets the equal-load rate: a model whose closed-loop
// throughput at a count is below 1/slowFactor of the median model's does
// not (see EqualRate).
const slowFactor = 4

// EqualRate picks the equal-load rate at conns connections: frac of the
// lowest closed-loop throughput measured there, so that every model runs
// below its capacity, rounded down to two significant digits; it returns 0
// when no model has that row with a throughput above 0 (a server whose CPU
// other work took for the whole row). The second result names the model that set
// it. A model more than slowFactor times slower than the median does not
// set it (a pool of 1,000 processes serves ~2,000 requests/s where the
// others serve 60,000: at its rate the others would idle, and their cost
// per request would be that of waking up); such models are returned third,
// and are measured at the rate if they can sustain it.
func EqualRate(rs []ModelResult, conns int, frac float64) (float64, string, []string) {
	type cand struct {
		name string
		rate float64
	}
	var cs []cand
	for i := range rs {
		if l, _, _ := rs[i].At(conns); l != nil && l.Rate.Median > 0 && l.Error == "" && l.Limit == "" {
			cs = append(cs, cand{rs[i].Model, l.Rate.Median})
		}
	}
	if len(cs) == 0 {
		return 0, "", nil
	}
	rates := make([]float64, len(cs))
	for i, c := range cs {
		rates[i] = c.rate
	}
	median := StatOf(rates).Median
	low, who := math.Inf(1), ""
	var slow []string
	for _, c := range cs {
		switch {
		case c.rate*slowFactor < median:
			slow = append(slow, c.name)
		case c.rate < low:
			low, who = c.rate, c.name
		}
	}
	v := frac * low
	mag := math.Pow(10, math.Floor(math.Log10(v))-1)
	slices.Sort(slow)
	return math.Floor(v/mag) * mag, who, slow
}
