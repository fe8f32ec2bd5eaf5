//go:build linux

// Command pairs measures server models of the study against a baseline in
// interleaved rounds, for same-run ratios that a single study run cannot
// settle: each model's server (pinned to CPU 0) and its own load generator
// (CPU 1, session mode) stay up for the whole run, and every round measures
// every model back to back, seconds apart, alternating the models' order
// from one round to the next. A round measures, for each loop mode
// (closed, then open at one rate) and each send order (rotation, random),
// every model once; the ratio of each model's server CPU per request to the
// baseline's in the same round is one pair.
//
//	go -C bench run ./cmd/pairs -conns 10000 -models epoll,coop-task,coop-ready -rounds 5
//
// A model named NAME@PATH runs model NAME from another build of a bench
// binary (this command built from a branch, say) at PATH, so that a
// branch's server is measured against this build's in the same rounds:
//
//	go -C bench run ./cmd/pairs -models epoll,coop-ready,coop-ready@/tmp/pairs-branch
//
// The first model named is the baseline. The open loop's rate is -rate,
// or else -rate-frac of the lowest closed-loop throughput of the first
// round; on a VM whose speed drifts, one slow row sets that low, so give
// -rate (about 80% of the baseline's closed-loop throughput is high load).
// A measurement that fails (a model that cannot keep up with the rate)
// leaves its round without a pair, and that model gets a fresh client.
// The null system call (the study's ladder row) is measured before and
// after. It prints one line per measurement on stderr and the summary on
// stdout; -json writes every measurement.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/ladder"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/models"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

func main() {
	child.Main()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		child.KillAll() // no server or client outlives the command
		os.Exit(130)
	}()
	os.Exit(run(os.Args[1:], os.Stdout))
}

// row is one measurement.
type row struct {
	Round   int           `json:"round"`
	Mode    loadgen.Mode  `json:"mode"`
	Order   loadgen.Order `json:"order"`
	Model   string        `json:"model"`
	Rate    float64       `json:"rate"`       // requests/s served
	CPU     float64       `json:"cpu_us"`     // server CPU µs per request, all intervals
	User    float64       `json:"user_share"` // user share of the server's CPU (/proc ticks, whole measurement)
	Client  float64       `json:"client_util"`
	Offered float64       `json:"offered,omitempty"`
	// Open loop: reply latency over the measured intervals, and the
	// client's own lag behind its send schedule (a lagging client, not
	// the server, is what a p99 lag near the latency points to).
	P50    float64 `json:"p50_us,omitempty"`
	P99    float64 `json:"p99_us,omitempty"`
	LagP99 float64 `json:"send_lag_p99_us,omitempty"`
}

func run(args []string, stdout io.Writer) int {
	flag := flag.NewFlagSet("pairs", flag.ContinueOnError)
	modelsFlag := flag.String("models", "epoll,coop-task,coop-ready", "comma-separated server models; the first is the baseline")
	conns := flag.Int("conns", 1000, "connections per model")
	rounds := flag.Int("rounds", 5, "rounds")
	modesFlag := flag.String("modes", "closed,open", "loop modes, in this order in each round")
	ordersFlag := flag.String("orders", "rotation,random", "send orders; their order alternates from round to round")
	rate := flag.Float64("rate", 0, "open-loop rate, requests/s (0: -rate-frac of the first round's lowest closed-loop throughput)")
	frac := flag.Float64("rate-frac", 0.8, "see -rate")
	seed := flag.Uint64("seed", 1, "seed of the random order")
	warmup := flag.Duration("warmup", 500*time.Millisecond, "warm-up before each measurement")
	interval := flag.Duration("interval", time.Second, "measured interval")
	intervals := flag.Int("intervals", 3, "measured intervals per measurement")
	jsonOut := flag.String("json", "", "write every measurement to this file")
	if err := flag.Parse(args); err != nil {
		return 2
	}

	defer child.KillAll()
	fail := func(f string, a ...any) int {
		fmt.Fprintf(os.Stderr, "pairs: "+f+"\n", a...)
		return 1
	}

	var ms []models.Model
	// A row's name → the model's own name and the binary its server runs
	// from ("": this one).
	real, exes := map[string]string{}, map[string]string{}
	for _, spec := range strings.Split(*modelsFlag, ",") {
		name, exe, _ := strings.Cut(spec, "@")
		m, ok := models.Lookup(name)
		if !ok || m.Serve == nil || m.PerRowServer || m.MultiCore {
			return fail("model %q: not a single-process, single-core model of the study", name)
		}
		if exe != "" {
			if _, err := os.Stat(exe); err != nil {
				return fail("model %q: %v", spec, err)
			}
			m.Name = name + "@" + filepath.Base(exe)
			exes[m.Name] = exe
		}
		if _, dup := real[m.Name]; dup {
			return fail("model %q named twice", m.Name)
		}
		real[m.Name] = name
		ms = append(ms, m)
	}
	var modes []loadgen.Mode
	for _, s := range strings.Split(*modesFlag, ",") {
		if m := loadgen.Mode(s); m != loadgen.Closed && m != loadgen.Open {
			return fail("mode %q: want closed or open", s)
		}
		modes = append(modes, loadgen.Mode(s))
	}
	var orders []loadgen.Order
	for _, s := range strings.Split(*ordersFlag, ",") {
		o, err := loadgen.ParseOrder(s)
		if err != nil {
			return fail("%v", err)
		}
		orders = append(orders, o)
	}
	if len(ms) < 2 || *rounds < 1 || *conns < 1 {
		return fail("need two models or more, a round and a connection")
	}
	if _, err := rawsys.NoFileFor(*conns + 256); err != nil {
		return fail("descriptors: %v", err)
	}

	null := func() string {
		row, _ := ladder.Lookup("null syscall")
		r := ladder.Measure(row, 20*time.Millisecond, 5)
		if r.Error != "" {
			return "null syscall: " + r.Error
		}
		return fmt.Sprintf("null syscall %.0f ns (%.0f–%.0f)", r.NS.Median, r.NS.Min, r.NS.Max)
	}
	start := time.Now()
	nullBefore := null()
	fmt.Fprintln(os.Stderr, nullBefore)

	type point struct {
		s    *harness.Server
		pids []int
		cl   *harness.Client
	}
	pts := make([]point, len(ms))
	defer func() {
		for _, p := range pts {
			if p.cl != nil {
				p.cl.Close()
			}
			if p.s != nil {
				p.s.Stop()
			}
		}
	}()
	for i, m := range ms {
		sm := m
		sm.Name = real[m.Name]
		s, err := harness.StartServerFrom(exes[m.Name], sm, *conns)
		if err != nil {
			return fail("%v", err)
		}
		pts[i].s = s
		if err := harness.Verify(s, min(*conns, 100)); err != nil {
			return fail("%s: %v", m.Name, err)
		}
		pids, err := s.PIDs()
		if err != nil {
			return fail("%v", err)
		}
		pts[i].pids = pids
		if pts[i].cl, err = harness.StartClient(loadgen.Config{Addr: s.Addr, Conns: *conns, ServerPIDs: pids}); err != nil {
			return fail("%s: %v", m.Name, err)
		}
	}

	var rows []row
	failed := 0
	for r := range *rounds {
		idx := make([]int, len(ms))
		for i := range idx {
			idx[i] = i
		}
		ords := slices.Clone(orders)
		if r%2 == 1 {
			slices.Reverse(idx)
			slices.Reverse(ords)
		}
		for _, mode := range modes {
			if mode == loadgen.Open && *rate == 0 {
				low := math.Inf(1)
				for _, x := range rows {
					if x.Mode == loadgen.Closed {
						low = min(low, x.Rate)
					}
				}
				if math.IsInf(low, 1) {
					return fail("-rate 0 needs a closed-loop mode first")
				}
				v := *frac * low
				mag := math.Pow(10, math.Floor(math.Log10(v))-1)
				*rate = math.Floor(v/mag) * mag
				fmt.Fprintf(os.Stderr, "open-loop rate: %.0f requests/s\n", *rate)
			}
			for _, o := range ords {
				for _, i := range idx {
					x, err := measure(pts[i].s, pts[i].cl, loadgen.Config{Mode: mode, Rate: *rate, Order: o, Seed: *seed, Warmup: *warmup, Interval: *interval, Intervals: *intervals})
					if err != nil {
						// The row is lost, not the run: a model that could
						// not keep up with the open loop's rate once gets a
						// fresh client (its connections are in an unknown
						// state) and goes on; a dead server ends the run.
						failed++
						fmt.Fprintf(os.Stderr, "%5.0fs round %d %-6s %-8s %-12s failed: %v\n", time.Since(start).Seconds(), r, mode, o, ms[i].Name, err)
						if err := pts[i].s.Alive(); err != nil {
							return fail("%s: %v", ms[i].Name, err)
						}
						pts[i].cl.Close()
						pts[i].cl = nil
						if pts[i].cl, err = harness.StartClient(loadgen.Config{Addr: pts[i].s.Addr, Conns: *conns, ServerPIDs: pts[i].pids}); err != nil {
							return fail("%s: %v", ms[i].Name, err)
						}
						continue
					}
					x.Round, x.Model = r, ms[i].Name
					rows = append(rows, x)
					lat := ""
					if mode == loadgen.Open {
						lat = fmt.Sprintf(" p50 %.0f p99 %.0f µs, send lag p99 %.0f µs", x.P50, x.P99, x.LagP99)
					}
					fmt.Fprintf(os.Stderr, "%5.0fs round %d %-6s %-8s %-12s %8.0f req/s %6.3f µs/req user %4.1f%% client %3.0f%%%s\n", time.Since(start).Seconds(), r, mode, o, x.Model, x.Rate, x.CPU, 100*x.User, 100*x.Client, lat)
				}
			}
		}
	}
	nullAfter := null()
	fmt.Fprintln(os.Stderr, nullAfter)

	fmt.Fprintf(stdout, "pairs: %d connections, %d rounds, %v warm-up + %d × %v per measurement; %s before, %s after; %s, %s–%s UTC\n",
		*conns, *rounds, *warmup, *intervals, *interval, nullBefore, nullAfter, rawsys.ThisMachine().String(), start.UTC().Format("15:04"), time.Now().UTC().Format("15:04"))
	fmt.Fprintf(stdout, "command: go -C bench run ./cmd/pairs %s\n", strings.Join(args, " "))
	if failed > 0 {
		fmt.Fprintf(stdout, "%d measurements failed (see stderr): their rounds have no pair\n", failed)
	}
	for _, mode := range modes {
		for _, o := range orders {
			head := fmt.Sprintf("%s loop", mode)
			if mode == loadgen.Open {
				head = fmt.Sprintf("open loop at %.0f requests/s", *rate)
			}
			fmt.Fprintf(stdout, "\n%s, %s order: server CPU µs/request, median (min–max); × %s per round\n", head, o, ms[0].Name)
			base := map[int]row{} // by round
			for _, x := range pick(rows, mode, o, ms[0].Name) {
				base[x.Round] = x
			}
			for _, m := range ms {
				mine := pick(rows, mode, o, m.Name)
				cpu, rt, user := make([]float64, len(mine)), make([]float64, len(mine)), make([]float64, len(mine))
				var ratio []float64
				for k, x := range mine {
					cpu[k], rt[k], user[k] = x.CPU, x.Rate, x.CPU*x.User*1e3
					if b, ok := base[x.Round]; ok && b.CPU > 0 {
						ratio = append(ratio, x.CPU/b.CPU)
					}
				}
				fmt.Fprintf(stdout, "  %-12s %s µs  user ~%s ns  %s req/s", m.Name, stat(cpu, 3), stat(user, 0), stat(rt, 0))
				if mode == loadgen.Open {
					p99 := make([]float64, len(mine))
					for k, x := range mine {
						p99[k] = x.P99
					}
					fmt.Fprintf(stdout, "  p99 %s µs", stat(p99, 0))
				}
				if m.Name != ms[0].Name {
					fmt.Fprintf(stdout, "  ×%s %s", ms[0].Name, stat(ratio, 3))
				}
				fmt.Fprintln(stdout)
			}
		}
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rows, "", " ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return fail("%v", err)
		}
	}
	return 0
}

// pick returns the rows of one mode, order and model, by round.
func pick(rows []row, mode loadgen.Mode, o loadgen.Order, model string) []row {
	var out []row
	for _, x := range rows {
		if x.Mode == mode && x.Order == o && x.Model == model {
			out = append(out, x)
		}
	}
	return out
}

// measure runs one measurement and sums its intervals.
func measure(s *harness.Server, cl *harness.Client, cfg loadgen.Config) (row, error) {
	x := row{Mode: cfg.Mode, Order: cfg.Order}
	if cfg.Mode == loadgen.Open {
		x.Offered = cfg.Rate
	}
	u0, s0, err := ticks(s.Pid)
	if err != nil {
		return x, err
	}
	res, err := cl.Measure(cfg)
	if err == nil {
		err = s.Alive()
	}
	if err != nil {
		return x, err
	}
	u1, s1, err := ticks(s.Pid)
	if err != nil {
		return x, err
	}
	var wall, cpu, ccpu time.Duration
	var reqs uint64
	for _, iv := range res.Intervals {
		wall += iv.Wall
		cpu += iv.ServerCPU
		ccpu += iv.ClientCPU
		reqs += iv.Requests
	}
	if reqs == 0 {
		return x, fmt.Errorf("no request served")
	}
	x.Rate = float64(reqs) / wall.Seconds()
	x.CPU = float64(cpu) / 1e3 / float64(reqs)
	x.Client = ccpu.Seconds() / wall.Seconds()
	if res.Latency != nil {
		x.P50, x.P99 = float64(res.Latency.P50)/1e3, float64(res.Latency.P99)/1e3
	}
	if res.SendLag != nil {
		x.LagP99 = float64(res.SendLag.P99) / 1e3
	}
	if t := (u1 - u0) + (s1 - s0); t > 0 {
		x.User = float64(u1-u0) / float64(t)
	}
	return x, nil
}

// ticks returns the user and system clock ticks of a process
// (/proc/PID/stat, fields 14 and 15).
func ticks(pid int) (user, sys int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	if user, err = strconv.ParseInt(f[11], 10, 64); err == nil {
		sys, err = strconv.ParseInt(f[12], 10, 64)
	}
	return user, sys, err
}

// stat is "median (min–max)" of xs with prec decimals.
func stat(xs []float64, prec int) string {
	st := harness.StatOf(xs)
	if st.N == 0 {
		return "—"
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	return fmt.Sprintf("%s (%s–%s)", f(st.Median), f(st.Min), f(st.Max))
}
