//go:build linux

package report

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
)

// ircBaseline is the server the IRC rows are compared with.
const ircBaseline = "ngircd"

// ircTables are the tables of the IRC part: fan-out and idle memory.
func ircTables(r *Run) []*table {
	if len(r.IRC) == 0 || r.IRCPlan == nil {
		return nil
	}
	p := *r.IRCPlan
	t := &table{title: fmt.Sprintf("IRC fan-out: clients in channels of %d, %d senders, %.0f PRIVMSG/s in all (%.0f delivered lines/s), %d intervals of %v after %v",
		p.ChanSize, p.Senders, p.Rate, p.Rate*float64(p.ChanSize-1), p.Intervals, p.Interval, p.Warmup)}
	t.intro = []string{
		"### IRC: examples/chat against ngircd, InspIRCd and Ergo",
		"The coop IRC server (examples/chat, task and ready mode) and the IRC daemons of Debian, each configured by the study with flood control off, pinned to CPU 0, under the study's own IRC load generator on CPU 1 (one thread, its own epoll loop). " +
			"Every delivered line is counted and checked at its receiver: each sender's messages reach every other member of its channel exactly once and in order. Alone with `go -C bench run . -only irc`.",
	}
	t.add("server", ">clients", ">delivered lines/s", ">server CPU µs/line", ">vs "+ircBaseline, ">p50 µs", ">p99 µs", ">server CPU", ">client CPU", ">set-up s")
	base := map[int]float64{}
	for _, s := range r.IRC {
		if s.Server == ircBaseline {
			for _, l := range s.Fanout {
				if l.Error == "" && l.CPUPerLine.N > 0 {
					base[l.Clients] = l.CPUPerLine.Median
				}
			}
		}
	}
	for _, n := range p.Clients {
		for _, s := range r.IRC {
			name := fmt.Sprintf("%s (%d)", s.Server, n)
			switch {
			case s.Skipped != "":
				if n == p.Clients[0] {
					t.add(s.Server, "skipped: "+s.Skipped)
				}
				continue
			case s.Error != "":
				if n == p.Clients[0] {
					t.add(s.Server, "error: "+trunc(s.Error))
				}
				continue
			}
			for _, l := range s.Fanout {
				if l.Clients != n {
					continue
				}
				if l.Error != "" {
					t.add(name, "error: "+trunc(l.Error))
					continue
				}
				vs := "-"
				if b := base[n]; b > 0 {
					vs = fmt.Sprintf("%.2f×", l.CPUPerLine.Median/b)
				}
				t.add(s.Server, fmt.Sprint(n), num(l.Lines.Median), stat(l.CPUPerLine), vs, num(l.P50), num(l.P99), pct(l.ServerUtil), pct(l.ClientUtil), fmt.Sprintf("%.1f", l.SetupTime))
			}
		}
	}
	t.notes = []string{
		"the same load for every server and client count: the senders are spread over the first channels, so larger rows add idle registered clients, not work; the rate is fixed in advance and latency runs from each message's scheduled send time to its arrival (no coordinated omission)",
		"server CPU µs/line: CPU time of all the server's processes (utime+stime from the kernel's process clocks) per delivered line, median (min–max) over the intervals; p50/p99 over every delivery of the measured intervals",
		"flood control off for every server: coop -flood-penalty 0; ngircd's senders OPER and set user mode +F (ngircd has no setting to turn it off); InspIRCd's connect class fakelag off, threshold and commandrate 10^6; Ergo's fakelag off",
	}
	for _, s := range r.IRC {
		what := s.What
		if s.Version != "" {
			what = s.Version + ": " + what
		}
		t.notes = append(t.notes, s.Server+": "+what)
	}
	if p.Note != "" {
		t.notes = append(t.notes, p.Note)
	}
	ts := []*table{t}
	if p.IdleClients > 0 {
		m := &table{title: fmt.Sprintf("IRC: memory per idle registered client at %d (each joined to a channel of %d)", p.IdleClients, p.ChanSize)}
		m.add("server", ">KiB per client (anon PSS)", ">vs "+ircBaseline, ">baseline KiB", ">anon PSS MiB")
		var b float64
		for _, s := range r.IRC {
			if s.Server == ircBaseline && s.Memory != nil && s.Memory.Error == "" {
				b = float64(s.Memory.PerClient)
			}
		}
		for _, s := range r.IRC {
			switch {
			case s.Skipped != "":
				m.add(s.Server, "skipped: "+s.Skipped)
			case s.Memory == nil:
				m.add(s.Server, "error: "+trunc(s.Error))
			case s.Memory.Error != "":
				m.add(s.Server, "error: "+trunc(s.Memory.Error))
			default:
				vs := "-"
				if b > 0 {
					vs = fmt.Sprintf("%.2f×", float64(s.Memory.PerClient)/b)
				}
				m.add(s.Server, kib(float64(s.Memory.PerClient)), vs, kib(float64(s.Memory.Baseline)), num(float64(s.Memory.AnonPSS)/(1<<20)))
			}
		}
		m.notes = []string{"anonymous PSS of all the server's processes (heap, stacks) with the clients connected, registered and joined, minus the main process's before any client, divided by the clients; a fresh server for this row"}
		ts = append(ts, m)
	}
	return ts
}

// ircPlot draws server CPU per delivered line for each server, one series
// per client count.
func ircPlot(r *Run) (*plot.Plot, error) {
	if len(r.IRC) == 0 || r.IRCPlan == nil {
		return nil, nil
	}
	var names []string
	for _, s := range r.IRC {
		if s.Skipped == "" && s.Error == "" {
			names = append(names, s.Server)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	var ss []series
	for _, n := range r.IRCPlan.Clients {
		sr := series{name: fmt.Sprintf("%d clients", n)}
		for _, name := range names {
			v, lo, hi := math.NaN(), math.NaN(), math.NaN()
			for _, s := range r.IRC {
				for _, l := range s.Fanout {
					if s.Server == name && l.Clients == n && l.Error == "" && l.CPUPerLine.N > 0 {
						v, lo, hi = l.CPUPerLine.Median, l.CPUPerLine.Min, l.CPUPerLine.Max
					}
				}
			}
			sr.vals, sr.lo, sr.hi = append(sr.vals, v), append(sr.lo, lo), append(sr.hi, hi)
		}
		ss = append(ss, sr)
	}
	return pointChart(fmt.Sprintf("IRC fan-out: server CPU per delivered line, %.0f lines/s (median, min–max; log scale)", r.IRCPlan.Rate*float64(r.IRCPlan.ChanSize-1)), "server CPU µs per delivered line", names, ss, true)
}
