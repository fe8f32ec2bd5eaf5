//go:build linux

package report

import "fmt"

// reloadTables is the table of the reload part: failed requests and
// latency during reloads under load, examples/http's pool against nginx.
func reloadTables(r *Run) []*table {
	if len(r.Reload) == 0 || r.ReloadPlan == nil {
		return nil
	}
	p := *r.ReloadPlan
	t := &table{title: fmt.Sprintf("Reloads under load: %d reloads of %d worker processes, one after the other, under wrk -t1 -c%d --latency", p.Reloads, p.Workers, p.Conns)}
	t.add("server", "reloaded by", ">reloads", ">failed", ">requests", ">req/s", ">p50 µs", ">p99 µs", ">p99 µs, no reload", ">ms per reload", "CPUs s/c", "what")
	for _, x := range r.Reload {
		switch {
		case x.Skipped != "":
			t.add(x.Server, "skipped: "+x.Skipped)
			continue
		case x.Error != "":
			t.add(x.Server, "error: "+trunc(x.Error))
			continue
		}
		failed := fmt.Sprint(x.Failed())
		if x.Failed() > 0 {
			failed = fmt.Sprintf("%d (%d socket errors, %d non-2xx)", x.Failed(), x.SocketErrors, x.Non2xx)
		}
		base := "-"
		if x.BaseP99 > 0 {
			base = us(x.BaseP99)
		}
		t.add(x.Server, x.Reload, fmt.Sprint(x.Reloads), failed, fmt.Sprint(x.Requests), fmt.Sprintf("%.0f", x.RPS),
			us(x.P50), us(x.P99), base, stat(x.ReloadMs), x.ServerCPUs+"/"+x.ClientCPUs, x.What)
	}
	t.notes = append(t.notes,
		"failed: wrk's socket errors (connect, read, write, timeout) and responses not 2xx or 3xx, over one wrk run that starts 0.3 s before the first reload and ends 0.3 s after the last",
		fmt.Sprintf("a reload is complete when every worker of the new generation serves and every worker of the old one has exited; the next starts %v later; ms per reload: median (min–max) over the reloads", p.Gap),
		"p50/p99: wrk's closed-loop latency over the whole run with the reloads; 'no reload': a run of the same server just before, without any",
		"servers pinned to CPU 0 (taskset: every process), wrk to CPU 1",
	)
	if p.Note != "" {
		t.notes = append(t.notes, p.Note)
	}
	t.intro = []string{
		"### Reloads under load",
		"What a reload costs the clients: examples/http as a pool of worker processes (netio/prefork, SIGHUP) against nginx (`nginx -s reload`), both reloaded one reload after the other under wrk, measured the same way. " +
			"Alone with `go -C bench run . -only reload` (add `-full` for 20 reloads).",
	}
	return []*table{t}
}
