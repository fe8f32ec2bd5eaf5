//go:build linux

package report

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/coopgo/coop/bench/internal/harness"
)

// The sweep's tables: the seed's question at scale. Three summaries (server
// CPU per request at equal load and in closed loop, memory per session,
// one column per session count), then the detailed rows.

// Baseline is the model every CPU ratio is taken against: the hand-written
// state machine with one shared buffer, the ceiling of the single-threaded
// event loop.
const Baseline = "epoll"

// rowAt picks one of the sweep's rows of a model at a count.
type rowAt func(m *harness.ModelResult, conns int) *harness.Load

func closedAt(m *harness.ModelResult, conns int) *harness.Load {
	l, _, _ := m.At(conns)
	return l
}

func equalAt(m *harness.ModelResult, conns int) *harness.Load {
	_, l, _ := m.At(conns)
	return l
}

// measuredLoad reports whether l has a CPU figure.
func measuredLoad(l *harness.Load) bool {
	return l != nil && l.Limit == "" && l.Error == "" && l.CPUPerOp.N > 0
}

// base returns the baseline model's median CPU per request at conns in the
// rows at picks, or 0.
func base(r *Run, conns int, at rowAt) float64 {
	for i := range r.Models {
		if m := &r.Models[i]; m.Model == Baseline {
			if l := at(m, conns); measuredLoad(l) {
				return l.CPUPerOp.Median
			}
		}
	}
	return 0
}

// vs formats a ratio against the baseline, or "-".
func vs(v, b float64) string {
	if b <= 0 || v <= 0 {
		return "-"
	}
	switch x := v / b; {
	case x < 10:
		return fmt.Sprintf("%.2fx", x)
	case x < 100:
		return fmt.Sprintf("%.1fx", x)
	default:
		return fmt.Sprintf("%.0fx", x)
	}
}

// nullNote states the null system call beside every table of ratios.
func nullNote(r *Run) string {
	if n := r.NullSyscall; n != nil && n.Error == "" && n.Skipped == "" {
		return fmt.Sprintf("this machine's null system call, measured in this run: %s ns (%s–%s); every model pays at least two per request", num(n.NS.Median), num(n.NS.Min), num(n.NS.Max))
	}
	return "this machine's null system call was not measured in this run"
}

func countLabel(c int) string {
	s := strconv.Itoa(c)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func sweepTables(r *Run) []*table {
	if len(r.Plan.Conns) == 0 {
		return nil
	}
	ts := []*table{
		cpuSummary(r, "Sessions sweep: server CPU µs per request at equal load (× "+Baseline+")", equalAt),
		cpuSummary(r, "Sessions sweep: server CPU µs per request in closed loop (× "+Baseline+")", closedAt),
		memorySummary(r),
		closedTable(r),
		equalTable(r),
	}
	ts[0].intro = []string{
		"### Sessions sweep",
		"The seed's question at scale: every echo model at " + joinCounts(r.Plan.Conns) + " sessions, each on a fresh server: memory per session once every connection has made one exchange, " +
			"server CPU per request in closed loop (one request outstanding per connection), and at equal load: an open loop at the same rate for every model, " +
			"a rate the slowest model sustains at that count. A closed loop charges the slower server more (the kernel bills the bottlenecked server for delivering replies and waking the client); the equal-load figures do not.",
	}
	ts[0].notes = append(ts[0].notes, rateNotes(r)...)
	return ts
}

func joinCounts(cs []int) string {
	ss := make([]string, len(cs))
	for i, c := range cs {
		ss[i] = countLabel(c)
	}
	return strings.Join(ss, ", ")
}

// rateNotes say how the equal-load rate was chosen at each count.
func rateNotes(r *Run) []string {
	var parts []string
	for _, rt := range r.Plan.Rates {
		s := fmt.Sprintf("%s conns: %.0f/s", countLabel(rt.Conns), rt.Rate)
		if rt.Rate == 0 {
			s = countLabel(rt.Conns) + " conns: none (no model measured a closed-loop row)"
		}
		if rt.SetBy != "" {
			s += " (" + rt.SetBy + ")"
		}
		if len(rt.TooSlow) > 0 {
			s += fmt.Sprintf(", not set by %s (under 1/4 of the median model's throughput)", strings.Join(rt.TooSlow, ", "))
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return nil
	}
	how := fmt.Sprintf("equal-load rate: %.0f%% of the lowest closed-loop throughput at each count, named in brackets; a model more than 4 times slower than the median does not set it (at its rate the others would idle and measure waking up), and is measured at the rate where it keeps up", 100*r.Plan.RateFraction)
	if r.Plan.FixedRate > 0 {
		how = "equal-load rate: set with -rate"
	}
	return []string{how + ": " + strings.Join(parts, "; ")}
}

// cpuSummary is a wide table: one row per model, one column per count,
// each cell the median CPU per request (min–max) and its ratio to the
// baseline at that count.
func cpuSummary(r *Run, title string, at rowAt) *table {
	t := &table{title: title}
	head := []string{"model"}
	for _, c := range r.Plan.Conns {
		head = append(head, ">"+countLabel(c))
	}
	t.rows = append(t.rows, head)
	gaps := false
	for i := range r.Models {
		m := &r.Models[i]
		if modelRow(t, *m) {
			continue
		}
		row := []string{m.Model}
		for _, c := range r.Plan.Conns {
			l := at(m, c)
			if !measuredLoad(l) {
				row, gaps = append(row, "n/a"), true
				continue
			}
			row = append(row, fmt.Sprintf("%s %s", stat(l.CPUPerOp), vs(l.CPUPerOp.Median, base(r, c, at))))
		}
		t.rows = append(t.rows, row)
	}
	t.notes = append(t.notes,
		"median (min–max) over the measured intervals, then the ratio to "+Baseline+" at the same count, measured in the same run, back to back",
		nullNote(r))
	if gaps {
		t.notes = append(t.notes, "n/a: not measured at that count; the detailed tables below say why")
	}
	return t
}

// memorySummary is a wide table of memory per session.
func memorySummary(r *Run) *table {
	t := &table{title: "Sessions sweep: memory per session, KiB of anonymous PSS"}
	head := []string{"model"}
	for _, c := range r.Plan.Conns {
		head = append(head, ">"+countLabel(c))
	}
	last := r.Plan.Conns[len(r.Plan.Conns)-1]
	head = append(head, ">× "+Baseline+" at "+countLabel(last), ">× net at "+countLabel(last))
	t.rows = append(t.rows, head)
	perConn := func(name string, c int) float64 {
		for i := range r.Models {
			if m := &r.Models[i]; m.Model == name {
				if _, _, mm := m.At(c); mm != nil && mm.Limit == "" && mm.Error == "" {
					return float64(mm.PerConn)
				}
			}
		}
		return 0
	}
	var why reasons
	for i := range r.Models {
		m := &r.Models[i]
		if modelRow(t, *m) {
			continue
		}
		row := []string{m.Model}
		for _, c := range r.Plan.Conns {
			_, _, mm := m.At(c)
			switch {
			case mm == nil:
				row = append(row, "n/a")
			case mm.Limit != "":
				row = append(row, "n/a")
				why.add(m.Model, c, mm.Limit)
			case mm.Error != "":
				row = append(row, "error")
				why.add(m.Model, c, trunc(mm.Error))
			default:
				cell := kib(float64(mm.PerConn))
				if mm.Processes > 1 {
					cell += fmt.Sprintf(" (%d procs)", mm.Processes)
				}
				row = append(row, cell)
			}
		}
		v := perConn(m.Model, last)
		row = append(row, vs(v, perConn(Baseline, last)), vs(v, perConn("net", last)))
		t.rows = append(t.rows, row)
	}
	t.notes = append(t.notes,
		"anonymous PSS (heap, stacks) of all the server's processes once every connection has made one exchange, minus the main process's before any connection, divided by the connections; a process pool's workers count in full",
		"kernel socket buffers are in neither figure, and are the same for every model; one reading per model and count, on a fresh server")
	if first := r.Plan.Conns[0]; first < 1000 {
		t.notes = append(t.notes, fmt.Sprintf("memory is counted in 4 KiB pages, so at %s sessions one page is %s KiB per session, and the pages a server maps for its first connections weigh on the small counts: read memory per session from 1,000 sessions up",
			countLabel(first), num(4/float64(first))))
	}
	t.notes = append(t.notes, why.notes()...)
	return t
}

// reasons collects why models were not measured at a count, so that a
// reason shared by several models at one count (every model at 50,000
// sessions, where the descriptor limit stops them all) is one note naming
// them, not one note per model.
type reasons struct {
	keys   []reasonKey
	models map[reasonKey][]string
}

type reasonKey struct {
	conns int
	why   string
}

func (rs *reasons) add(model string, conns int, why string) {
	k := reasonKey{conns, why}
	if rs.models == nil {
		rs.models = map[reasonKey][]string{}
	}
	if _, seen := rs.models[k]; !seen {
		rs.keys = append(rs.keys, k)
	}
	rs.models[k] = append(rs.models[k], model)
}

// notes returns one "models at count: reason" line per reason and count,
// in the order the reasons were first met.
func (rs *reasons) notes() []string {
	var out []string
	for _, k := range rs.keys {
		out = append(out, fmt.Sprintf("%s at %s: %s", strings.Join(rs.models[k], ", "), countLabel(k.conns), k.why))
	}
	return out
}

func closedTable(r *Run) *table {
	t := &table{title: "Echo, closed loop: 64-byte requests, one outstanding per connection"}
	t.add("model", ">conns", ">server CPU µs/req", ">vs "+Baseline, ">req/s", ">server CPU", ">client CPU", ">client CPU µs/req", "CPUs s/c", "")
	bound := false
	for i := range r.Models {
		m := &r.Models[i]
		if modelRow(t, *m) {
			continue
		}
		for _, l := range m.Closed {
			if loadRow(t, m.Model, l) {
				continue
			}
			flag := ""
			if l.ClientBound {
				flag, bound = "client-bound", true
			}
			t.add(m.Model, strconv.Itoa(l.Conns), stat(l.CPUPerOp), vs(l.CPUPerOp.Median, base(r, l.Conns, closedAt)), stat(l.Rate), pct(l.ServerUtil), pct(l.ClientUtil), num(l.ClientPerOp.Median), m.ServerCPUs+"/"+m.ClientCPUs, flag)
		}
	}
	t.notes = append(t.notes,
		"server CPU: the kernel's accounting of all the server's processes and threads (process CPU clocks), over the measured intervals only; client CPU µs/req: the load generator's own",
		"CPU columns: share of one CPU; 'vs "+Baseline+"': server CPU per request relative to the hand-written epoll loop at the same connection count, same run",
		"CPUs s/c: the CPUs the server and the client were allowed to run on, as the kernel reported them (Cpus_allowed_list)",
		nullNote(r))
	if bound {
		t.notes = append(t.notes, "client-bound: the load generator was busy ≥ 90% of the time, so req/s is its limit: read server CPU µs/req")
	}
	return t
}

func equalTable(r *Run) *table {
	t := &table{title: "Echo at equal load: open loop at the same rate for every model at each count, latency from the scheduled send time"}
	t.add("model", ">conns", ">req/s offered", ">server CPU µs/req", ">vs "+Baseline, ">server CPU", ">client CPU", ">client CPU µs/req", ">p50 µs", ">p99 µs", ">client lag p99 µs", ">replies", "")
	for i := range r.Models {
		m := &r.Models[i]
		if modelRow(t, *m) {
			continue
		}
		for _, l := range m.Equal {
			if loadRow(t, m.Model, l) {
				continue
			}
			p50, p99, replies, lag := "-", "-", "-", "-"
			if l.Latency != nil {
				p50, p99, replies = us(l.Latency.P50), us(l.Latency.P99), strconv.FormatUint(l.Latency.Count, 10)
			}
			if l.SendLag != nil {
				lag = us(l.SendLag.P99)
			}
			flag := ""
			if l.ClientBound {
				flag = "client-bound"
			}
			t.add(m.Model, strconv.Itoa(l.Conns), fmt.Sprintf("%.0f", l.OfferedRate), stat(l.CPUPerOp), vs(l.CPUPerOp.Median, base(r, l.Conns, equalAt)),
				pct(l.ServerUtil), pct(l.ClientUtil), num(l.ClientPerOp.Median), p50, p99, lag, replies, flag)
		}
	}
	t.notes = append(t.notes,
		"send times are fixed in advance, over the connections in the run's send order (see the notes); a request sent late (client lag) or queued behind a slow reply is charged from its scheduled time (no coordinated omission)",
		"client lag p99: how late the client itself sent; latencies below it are not the server's",
		nullNote(r))
	if n := loadgenNote(r); n != "" {
		t.notes = append(t.notes, n)
	}
	return t
}

// loadgenNote checks, from the figures, that the load generator was not the
// bottleneck at equal load at the largest count: how busy it was and what
// it spent per request against the servers.
func loadgenNote(r *Run) string {
	if len(r.Plan.Conns) == 0 {
		return ""
	}
	c := 0
	var util, client []float64
	var server []float64
	for _, cc := range r.Plan.Conns {
		var u, cl, sv []float64
		for i := range r.Models {
			if l := equalAt(&r.Models[i], cc); measuredLoad(l) {
				u = append(u, l.ClientUtil.Median)
				cl = append(cl, l.ClientPerOp.Median)
				sv = append(sv, l.CPUPerOp.Median)
			}
		}
		if len(u) > 0 {
			c, util, client, server = cc, u, cl, sv
		}
	}
	if c == 0 {
		return ""
	}
	u, cl, sv := harness.StatOf(util), harness.StatOf(client), harness.StatOf(server)
	room := "so it had CPU to spare"
	if u.Max >= 0.9 {
		room = "so in some rows it was near its limit: read those rows' latency with care"
	}
	return fmt.Sprintf("load generator at equal load, %s connections: busy %.0f–%.0f%% of its CPU, %s; it spent %s–%s µs of its CPU per request against the servers' %s–%s: it makes the same system calls per request as a server (a read, a write, a share of epoll_wait), and on top sleeps until each send is due, and as the waker is charged by the kernel for waking the server's CPU",
		countLabel(c), 100*u.Min, 100*u.Max, room, num(cl.Min), num(cl.Max), num(sv.Min), num(sv.Max))
}
