//go:build linux

package report

import (
	"fmt"

	"github.com/coopgo/coop/bench/internal/clients"
	"github.com/coopgo/coop/bench/internal/harness"
)

// frontBase is the front end the others are compared with: the issue's
// goal is examples/proxy at most 1.0× HAProxy's CPU per request.
const frontBase = "haproxy"

// frontTable is the front-end table: server CPU per proxied request and
// p99 of each front end, and their ratios to HAProxy's of the same run.
func frontTable(r *Run) *table {
	var p clients.Plan
	if r.FrontPlan != nil {
		p = *r.FrontPlan
	}
	warm := "no warm-up"
	if p.HTTPWarmup > 0 {
		warm = "after a " + secs(p.HTTPWarmup) + " warm-up run"
	}
	t := &table{title: fmt.Sprintf("Front end: wrk GET /hello through a TCP front end to two examples/http backends, -t1 -c%d --latency, %s of %s %s", p.HTTPConns, runs(p.Repeats), secs(p.HTTPRun), warm)}
	t.intro = []string{
		"### Front end",
		"A farm's I/O-bound front end: examples/proxy against HAProxy (nbthread 1) and nginx's stream proxy, the same two backends and the same load. " +
			"Measured by every run of the study; alone with `go -C bench run . -only front` (add `-full` for 5 runs of 5 s). " +
			"The front end runs pinned to CPU 0, alone; wrk and both backends (examples/http -mode ready -cores 1 -proxy-protocol, GOMAXPROCS=1) share CPU 1.",
	}
	var base *clients.Result
	for i, c := range r.Front {
		if c.Server == frontBase && c.Error == "" && c.Skipped == "" && len(c.Runs) > 0 {
			base = &r.Front[i]
		}
	}
	t.add(append(append([]string{"front end"}, clientHeader...), ">CPU/req ×haproxy", ">p99 ×haproxy", "what")...)
	for _, c := range r.Front {
		if clientRow(t, c.Server, c) {
			continue
		}
		xCPU, xP99 := "", ""
		if base != nil {
			xCPU, xP99 = frontRatio(c.CPUPerReq, base.CPUPerReq), frontRatio(c.P99, base.P99)
		}
		t.add(append(append([]string{c.Server}, clientCells(c)...), xCPU, xP99, c.What)...)
	}
	t.notes = append(t.notes, clientNotes(p, "wrk")...)
	t.notes = append(t.notes,
		"server CPU is the front end's alone (the backends run on the client CPU): its cost per proxied request; wrk's connections are kept alive, so a request crosses the front end on a connection it already has to a backend",
		"×haproxy: median over HAProxy's median of the same run (min–max: the other's extremes over HAProxy's median); the goal is examples/proxy ≤ 1.0× HAProxy's CPU per request",
		"each front end sends the backends a PROXY header per connection (examples/proxy and HAProxy v2, nginx v1)")
	return t
}

// frontRatio is a's median over b's, with a's min and max over b's median.
func frontRatio(a, b harness.Stat) string {
	if b.Median <= 0 || a.N == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", a.Median/b.Median, a.Min/b.Median, a.Max/b.Median)
}
