//go:build linux

// Package irc is the study's IRC part: examples/chat, the coop IRC
// server, in task and ready mode, next to the C and C++ IRC daemons of
// Debian (ngircd, InspIRCd) and Ergo (Go; no package provides it, so the
// study is given its binary: Plan.Ergo), all configured by the study in
// temporary directories with flood control off, each pinned to the server
// CPU and driven by the study's own IRC load generator (load.go: one
// thread, its own epoll loop, pinned to the client CPU).
//
// The load is fan-out: clients in channels of ChanSize members, a few
// senders sending PRIVMSGs to their channels at a fixed total rate, the
// same for every server and every client count, so that each row does the
// same work and differs only in how many idle clients the server holds.
// Every delivered line is counted and checked at its receiver (each
// sender's messages exactly once and in order), latency runs from a
// message's scheduled send time to its arrival, and server CPU per
// delivered line comes from the kernel's accounting of the server's
// processes. Memory per idle registered (and joined) client is read at
// IdleClients, on a fresh server.
package irc

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// Plan is what the part runs.
type Plan struct {
	Clients     []int         `json:"clients"`   // fan-out rows
	ChanSize    int           `json:"chan_size"` // members per channel
	Senders     int           `json:"senders"`
	Rate        float64       `json:"rate"` // PRIVMSGs per second, all senders together
	Warmup      time.Duration `json:"warmup_ns"`
	Interval    time.Duration `json:"interval_ns"`
	Intervals   int           `json:"intervals"`
	IdleClients int           `json:"idle_clients"` // memory row; 0: not measured
	Note        string        `json:"note,omitempty"`
	// AllServers runs the rows that only -full runs (spec.fullOnly).
	AllServers bool `json:"all_servers,omitempty"`
	// Ergo is the Ergo binary to measure (a path, or a name in PATH): no
	// package provides it. "" skips Ergo's row, saying why.
	Ergo string `json:"ergo,omitempty"`
}

// Load is one fan-out row of a server.
type Load struct {
	Clients    int          `json:"clients"`
	Lines      harness.Stat `json:"lines_per_s"`     // delivered lines per second, per interval
	CPUPerLine harness.Stat `json:"cpu_per_line_us"` // server CPU µs per delivered line, per interval
	ServerUtil harness.Stat `json:"server_util"`
	ClientUtil harness.Stat `json:"client_util"`
	P50        float64      `json:"p50_us"` // every delivery of the measured intervals
	P99        float64      `json:"p99_us"`
	P99Range   harness.Stat `json:"p99_per_interval_us"`
	Delivered  uint64       `json:"delivered"` // whole run: every line due arrived, checked
	Expected   uint64       `json:"expected"`  // whole run: lines due for the PRIVMSGs sent
	SetupTime  float64      `json:"setup_s"`
	Error      string       `json:"error,omitempty"`
	Raw        []Interval   `json:"intervals,omitempty"`
}

// Memory is the idle-memory row of a server.
type Memory struct {
	Clients   int    `json:"clients"`
	Baseline  int64  `json:"baseline_anon_pss"`
	AnonPSS   int64  `json:"anon_pss"`
	PerClient int64  `json:"anon_pss_per_client"`
	Error     string `json:"error,omitempty"`
}

// Result is everything measured for one server.
type Result struct {
	Server     string  `json:"server"`
	What       string  `json:"what"`
	Version    string  `json:"version,omitempty"`
	Skipped    string  `json:"skipped,omitempty"`
	Error      string  `json:"error,omitempty"`
	ServerCPUs string  `json:"server_cpus,omitempty"`
	ClientCPUs string  `json:"client_cpus,omitempty"`
	Fanout     []Load  `json:"fanout,omitempty"`
	Memory     *Memory `json:"memory,omitempty"`
}

// Steps is the number of progress steps Run reports.
func Steps(p Plan) int {
	n := 1 + len(specs)*len(p.Clients)
	if p.IdleClients > 0 {
		n += len(specs)
	}
	return n
}

// Run measures every row. doing names the step in progress, step reports
// a finished one. Failures and missing programs are recorded in the rows.
func Run(p Plan, doing, step func(string)) []Result {
	e := &env{versions: map[string]string{}, ergoGiven: p.Ergo}
	var setupErr error
	e.tmp, setupErr = os.MkdirTemp("", "coop-bench-irc-")
	if setupErr == nil {
		defer os.RemoveAll(e.tmp)
	}
	e.taskset, _ = exec.LookPath("taskset")
	doing("irc: build examples/chat")
	if setupErr == nil {
		e.buildErr = e.build()
	} else {
		e.buildErr = setupErr
	}
	step("irc: build examples/chat")

	rs := make([]Result, len(specs))
	srvs := make([]*server, len(specs))
	defer func() {
		for _, s := range srvs {
			if s != nil {
				s.stop()
			}
		}
	}()
	for i, sp := range specs {
		r := &rs[i]
		*r = Result{Server: sp.name, What: sp.what}
		switch {
		case sp.fullOnly && !p.AllServers:
			r.Skipped = "runs with -full only"
		case sp.find != nil && setupErr != nil:
			r.Error = setupErr.Error()
			continue
		case sp.find != nil:
			r.Version, r.Skipped = sp.find(e)
		case sp.tool != "" && !installed(sp.tool):
			r.Skipped = fmt.Sprintf("%s not installed (apt install %s)", sp.tool, sp.pkg)
		case e.taskset == "":
			r.Skipped = "taskset not installed (apt install util-linux): servers and clients cannot be pinned"
		}
		if sp.tool != "" && r.Skipped == "" {
			r.Version = firstLine(sp.tool, e.tmp, "--version")
		}
		if r.Skipped != "" {
			continue
		}
		// Every server runs throughout (idle ones cost nothing on the
		// server CPU) and the rows interleave, so that the machine's
		// drift over minutes hits them alike.
		s, err := e.startServer(sp)
		if err != nil {
			r.Error = err.Error()
			continue
		}
		srvs[i] = s
		r.ServerCPUs = s.cpus
	}
	for _, n := range p.Clients {
		for i, sp := range specs {
			name := fmt.Sprintf("irc: %s, %d clients", sp.name, n)
			doing(name)
			if srvs[i] != nil {
				l := e.fanout(srvs[i], sp, p, n, &rs[i])
				rs[i].Fanout = append(rs[i].Fanout, l)
			}
			step(name)
		}
	}
	for i, s := range srvs {
		if s != nil {
			s.stop()
			srvs[i] = nil
		}
	}
	if p.IdleClients > 0 {
		for i, sp := range specs {
			name := fmt.Sprintf("irc: %s, memory at %d idle clients", sp.name, p.IdleClients)
			doing(name)
			if rs[i].Skipped == "" && rs[i].Error == "" {
				rs[i].Memory = e.memory(sp, p)
			}
			step(name)
		}
	}
	return rs
}

func installed(tool string) bool {
	_, err := exec.LookPath(tool)
	return err == nil
}

// fanout runs one fan-out row against a running server.
func (e *env) fanout(s *server, sp spec, p Plan, n int, r *Result) Load {
	l := Load{Clients: n}
	if err := s.alive(); err != nil {
		l.Error = err.Error()
		return l
	}
	pids, err := rawsys.Tree(s.pid)
	if err != nil {
		l.Error = err.Error()
		return l
	}
	cfg := LoadConfig{Mode: Fanout, Addr: s.addr, Clients: n, ChanSize: p.ChanSize, Senders: p.Senders, Rate: p.Rate,
		Warmup: p.Warmup, Interval: p.Interval, Intervals: p.Intervals, ServerPIDs: pids, Oper: sp.oper, DialRate: sp.dialRate}
	res, err := runLoad(cfg, harness.ClientCPU, nil)
	if err == nil {
		err = s.alive()
	}
	// The clients' departure (n QUITs fanned out) is the server's work
	// after the row: let it finish before the next server is measured
	// on the same CPU.
	s.settle()
	if err != nil {
		l.Error = err.Error()
		if out := s.out.String(); out != "" {
			l.Error += "; server output: " + out
		}
		return l
	}
	r.ClientCPUs = res.ClientCPUs
	var lines, cpu, su, cu, p99 []float64
	for _, iv := range res.Intervals {
		wall := iv.Wall.Seconds()
		lines = append(lines, float64(iv.Delivered)/wall)
		if iv.Delivered > 0 {
			cpu = append(cpu, float64(iv.ServerCPU)/1e3/float64(iv.Delivered))
		}
		su = append(su, iv.ServerCPU.Seconds()/wall)
		cu = append(cu, iv.ClientCPU.Seconds()/wall)
		if iv.Latency != nil && iv.Latency.Count > 0 {
			p99 = append(p99, float64(iv.Latency.P99)/1e3)
		}
	}
	l.Lines, l.CPUPerLine, l.ServerUtil, l.ClientUtil, l.P99Range = harness.StatOf(lines), harness.StatOf(cpu), harness.StatOf(su), harness.StatOf(cu), harness.StatOf(p99)
	if res.Latency != nil {
		l.P50, l.P99 = float64(res.Latency.P50)/1e3, float64(res.Latency.P99)/1e3
	}
	l.Delivered, l.Expected = res.Delivered, res.Expected
	l.SetupTime = res.SetupTime.Seconds()
	l.Raw = res.Intervals
	return l
}

// memory starts a fresh server, reads its memory before any client, then
// with IdleClients registered and joined, and stops it.
func (e *env) memory(sp spec, p Plan) *Memory {
	m := &Memory{Clients: p.IdleClients}
	s, err := e.startServer(sp)
	if err != nil {
		m.Error = err.Error()
		return m
	}
	defer s.stop()
	base, err := rawsys.Memory(s.pid)
	if err != nil {
		m.Error = err.Error()
		return m
	}
	m.Baseline = base.AnonPSS
	var loaded int64
	hold := func() error {
		time.Sleep(300 * time.Millisecond) // let the server finish the last joins
		pids, err := rawsys.Tree(s.pid)
		if err != nil {
			return err
		}
		for _, pid := range pids {
			pm, err := rawsys.Memory(pid)
			if err != nil {
				return fmt.Errorf("memory of server process %d: %w", pid, err)
			}
			loaded += pm.AnonPSS
		}
		return nil
	}
	cfg := LoadConfig{Mode: Idle, Addr: s.addr, Clients: p.IdleClients, ChanSize: p.ChanSize, DialRate: sp.dialRate}
	if _, err := runLoad(cfg, harness.ClientCPU, hold); err != nil {
		m.Error = err.Error()
		return m
	}
	if err := s.alive(); err != nil {
		m.Error = err.Error()
		return m
	}
	m.AnonPSS = loaded
	m.PerClient = (loaded - base.AnonPSS) / int64(p.IdleClients)
	return m
}
