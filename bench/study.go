//go:build linux

package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coopgo/coop/bench/internal/clients"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/irc"
	"github.com/coopgo/coop/bench/internal/ladder"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/models"
	"github.com/coopgo/coop/bench/internal/rawsys"
	"github.com/coopgo/coop/bench/internal/report"
	"github.com/coopgo/coop/bench/internal/spawn"
)

type studyConfig struct {
	mode   string        // quick, full, smoke
	parts  []string      // ladder, spawn, servers, clients, front, irc, reload, shared; nil: all
	models []string      // nil: all
	rate   float64       // equal-load rate at every count; 0: chosen per count (see harness.EqualRate)
	order  loadgen.Order // the sweep's send order (harness.Plan.Order)
	seed   uint64        // seeds a random order
	conns  []int         // the sweep's session counts; nil: the mode's
	// respConns, if not 0, is redis-benchmark's connection count (-c) in
	// place of the mode's.
	respConns int
	ergo      string // the Ergo binary (irc.Plan.Ergo)
	command   string
}

// modePlan is everything a mode decides.
type modePlan struct {
	ladderTarget time.Duration // per batch
	ladderReps   int
	spawnN       int // per batch
	spawnReps    int
	parkN        int // suspended at once
	servers      harness.Plan
	clients      clients.Plan
	front        clients.Plan // the front-end table: wrk through each front end
	irc          irc.Plan
	reload       clients.ReloadPlan
	// shared is the table "shared state across event-loop instances";
	// nil in quick mode, which has no time for it.
	shared *clients.Plan
	// fullOnlyModels runs the server models marked FullOnly even when
	// -models does not name them; quick mode has no time for them.
	fullOnlyModels bool
}

// sharedPlan is redis-benchmark's load of the shared-state table: 100
// connections, random keys out of 100,000, no pipelining.
func sharedPlan(repeats, warmup int, run time.Duration) *clients.Plan {
	return &clients.Plan{Repeats: repeats, RESPWarmup: warmup, RESPRun: run, RESPConns: 100, Pipelines: []int{1}, RESPKeys: 100_000}
}

// ircLoad is the IRC part's load in every mode: 4 senders at 500
// PRIVMSGs a second into channels of 100, 49,500 delivered lines a second.
func ircLoad(p irc.Plan) irc.Plan {
	p.ChanSize, p.Senders, p.Rate = 100, 4, 500
	return p
}

// The equal-load rate at each count is rateFraction of the slowest model's
// closed-loop throughput there, unless -rate sets it (harness.EqualRate).
const rateFraction = 0.5

var plans = map[string]modePlan{
	"quick": {
		ladderTarget: 20 * time.Millisecond, ladderReps: 5,
		spawnN: 100_000, spawnReps: 5, parkN: 100_000,
		// The sweep's counts with runs shorter than -full's, so that the
		// quick study stays under 3 minutes; the pool stops at 100
		// processes.
		servers: harness.Plan{
			Conns: []int{10, 100, 1000, 10_000}, Warmup: 100 * time.Millisecond, Interval: 200 * time.Millisecond, Intervals: 3,
			Settle: 100 * time.Millisecond, OpenConns: 100, StreamConns: 100, CheckConns: 100, PoolCap: 100,
		},
		// About 40 s for 24 rows: runs shorter than -full's 5 s, so
		// that the quick study stays under 3 minutes; wrk's -d is
		// whole seconds, so its runs and warm-up last 1 s.
		clients: clients.Plan{
			Repeats:    3,
			HTTPWarmup: time.Second, HTTPRun: time.Second, HTTPConns: 100,
			RESPWarmup: 3000, RESPRun: 300 * time.Millisecond, RESPConns: 50, Pipelines: []int{1, 16},
		},
		// About 14 s (budget 15 s): three front ends, a 1 s warm-up
		// and 3 runs of 1 s each.
		front: clients.Plan{Repeats: 3, HTTPWarmup: time.Second, HTTPRun: time.Second, HTTPConns: 100},
		// About 16 s (18 s with Ergo; budget 25 s): 100 and 1,000
		// clients with short intervals, no memory row. ngircd's 1,000
		// clients take 5 s of it to dial (its backlog of 10).
		irc: ircLoad(irc.Plan{Clients: []int{100, 1000}, Warmup: 100 * time.Millisecond, Interval: 200 * time.Millisecond, Intervals: 3,
			Note: "quick mode runs 100 and 1,000 clients only and no memory row; -full adds 10,000 clients, the coop task 5ms row and memory per idle client at 10,000"}),
		// About 6 s: 5 reloads of each server.
		reload: clients.ReloadPlan{Reloads: 5, Workers: 2, Conns: 50, Gap: 100 * time.Millisecond, Baseline: time.Second,
			Note: "quick mode: 5 reloads per server; -full runs 20"},
	},
	"full": {
		ladderTarget: 200 * time.Millisecond, ladderReps: 11,
		spawnN: 1_000_000, spawnReps: 11, parkN: 100_000,
		servers: harness.Plan{
			Conns: []int{10, 100, 1000, 10_000, 50_000}, Warmup: time.Second, Interval: time.Second, Intervals: 9,
			Settle: 200 * time.Millisecond, OpenConns: 100, StreamConns: 100, CheckConns: 100, PoolCap: 1000,
		},
		clients: clients.Plan{
			Repeats:    5,
			HTTPWarmup: 2 * time.Second, HTTPRun: 5 * time.Second, HTTPConns: 100,
			RESPWarmup: 20_000, RESPRun: 5 * time.Second, RESPConns: 50, Pipelines: []int{1, 16},
		},
		front:  clients.Plan{Repeats: 5, HTTPWarmup: 2 * time.Second, HTTPRun: 5 * time.Second, HTTPConns: 100},
		irc:    ircLoad(irc.Plan{Clients: []int{100, 1000, 10_000}, Warmup: time.Second, Interval: time.Second, Intervals: 5, IdleClients: 10_000, AllServers: true}),
		reload: clients.ReloadPlan{Reloads: 20, Workers: 2, Conns: 50, Gap: 100 * time.Millisecond, Baseline: 2 * time.Second},
		// About 100 s: 4 servers, 5 rounds of 2 s runs of SET and GET;
		// the warm-up sets about 60% of the 100,000 keys.
		shared:         sharedPlan(5, 100_000, 2*time.Second),
		fullOnlyModels: true,
	},
	"smoke": {
		ladderTarget: 2 * time.Millisecond, ladderReps: 3,
		spawnN: 2_000, spawnReps: 3, parkN: 2_000,
		servers: harness.Plan{
			Conns: []int{10, 50}, Warmup: 50 * time.Millisecond, Interval: 100 * time.Millisecond, Intervals: 2,
			Settle: 20 * time.Millisecond, OpenConns: 10, StreamConns: 10, CheckConns: 20,
		},
		clients: clients.Plan{
			Repeats:    1,
			HTTPWarmup: 0, HTTPRun: time.Second, HTTPConns: 100,
			RESPWarmup: 200, RESPRun: 50 * time.Millisecond, RESPConns: 50, Pipelines: []int{1, 16},
		},
		front: clients.Plan{Repeats: 1, HTTPRun: time.Second, HTTPConns: 100},
		irc:   ircLoad(irc.Plan{Clients: []int{100}, Warmup: 50 * time.Millisecond, Interval: 100 * time.Millisecond, Intervals: 1, IdleClients: 100, AllServers: true}),
		reload: clients.ReloadPlan{Reloads: 2, Workers: 2, Conns: 10, Gap: 10 * time.Millisecond,
			Note: "smoke mode: 2 reloads per server, no run without reloads"},
		// Runs of 0.2 s: long enough for the study to see redis-benchmark
		// pinned (it reads its CPU list once taskset has become it).
		shared:         sharedPlan(1, 1000, 200*time.Millisecond),
		fullOnlyModels: true,
	},
}

func (c studyConfig) wants(part string) bool { return c.parts == nil || slices.Contains(c.parts, part) }

// runStudy measures everything cfg asks for. Rows that cannot run are
// recorded with their reason; only a failure of the harness itself is an
// error.
func runStudy(cfg studyConfig) (*report.Run, error) {
	mp, ok := plans[cfg.mode]
	if !ok {
		return nil, fmt.Errorf("unknown mode %q", cfg.mode)
	}
	if cfg.conns != nil {
		mp.servers.Conns = cfg.conns
		if !slices.Contains(cfg.conns, mp.servers.OpenConns) {
			mp.servers.OpenConns = cfg.conns[0]
		}
	}
	mp.servers.RateFraction, mp.servers.FixedRate = rateFraction, cfg.rate
	mp.servers.Order, mp.servers.Seed = cfg.order, cfg.seed
	// Room for the largest count's descriptors in every process the study
	// starts (they inherit the limit); root may raise the hard limit.
	// Counts that do not fit say why instead of failing.
	noFile, err := rawsys.NoFileFor(mp.servers.NoFileFor())
	mp.servers.NoFile = int(noFile)
	if err != nil {
		mp.servers.NoFileWhy = err.Error()
	}
	r := &report.Run{
		Started: time.Now(),
		Mode:    cfg.mode,
		Command: cfg.command,
		Machine: rawsys.ThisMachine(),
		Pinning: fmt.Sprintf("pinning: servers on CPU %d (multi-core rows: all CPUs), load generator on CPU %d; ladder and spawn rows in processes of their own (see CPUs)", harness.ServerCPU, harness.ClientCPU),
		Ticks:   ladder.TickSource(),
		Plan:    mp.servers,

		NullSyscall: measureNullSyscall(mp),

		LoadStart: rawsys.LoadAverage(),
	}
	fmt.Fprintln(os.Stderr, r.Machine.String())
	if r.Machine.Cores < 2 {
		return nil, fmt.Errorf("the study needs 2 CPUs (server and client pinned apart); this machine has %d", r.Machine.Cores)
	}

	ms, leftOut, err := selectModels(cfg.models, mp.fullOnlyModels)
	if err != nil {
		return nil, err
	}
	steps := 0
	if cfg.wants("ladder") {
		steps += len(ladder.Rows())
	}
	if cfg.wants("spawn") {
		steps += 2 * len(spawn.Kinds())
	}
	if cfg.wants("servers") {
		steps += len(ms) * mp.servers.Steps()
	}
	if cfg.wants("clients") {
		steps += clients.Steps(mp.clients)
	}
	if cfg.wants("front") {
		steps += clients.FrontSteps(mp.front)
	}
	if cfg.wants("irc") {
		steps += irc.Steps(mp.irc)
	}
	if cfg.wants("reload") {
		steps += clients.ReloadSteps(mp.reload)
	}
	if cfg.wants("shared") && mp.shared != nil {
		steps += clients.SharedSteps(*mp.shared)
	}
	if n := r.NullSyscall; n.Error == "" {
		fmt.Fprintf(os.Stderr, "null system call: %s ns (%s–%s)\n", fmtNS(n.NS.Median), fmtNS(n.NS.Min), fmtNS(n.NS.Max))
	}
	prog := newProgress(steps)
	step := prog.step
	defer prog.finish()

	if cfg.wants("ladder") {
		for _, row := range ladder.Rows() {
			prog.doing("ladder: " + row.Name)
			r.Ladder = append(r.Ladder, ladder.Measure(row, mp.ladderTarget, mp.ladderReps))
			step("ladder: " + row.Name)
		}
	}
	if cfg.wants("spawn") {
		for _, k := range spawn.Kinds() {
			r.Spawn = append(r.Spawn, spawn.Spawn(k, mp.spawnN, mp.spawnReps))
			step("spawn: " + k.Name)
		}
		for _, k := range spawn.Kinds() {
			r.Memory = append(r.Memory, spawn.Memory(k, mp.parkN))
			step("suspended memory: " + k.Name)
		}
	}
	if cfg.wants("servers") {
		// First every model's check and the streaming row, then the sweep
		// of session counts.
		r.Models = harness.RunChecks(ms, mp.servers, prog.doing, step)
		harness.RunSweep(ms, &r.Plan, r.Models, prog.doing, step)
		r.Notes = append(r.Notes, serverNotes(r)...)
		if len(leftOut) > 0 {
			r.Notes = append(r.Notes, fullOnlyNote(leftOut))
		}
	}
	if cfg.wants("clients") {
		cp := mp.clients
		if cfg.respConns > 0 {
			cp.RESPConns = cfg.respConns
		}
		r.ClientPlan = &cp
		r.Clients = clients.Run(cp, prog.doing, step)
	}
	if cfg.wants("front") {
		fp := mp.front
		r.FrontPlan = &fp
		r.Front = clients.RunFront(fp, prog.doing, step)
	}
	if cfg.wants("irc") {
		ip := mp.irc
		ip.Ergo = cfg.ergo
		r.IRCPlan = &ip
		r.IRC = irc.Run(ip, prog.doing, step)
	}
	if cfg.wants("reload") {
		rp := mp.reload
		r.ReloadPlan = &rp
		r.Reload = clients.RunReload(rp, prog.doing, step)
	}
	if cfg.wants("shared") {
		if mp.shared == nil {
			r.Notes = append(r.Notes, "the table \"shared state across event-loop instances\" (examples/kv forwarding between two schedulers against one scheduler, a shared mutex and net) runs only with -full or -smoke: go -C bench run . -full -only shared")
		} else {
			sp := *mp.shared
			r.SharedPlan = &sp
			r.Shared = clients.RunShared(sp, prog.doing, step)
		}
	}
	r.Elapsed = time.Since(r.Started)
	r.LoadEnd = rawsys.LoadAverage()
	return r, nil
}

// selectModels returns the server models to run: those names lists, or
// with no names all of them, but the FullOnly ones only if fullOnly is
// set. leftOut names the FullOnly models it left out.
func selectModels(names []string, fullOnly bool) (ms []models.Model, leftOut []string, err error) {
	for _, name := range names {
		if _, ok := models.Lookup(name); !ok {
			return nil, nil, fmt.Errorf("no server model %q", name)
		}
	}
	for _, m := range models.All() {
		switch {
		case names != nil && !slices.Contains(names, m.Name):
		case names == nil && m.FullOnly && !fullOnly:
			leftOut = append(leftOut, m.Name)
		default:
			ms = append(ms, m)
		}
	}
	return ms, leftOut, nil
}

// fullOnlyNote is quick mode's one line on the server models it left out.
func fullOnlyNote(names []string) string {
	return fmt.Sprintf("quick mode leaves out the server rows %s (references it has no time for): they run with -full, or when -models names them, e.g. go -C bench run . -only servers -models epoll,%s",
		strings.Join(names, ", "), strings.Join(names, ","))
}

// measureNullSyscall measures the ladder's null system call row, whatever
// parts run: the report's header states it next to every ratio.
func measureNullSyscall(mp modePlan) *ladder.Result {
	row, ok := ladder.Lookup("null syscall")
	if !ok {
		return &ladder.Result{Name: "null syscall", Error: "no such ladder row"}
	}
	res := ladder.Measure(row, mp.ladderTarget, mp.ladderReps)
	return &res
}

func fmtNS(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// orderNote says in which order the load generator's connections sent.
func orderNote(p harness.Plan) string {
	if p.Order == loadgen.Random {
		return fmt.Sprintf("send order: random (-order random -seed %d): the open loop visits every connection once per round, in a new random order each round; the closed loop starts its connections in a random order and keeps it; so consecutive requests reach connections the server did not accept, and allocate, one after the other", p.Seed)
	}
	return "send order: rotation (-order rotation, the default): the open loop visits the connections round-robin in the order they were opened, and the closed loop starts them in that order and keeps it; the server accepted them, and allocated their state, in about that order (-order random draws a random order)"
}

// serverNotes states what the server rows rest on.
func serverNotes(r *report.Run) []string {
	p := r.Plan
	notes := []string{
		fmt.Sprintf("every model reads at most %d bytes per read, sets TCP_NODELAY, listens with backlog %d, and was checked byte-exact (%d connections, streaming, odd sizes to 1 MiB) before it was timed; the load generator checks every byte of every reply",
			16<<10, models.Backlog, p.CheckConns),
		fmt.Sprintf("medians over %d measured intervals of %v per row (min–max in brackets), after %v of warm-up", p.Intervals, p.Interval, p.Warmup),
		orderNote(p),
		"sweep: at each count every model gets a fresh server and its connections are opened once, for the memory reading and both rows; each row (closed loop, then equal load) is measured for all models back to back, seconds apart, so that the machine's drift over minutes hits them alike, and with every model's connections open, so that all rows of a count share the same machine",
	}
	if full := plans["full"].servers; r.Mode == "quick" {
		notes = append(notes, fmt.Sprintf("quick mode: %d intervals of %v per row and a pool of at most %d processes; -full measures %d intervals of %v, pools of up to %d and the counts %v",
			p.Intervals, p.Interval, p.PoolCap, full.Intervals, full.Interval, full.PoolCap, full.Conns))
	}
	if p.NoFileWhy != "" {
		notes = append(notes, "descriptors: "+p.NoFileWhy)
	}
	for _, m := range r.Models {
		if m.Model == "procpool" && m.Error == "" && m.Skipped == "" {
			notes = append(notes, "procpool is a netio/prefork pool of one worker process per connection of the count it serves (Apache 1.3's model: a blocking accept-and-serve loop per process, recycled after ~1,000 connections); starting a Go process costs ~15-30 ms of CPU here, so a pool of 1,000 takes seconds (outside the measured intervals); hybrid is a netio/prefork pool of 2 processes of one coop scheduler each")
		}
	}
	for _, m := range r.Models {
		for _, l := range m.Closed {
			if l.SourceAddrs > 1 {
				return append(notes, fmt.Sprintf("from %d connections the load generator spread its connections over loopback source addresses 127.0.0.1, 127.0.0.2, ... (%d at %d connections): one address has only the ephemeral port range's ports", l.Conns, l.SourceAddrs, l.Conns))
			}
		}
	}
	return notes
}
