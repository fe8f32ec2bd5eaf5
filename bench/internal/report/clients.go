//go:build linux

package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coopgo/coop/bench/internal/clients"
)

// clientTables are the tables of the real clients part: wrk against the
// HTTP servers, redis-benchmark against the RESP servers.
func clientTables(r *Run) []*table {
	var httpRows, respRows []clients.Result
	for _, c := range r.Clients {
		if c.Proto == "http" {
			httpRows = append(httpRows, c)
		} else {
			respRows = append(respRows, c)
		}
	}
	var p clients.Plan
	if r.ClientPlan != nil {
		p = *r.ClientPlan
	}
	var ts []*table
	if len(httpRows) > 0 {
		ts = append(ts, httpTable(p, httpRows))
	}
	if len(respRows) > 0 {
		ts = append(ts, respTable(p, respRows))
	}
	if len(ts) > 0 {
		ts[0].intro = []string{
			"### Real clients and C references",
			"The examples built on coop (examples/http, examples/kv) under real clients, next to a Go server on the standard library and the C server the example imitates (nginx, redis-server). " +
				"Measured by every run of the study; alone with `go -C bench run . -only clients` (add `-full` for 5 runs of 5 s). " +
				"Servers pinned to CPU 0 (taskset: every process and thread), clients to CPU 1; a missing tool leaves its rows skipped with the package to install.",
		}
	}
	return ts
}

func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'g', -1, 64) + " s"
}

// clientRow adds a row with no numbers (skipped or failed) and reports
// whether it did.
func clientRow(t *table, name string, c clients.Result) bool {
	switch {
	case c.Skipped != "":
		t.add(name, "skipped: "+c.Skipped)
	case c.Error != "":
		t.add(name, "error: "+trunc(c.Error))
	case len(c.Runs) == 0:
		t.add(name, "error: no measured run")
	default:
		return false
	}
	return true
}

func clientCells(c clients.Result) []string {
	flag := ""
	if c.ClientUtil.Median >= 0.9 {
		flag = "client-bound"
	}
	if c.SocketErrors > 0 {
		flag = strings.TrimSpace(flag + fmt.Sprintf(" %d socket errors", c.SocketErrors))
	}
	return []string{stat(c.Rate), stat(c.CPUPerReq), pct(c.ServerUtil), pct(c.ClientUtil), stat(c.P50), stat(c.P99),
		c.ServerCPUs + "/" + c.ClientCPUs, fmt.Sprintf("%d/%d", c.ServerProcs, c.ServerThreads), flag}
}

var clientHeader = []string{">req/s", ">server CPU µs/req", ">server CPU", ">client CPU", ">client p50 µs", ">client p99 µs", "CPUs s/c", "procs/threads", ""}

func clientNotes(p clients.Plan, client string) []string {
	return []string{
		"server CPU µs/req: CPU time of all the server's processes and threads (the kernel's process CPU clocks: utime+stime), read just before and just after each " + client + " run, divided by the requests " + client + " reports; server and client CPU: share of one CPU over the client's run",
		"client p50/p99: " + client + "'s own closed-loop latency (each connection waits for its reply before the next request), not comparable with the open-loop table",
		"CPUs s/c: Cpus_allowed_list of every thread of every server process / of the client, as the kernel reports it; procs/threads: the server's processes and threads",
		fmt.Sprintf("median (min–max) over %s; every server runs throughout and the runs interleave (one against each server in turn), so that the machine's drift over minutes hits all rows alike: compare rows as same-run ratios", runs(p.Repeats)),
	}
}

func httpTable(p clients.Plan, rows []clients.Result) *table {
	warm := "no warm-up"
	if p.HTTPWarmup > 0 {
		warm = "after a " + secs(p.HTTPWarmup) + " warm-up run"
	}
	t := &table{title: fmt.Sprintf("HTTP under wrk: GET /hello, -t1 -c%d --latency, %s of %s %s", p.HTTPConns, runs(p.Repeats), secs(p.HTTPRun), warm)}
	t.add(append(append([]string{"server"}, clientHeader...), "what")...)
	bound := false
	for _, c := range rows {
		if clientRow(t, c.Server, c) {
			continue
		}
		bound = bound || c.ClientUtil.Median >= 0.9
		t.add(append(append([]string{c.Server}, clientCells(c)...), c.What)...)
	}
	t.notes = append(t.notes, clientNotes(p, "wrk")...)
	t.notes = append(t.notes, "every server answers with the same body (\"Hello, World!\\n\") and Content-Type; the header fields differ as the 'what' column lists (nginx adds Connection: keep-alive, and its Server value is longer)")
	if bound {
		t.notes = append(t.notes, "client-bound: wrk was busy ≥ 90% of the time, so req/s is its limit: read server CPU µs/req")
	}
	return t
}

func respTable(p clients.Plan, rows []clients.Result) *table {
	t := &table{title: fmt.Sprintf("Redis protocol under redis-benchmark: -c %d, SET and GET, pipelines %s, %s of about %s each", p.RESPConns, joinInts(p.Pipelines), runs(p.Repeats), secs(p.RESPRun))}
	t.add(append(append([]string{"server", "test"}, clientHeader...), "what")...)
	bound := false
	described := map[string]bool{}
	for _, c := range rows {
		test := fmt.Sprintf("%s -P %d", c.Test, c.Pipeline)
		if c.Skipped != "" || c.Error != "" || len(c.Runs) == 0 {
			clientRow(t, c.Server+" "+test, c)
			continue
		}
		bound = bound || c.ClientUtil.Median >= 0.9
		what := c.What // once per server
		if described[c.Server+"\x00"+what] {
			what = ""
		}
		described[c.Server+"\x00"+c.What] = true
		t.add(append(append([]string{c.Server, test}, clientCells(c)...), what)...)
	}
	t.notes = append(t.notes, clientNotes(p, "redis-benchmark")...)
	t.notes = append(t.notes,
		fmt.Sprintf("each pipeline depth starts with a warm-up run of SET and GET (-n %d×P); its rates set -n of the measured runs; requests count commands, so -P 16 sends 16 per round trip; one key (redis-benchmark's default without -r), 3-byte values; p50/p99 from --csv", p.RESPWarmup),
		"net-resp is a minimal reference written for the study (PING, SET, GET, CONFIG GET answered with an empty array, anything else an error; a map behind a mutex; it answers every command already read and writes once its read buffer is empty, as examples/kv does): not a full Redis")
	if bound {
		t.notes = append(t.notes, "client-bound: redis-benchmark was busy ≥ 90% of the time, so req/s is its limit: read server CPU µs/req")
	}
	return t
}

func runs(n int) string {
	if n == 1 {
		return "1 run"
	}
	return strconv.Itoa(n) + " runs"
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, " and ")
}
