//go:build linux

package report

import (
	"fmt"

	"github.com/coopgo/coop/bench/internal/clients"
)

// sharedTables is the table "shared state across event-loop instances":
// server CPU per request of examples/kv on one scheduler, on two that
// forward commands to the key's owner, on two sharing one store under a
// mutex, and of a net server, with ratios to the one scheduler's.
func sharedTables(r *Run) []*table {
	if len(r.Shared) == 0 || r.SharedPlan == nil {
		return nil
	}
	p := *r.SharedPlan
	t := &table{title: fmt.Sprintf("Shared state across event-loop instances: redis-benchmark -c %d -r %d -P 1, SET and GET, %s of about %s each", p.RESPConns, p.RESPKeys, runs(p.Repeats), secs(p.RESPRun))}
	t.intro = []string{
		"### Shared state across event-loop instances",
		"The seed's hard case: several event loops, one per core, over one key space. examples/kv on two schedulers that each own half of the keys and forward commands about the other's (Scheduler.Do), against one scheduler, the same two schedulers sharing one store under a sync.Mutex (-shared mutex), and goroutines on package net with a mutex. " +
			"Runs only with `-full` (or `-smoke`): `go -C bench run . -full -only shared`. " +
			"The one-scheduler server runs pinned to CPU 0 alone; the two-core servers need both CPUs and run on CPUs 0-1 (GOMAXPROCS=2), sharing CPU 1 with redis-benchmark, which is pinned there.",
	}
	base := map[string]*clients.Result{}
	for i, c := range r.Shared {
		if c.Server == clients.SharedBase && c.Error == "" && c.Skipped == "" && len(c.Runs) > 0 {
			base[c.Test] = &r.Shared[i]
		}
	}
	t.add(append(append([]string{"server", "test"}, clientHeader...), ">CPU/req ×1 scheduler", "what")...)
	described := map[string]bool{}
	for _, c := range r.Shared {
		if c.Skipped != "" || c.Error != "" || len(c.Runs) == 0 {
			clientRow(t, c.Server+" "+c.Test, c)
			continue
		}
		x := ""
		if b := base[c.Test]; b != nil {
			x = frontRatio(c.CPUPerReq, b.CPUPerReq)
		}
		what := c.What
		if described[c.Server] {
			what = ""
		}
		described[c.Server] = true
		t.add(append(append([]string{c.Server, c.Test}, clientCells(c)...), x, what)...)
	}
	t.notes = append(t.notes, clientNotes(p, "redis-benchmark")...)
	t.notes = append(t.notes,
		fmt.Sprintf("keys: redis-benchmark -r %d picks each command's key at random, so on the two-scheduler kv about half of the commands are about the other scheduler's keys; 3-byte values; a warm-up run of SET and GET (-n %d) first, whose rates size the measured runs", p.RESPKeys, p.RESPWarmup),
		"×1 scheduler: median over the one-scheduler row's median of the same test and run (min–max: the row's extremes over that median); the goal is forwarding ≤ 1.15× while it uses both cores (server CPU column above 100%)",
		"server CPU µs/req counts every thread of the server on both CPUs; a two-core server's share of CPU 1 is taken from redis-benchmark, so req/s compares the designs only where redis-benchmark is not the limit")
	return []*table{t}
}
