//go:build linux

package report

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/ladder"
)

// sweepRun is a run of two counts: epoll and coop-task measured at both,
// the pool limited at the second.
func sweepRun() *Run {
	load := func(conns int, cpu, lo, hi float64) harness.Load {
		return harness.Load{Conns: conns, CPUPerOp: harness.Stat{Median: cpu, Min: lo, Max: hi, N: 3}, Rate: harness.Stat{Median: 1000, N: 3}, OfferedRate: 500}
	}
	mem := func(conns int, kib float64) harness.Memory {
		return harness.Memory{Conns: conns, PerConn: int64(kib * 1024), AnonPSS: 1 << 20, Processes: 1}
	}
	capped := "pool capped at 10 processes"
	return &Run{
		NullSyscall: &ladder.Result{NS: ladder.Stat{Median: 97, Min: 95, Max: 99}, CPUs: "0", Batches: 5},
		Plan: harness.Plan{Conns: []int{10, 1000}, RateFraction: 0.5,
			Rates: []harness.Rate{{Conns: 10, Rate: 500, SetBy: "procpool"}, {Conns: 1000, Rate: 900, SetBy: "coop-task", TooSlow: []string{"threads"}}}},
		Models: []harness.ModelResult{
			{Model: "epoll", Closed: []harness.Load{load(10, 4, 3.9, 4.1), load(1000, 5, 4.9, 5.1)}, Equal: []harness.Load{load(10, 8, 7.5, 8.5), load(1000, 10, 9, 11)},
				Memory: []harness.Memory{mem(10, 0.5), mem(1000, 0.1)}},
			{Model: "coop-task", Closed: []harness.Load{load(10, 4.4, 4, 5), load(1000, 6.5, 6, 7)}, Equal: []harness.Load{load(10, 8.8, 8, 9), load(1000, 10.5, 10, 11)},
				Memory: []harness.Memory{mem(10, 9), mem(1000, 8.5)}},
			{Model: "procpool", Closed: []harness.Load{load(10, 20, 19, 21), {Conns: 1000, Limit: capped}}, Equal: []harness.Load{load(10, 30, 29, 31), {Conns: 1000, Limit: capped}},
				Memory: []harness.Memory{mem(10, 1400), {Conns: 1000, Limit: capped}}},
			{Model: "gnet", Skipped: "not built here"},
		},
	}
}

func find(t *testing.T, ts []*table, prefix string) *table {
	t.Helper()
	for _, tb := range ts {
		if strings.HasPrefix(tb.title, prefix) {
			return tb
		}
	}
	t.Fatalf("no table %q", prefix)
	return nil
}

// TestSweepSummaries: one row per model, one cell per count, each the
// median (min–max) and its ratio to epoll at that count; what was not
// measured reads n/a, and the memory table says why.
func TestSweepSummaries(t *testing.T) {
	ts := Tables(sweepRun())
	equal := find(t, ts, "Sessions sweep: server CPU µs per request at equal load")
	want := [][]string{
		{"model", ">10", ">1,000"},
		{"epoll", "8.00 (7.50–8.50) 1.00x", "10.0 (9.00–11.0) 1.00x"},
		{"coop-task", "8.80 (8.00–9.00) 1.10x", "10.5 (10.0–11.0) 1.05x"},
		{"procpool", "30.0 (29.0–31.0) 3.75x", "n/a"},
		{"gnet", "skipped: not built here"},
	}
	if diff := cmp.Diff(want, equal.rows); diff != "" {
		t.Errorf("equal-load summary (-want +got):\n%s", diff)
	}
	closed := find(t, ts, "Sessions sweep: server CPU µs per request in closed loop")
	if diff := cmp.Diff([]string{"coop-task", "4.40 (4.00–5.00) 1.10x", "6.50 (6.00–7.00) 1.30x"}, closed.rows[2]); diff != "" {
		t.Errorf("closed-loop summary, coop-task (-want +got):\n%s", diff)
	}
	memory := find(t, ts, "Sessions sweep: memory per session")
	if diff := cmp.Diff([]string{"coop-task", "9.00", "8.50", "85.3x", "-"}, memory.rows[2]); diff != "" {
		t.Errorf("memory summary, coop-task (-want +got):\n%s", diff)
	}
	notes := strings.Join(append(append(equal.notes, memory.notes...), closed.notes...), "\n")
	for _, want := range []string{"97.0 ns (95.0–99.0)", "1,000 conns: 900/s (coop-task), not set by threads", "procpool at 1,000: pool capped at 10 processes", "n/a: not measured"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	var b strings.Builder
	Text(&b, sweepRun())
	if !strings.Contains(b.String(), "null system call: 97.0 ns (95.0–99.0), a raw getppid on CPU 0") {
		t.Errorf("header lacks the null system call:\n%s", b.String())
	}
}

// TestSweepReasonsShared: a reason that stops several models at one count
// (the descriptor limit at 50,000 sessions stops every model) is one note
// naming them all, and a different reason at that count a note of its own.
func TestSweepReasonsShared(t *testing.T) {
	r := sweepRun()
	limit := "50256 descriptors per process: RLIMIT_NOFILE's hard limit is 20000"
	r.Models[0].Memory[1] = harness.Memory{Conns: 1000, Limit: limit}
	r.Models[1].Memory[1] = harness.Memory{Conns: 1000, Limit: limit}
	memory := find(t, Tables(r), "Sessions sweep: memory per session")
	var got []string
	for _, n := range memory.notes {
		if strings.Contains(n, " at 1,000: ") {
			got = append(got, n)
		}
	}
	want := []string{
		"epoll, coop-task at 1,000: " + limit,
		"procpool at 1,000: pool capped at 10 processes",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the memory table's reasons (-want +got):\n%s", diff)
	}
}
