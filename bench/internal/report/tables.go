package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/coopgo/coop/bench/internal/harness"
)

// Header returns the lines printed above every report.
func Header(r *Run) []string {
	h := []string{
		r.Machine.String(),
		fmt.Sprintf("mode: %s (%s), started %s, took %s", r.Mode, r.Command, r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Elapsed.Round(1e9)),
		r.Pinning,
	}
	if r.LoadStart != "" {
		h = append(h, fmt.Sprintf("load average (1 min) before the run: %s (above ~0.5, other work shared the CPUs and skews every row); after: %s (includes the study's own processes)", r.LoadStart, r.LoadEnd))
	}
	return h
}

// Tables builds every table of the run, in the order of the report.
func Tables(r *Run) []*table {
	var ts []*table
	if len(r.Ladder) > 0 {
		ts = append(ts, ladderTable(r))
	}
	if len(r.Spawn) > 0 {
		ts = append(ts, spawnTable(r))
	}
	if len(r.Memory) > 0 {
		ts = append(ts, suspendedTable(r))
	}
	if len(r.Models) > 0 {
		ts = append(ts, closedTable(r), openTable(r), streamTable(r), memoryTable(r))
	}
	if len(r.Clients) > 0 {
		ts = append(ts, clientTables(r)...)
	}
	ts = append(ts, ircTables(r)...)
	return ts
}

// Text writes the header and every table.
func Text(w io.Writer, r *Run) {
	for _, l := range Header(r) {
		fmt.Fprintln(w, l)
	}
	for _, t := range Tables(r) {
		t.text(w)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
}

func ladderTable(r *Run) *table {
	t := &table{title: "Switch ladder: cost of one switch (median of batches, min–max)"}
	t.add("rung", ">ns/switch", ">ticks/switch", "CPUs", "one switch is")
	for _, l := range r.Ladder {
		switch {
		case l.Skipped != "":
			t.add(l.Name, "skipped: "+l.Skipped)
		case l.Error != "":
			t.add(l.Name, "error: "+trunc(l.Error))
		default:
			what := l.What
			if l.GOMAXPROCS > 1 {
				what += fmt.Sprintf(" [GOMAXPROCS=%d]", l.GOMAXPROCS)
			}
			t.add(l.Name, lstat(l.NS), lstat(l.Ticks), l.CPUs, what)
		}
	}
	for _, l := range r.Ladder {
		if l.Note != "" {
			t.notes = append(t.notes, l.Name+": "+l.Note)
		}
	}
	t.notes = append(t.notes, "ticks: "+r.Ticks+"; each row runs in a process of its own; 'CPUs' is its affinity")
	return t
}

func spawnTable(r *Run) *table {
	t := &table{title: "Spawn: create + run + exit, one at a time (GOMAXPROCS=1, CPU 0)"}
	t.add("kind", ">ns each", "what")
	for _, s := range r.Spawn {
		switch {
		case s.Skipped != "":
			t.add(s.Name, "skipped: "+s.Skipped)
		case s.Error != "":
			t.add(s.Name, "error: "+trunc(s.Error))
		default:
			t.add(s.Name, fmt.Sprintf("%s (%s–%s)", num(s.NS.Median), num(s.NS.Min), num(s.NS.Max)), s.What)
		}
	}
	return t
}

func suspendedTable(r *Run) *table {
	n := 0
	for _, m := range r.Memory {
		n = max(n, m.N)
	}
	t := &table{title: fmt.Sprintf("Memory per suspended flow, %d at once", n)}
	t.add("kind", ">bytes each (Go: Sys-HeapReleased)", ">bytes each (anon PSS)", ">stack bytes each", "what")
	for _, m := range r.Memory {
		switch {
		case m.Skipped != "":
			t.add(m.Name, "skipped: "+m.Skipped)
		case m.Error != "":
			t.add(m.Name, "error: "+trunc(m.Error))
		default:
			t.add(m.Name, num(m.GoBytes), num(m.PSSBytes), num(m.Stack), m.What)
		}
	}
	t.notes = append(t.notes, "deltas after runtime.GC() from before the flows were created, divided by their number; one run in a fresh process")
	return t
}

// baseline returns the CPU per request of the epoll model at conns, the
// ceiling every other model is compared with.
func baseline(r *Run, conns int) float64 {
	for _, m := range r.Models {
		if m.Model != "epoll" {
			continue
		}
		for _, l := range m.Closed {
			if l.Conns == conns && l.CPUPerOp.N > 0 {
				return l.CPUPerOp.Median
			}
		}
	}
	return 0
}

// modelRow reports a model that has no numbers: skipped or failed check.
func modelRow(t *table, m harness.ModelResult) bool {
	switch {
	case m.Skipped != "":
		t.add(m.Model, "skipped: "+m.Skipped)
	case m.Error != "":
		t.add(m.Model, "error: "+trunc(m.Error))
	default:
		return false
	}
	return true
}

// trunc shortens an error for a table row; the JSON has it whole.
func trunc(s string) string {
	const max = 240
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "… (whole error in the JSON)"
	}
	return s
}

func loadRow(t *table, name string, l harness.Load) bool {
	switch {
	case l.Limit != "":
		t.add(name+" "+strconv.Itoa(l.Conns), "skipped: "+l.Limit)
	case l.Error != "":
		t.add(name+" "+strconv.Itoa(l.Conns), "error: "+trunc(l.Error))
	default:
		return false
	}
	return true
}

func closedTable(r *Run) *table {
	t := &table{title: "Echo, closed loop: 64-byte requests, one outstanding per connection"}
	t.add("model", ">conns", ">server CPU µs/req", ">vs epoll", ">req/s", ">server CPU", ">client CPU", "CPUs s/c", "")
	bound := false
	for _, m := range r.Models {
		if modelRow(t, m) {
			continue
		}
		for _, l := range m.Closed {
			if loadRow(t, m.Model, l) {
				continue
			}
			vs := "-"
			if b := baseline(r, l.Conns); b > 0 {
				vs = fmt.Sprintf("%.2fx", l.CPUPerOp.Median/b)
			}
			flag := ""
			if l.ClientBound {
				flag, bound = "client-bound", true
			}
			t.add(m.Model, strconv.Itoa(l.Conns), stat(l.CPUPerOp), vs, stat(l.Rate), pct(l.ServerUtil), pct(l.ClientUtil), m.ServerCPUs+"/"+m.ClientCPUs, flag)
		}
	}
	t.notes = append(t.notes,
		"server CPU: the kernel's accounting of all the server's processes and threads (process CPU clocks), over the measured intervals only",
		"CPU columns: share of one CPU; 'vs epoll': server CPU per request relative to the hand-written epoll loop at the same connection count",
		"CPUs s/c: the CPUs the server and the client were allowed to run on, as the kernel reported them (Cpus_allowed_list)",
		"1 connection mostly measures waking the other vCPU on each request; compare models at 100 connections and more")
	if bound {
		t.notes = append(t.notes, "client-bound: the load generator was busy ≥ 90% of the time, so req/s is its limit: read server CPU µs/req")
	}
	return t
}

func openTable(r *Run) *table {
	t := &table{title: fmt.Sprintf("Echo, open loop: %.0f requests/s over %d connections, latency from the scheduled send time", r.Plan.OpenRate, r.Plan.OpenConns)}
	t.add("model", ">p50 µs", ">p99 µs", ">p99.9 µs", ">max µs", ">p99 per interval µs", ">server CPU µs/req", ">client lag p99 µs", ">replies")
	for _, m := range r.Models {
		if modelRow(t, m) || m.Open == nil {
			continue
		}
		l := *m.Open
		if loadRow(t, m.Model, l) || l.Latency == nil {
			continue
		}
		lag := "-"
		if l.SendLag != nil {
			lag = us(l.SendLag.P99)
		}
		t.add(m.Model, us(l.Latency.P50), us(l.Latency.P99), us(l.Latency.P999), us(l.Latency.Max), stat(l.P99), num(l.CPUPerOp.Median), lag, strconv.FormatUint(l.Latency.Count, 10))
	}
	t.notes = append(t.notes,
		"send times are fixed in advance; a request sent late (client lag) or queued behind a slow reply is charged from its scheduled time (no coordinated omission)",
		"client lag p99: how late the client itself sent; latencies below it are not the server's",
		"a percentile rests on the replies beyond it: p99.9 of 2,000 replies is the 2nd-largest; read it only with ≥ 10,000 replies (-full)")
	return t
}

func streamTable(r *Run) *table {
	t := &table{title: fmt.Sprintf("Echo, streaming: 16 KiB writes, 64 KiB in flight per connection, %d connections", r.Plan.StreamConns)}
	t.add("model", ">MiB/s echoed", ">server CPU µs/MiB", ">server CPU", ">client CPU", "")
	for _, m := range r.Models {
		if modelRow(t, m) || m.Stream == nil {
			continue
		}
		l := *m.Stream
		if loadRow(t, m.Model, l) {
			continue
		}
		flag := ""
		if l.ClientBound {
			flag = "client-bound"
		}
		t.add(m.Model, stat(l.Rate), stat(l.CPUPerOp), pct(l.ServerUtil), pct(l.ClientUtil), flag)
	}
	return t
}

func memoryTable(r *Run) *table {
	t := &table{title: fmt.Sprintf("Memory per idle connection, %d connections", r.Plan.IdleConns)}
	t.add("model", ">conns", ">processes", ">KiB/conn (anon PSS)", ">KiB/conn (RSS)", ">total anon PSS MiB", "note")
	for _, m := range r.Models {
		if modelRow(t, m) || m.Memory == nil {
			continue
		}
		mm := m.Memory
		if mm.Error != "" {
			t.add(m.Model, "error: "+trunc(mm.Error))
			continue
		}
		t.add(m.Model, strconv.Itoa(mm.Conns), strconv.Itoa(mm.Processes), kib(float64(mm.PerConn)), kib(float64(mm.RSSPer)),
			num(float64(mm.AnonPSS)/(1<<20)), mm.Limit)
	}
	t.notes = append(t.notes,
		"anon PSS: anonymous proportional memory (heap, stacks) of all the server's processes with the connections idle, minus the main process's before any connection, per connection; the pool's workers count in full",
		"RSS per connection counts shared pages once per process; kernel socket buffers are in neither, and are the same for every model")
	return t
}
