//go:build linux

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
	if n := r.NullSyscall; n != nil && n.Error == "" && n.Skipped == "" {
		h = append(h, fmt.Sprintf("null system call: %s ns (%s–%s), a raw getppid on CPU %s, median of %d batches measured in this run: every server model pays at least two system calls per request (a read and a write), so ratios between models are read against it",
			num(n.NS.Median), num(n.NS.Min), num(n.NS.Max), n.CPUs, n.Batches))
	} else if n != nil {
		h = append(h, "null system call: not measured: "+n.Error+n.Skipped)
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
		ts = append(ts, sweepTables(r)...)
		ts = append(ts, streamTable(r))
	}
	if len(r.Clients) > 0 {
		ts = append(ts, clientTables(r)...)
	}
	if len(r.Front) > 0 {
		ts = append(ts, frontTable(r))
	}
	ts = append(ts, ircTables(r)...)
	ts = append(ts, reloadTables(r)...)
	ts = append(ts, sharedTables(r)...)
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
