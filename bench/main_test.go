//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/clients"
	"github.com/coopgo/coop/bench/internal/ladder"
	"github.com/coopgo/coop/bench/internal/models"
	"github.com/coopgo/coop/bench/internal/report"
	"github.com/coopgo/coop/bench/internal/spawn"
)

// TestMain lets the test binary serve as every child process of the study.
func TestMain(m *testing.M) {
	child.Main()
	code := m.Run()
	child.KillAll()
	os.Exit(code)
}

// TestSmoke runs the whole study with tiny durations, as `-smoke` does, and
// checks that every row is there (measured, skipped with a reason, or
// limited with a reason — never missing, never failed) and that every
// output is written.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("the smoke run takes about 30 seconds")
	}
	if raceEnabled {
		// The study re-executes itself hundreds of times, and a
		// race-instrumented process takes ~0.3 s to start; the harness's
		// own concurrency is covered under -race by internal/harness.
		t.Skip("too slow under -race")
	}
	r, err := runStudy(studyConfig{mode: "smoke", command: "go test"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(r.Ladder), len(ladder.Rows()); got != want {
		t.Errorf("%d ladder rows, want %d", got, want)
	}
	for _, l := range r.Ladder {
		if l.Error != "" {
			t.Errorf("ladder %s: %s", l.Name, l.Error)
		}
		if l.Skipped == "" && l.NS.Median <= 0 {
			t.Errorf("ladder %s: no time", l.Name)
		}
	}
	if got, want := len(r.Spawn)+len(r.Memory), 2*len(spawn.Kinds()); got != want {
		t.Errorf("%d spawn and memory rows, want %d", got, want)
	}
	for _, s := range r.Spawn {
		if s.Error != "" {
			t.Errorf("spawn %s: %s", s.Name, s.Error)
		}
	}
	for _, m := range r.Memory {
		if m.Error != "" {
			t.Errorf("memory %s: %s", m.Name, m.Error)
		}
	}
	if n := r.NullSyscall; n == nil || n.Error != "" || n.NS.Median <= 0 {
		t.Errorf("null system call not measured: %+v", n)
	}
	if got, want := len(r.Models), len(models.All()); got != want {
		t.Errorf("%d models, want %d", got, want)
	}
	for _, m := range r.Models {
		if m.Skipped != "" {
			continue
		}
		if m.Error != "" {
			t.Errorf("model %s: %s", m.Model, m.Error)
			continue
		}
		if len(m.Closed) != len(r.Plan.Conns) || len(m.Equal) != len(r.Plan.Conns) || len(m.Memory) != len(r.Plan.Conns) {
			t.Errorf("model %s: %d closed-loop rows, %d at equal load, %d of memory; want %d of each", m.Model, len(m.Closed), len(m.Equal), len(m.Memory), len(r.Plan.Conns))
		}
		measured := 0
		for _, l := range append(append(m.Closed, m.Equal...), *m.Stream) {
			if l.Error != "" {
				t.Errorf("model %s, %d conns: %s", m.Model, l.Conns, l.Error)
			}
			// A 100 ms interval can pass without a reply on a busy
			// machine (the stall limit is 5 s), so only a model with no
			// measurement at all is a failure.
			if l.CPUPerOp.N > 0 {
				measured++
			}
		}
		if measured == 0 {
			t.Errorf("model %s: no row measured server CPU", m.Model)
		}
		for _, mm := range m.Memory {
			if mm.Error != "" || mm.Limit == "" && mm.AnonPSS <= 0 {
				t.Errorf("model %s: memory at %d: %+v", m.Model, mm.Conns, mm)
			}
		}
	}

	checkClients(t, r)
	checkFront(t, r)
	checkIRC(t, r)
	checkReload(t, r)
	checkShared(t, r)

	dir := t.TempDir()
	if _, err := report.Save(r, dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := report.Load(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	report.Text(&text, loaded)
	wants := []string{"machine:", "null system call:", "Switch ladder", "Sessions sweep", "closed loop", "equal load", "open loop", "streaming", "memory per session", "under wrk", "under redis-benchmark", "Front end:", "IRC fan-out", "idle registered client", "Reloads under load", "Shared state across event-loop instances", "×1 scheduler"}
	if hasSkipped(loaded) {
		wants = append(wants, "skipped:")
	}
	for _, want := range wants {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	if err := report.Plot(loaded, dir); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "RESULTS.md")
	if err := report.WriteMarkdown(md, loaded, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(md); err != nil || !bytes.Contains(b, []byte("Real clients and C references")) || !bytes.Contains(b, []byte("-only clients")) {
		t.Errorf("markdown lacks the real clients section (%v)", err)
	}
	for _, p := range report.Plots {
		for _, ext := range []string{".png", ".svg"} {
			if fi, err := os.Stat(filepath.Join(dir, p.Name+ext)); err != nil || fi.Size() == 0 {
				t.Errorf("plot %s%s: %v", p.Name, ext, err)
			}
		}
	}
}

// checkClients checks the rows of the real clients part: every row is
// there, none failed, and each is either skipped with a reason (a tool is
// not installed) or measured, with the server pinned to CPU 0 and the
// client to CPU 1.
func checkClients(t *testing.T, r *report.Run) {
	t.Helper()
	if r.ClientPlan == nil {
		t.Fatal("no client plan")
	}
	if got, want := len(r.Clients), clients.Rows(*r.ClientPlan); got != want {
		t.Errorf("%d client rows, want %d", got, want)
	}
	measured := 0
	for _, c := range r.Clients {
		name := c.Server + " " + c.Test
		switch {
		case c.Error != "":
			t.Errorf("clients %s: %s", name, c.Error)
		case c.Skipped != "":
			if !strings.Contains(c.Skipped, "not installed") {
				t.Errorf("clients %s: skipped for an unexpected reason: %s", name, c.Skipped)
			}
		case len(c.Runs) != r.ClientPlan.Repeats || c.Rate.Median <= 0 || c.CPUPerReq.N == 0 || c.CPUPerReq.Median <= 0 || c.P99.Median <= 0:
			t.Errorf("clients %s: not measured: %+v", name, c)
		case c.ServerCPUs != "0" || c.ClientCPUs != "1":
			t.Errorf("clients %s: server on CPUs %q, client on %q; want 0 and 1", name, c.ServerCPUs, c.ClientCPUs)
		default:
			measured++
		}
	}
	t.Logf("clients: %d of %d rows measured", measured, len(r.Clients))
}

// checkFront checks the front-end rows: each measured with every
// process where it belongs, or skipped because a tool is missing.
func checkFront(t *testing.T, r *report.Run) {
	t.Helper()
	if r.FrontPlan == nil {
		t.Fatal("no front-end plan")
	}
	if got, want := len(r.Front), 3; got != want {
		t.Errorf("%d front-end rows, want %d", got, want)
	}
	for _, c := range r.Front {
		switch {
		case c.Error != "":
			t.Errorf("front end %s: %s", c.Server, c.Error)
		case c.Skipped != "":
			if !strings.Contains(c.Skipped, "not installed") {
				t.Errorf("front end %s: skipped for an unexpected reason: %s", c.Server, c.Skipped)
			}
		case len(c.Runs) != r.FrontPlan.Repeats || c.Rate.Median <= 0 || c.CPUPerReq.N == 0 || c.CPUPerReq.Median <= 0 || c.P99.Median <= 0 || c.SocketErrors != 0:
			t.Errorf("front end %s: not measured: %+v", c.Server, c)
		case c.ServerCPUs != "0" || c.ClientCPUs != "1":
			t.Errorf("front end %s: on CPUs %q, client on %q; want 0 and 1", c.Server, c.ServerCPUs, c.ClientCPUs)
		}
	}
}

// hasSkipped reports whether any row of the run was skipped or limited,
// and so must print "skipped:" with its reason. (Which rows are skipped
// depends on the machine and on what is implemented: none may be.)
func hasSkipped(r *report.Run) bool {
	for _, l := range r.Ladder {
		if l.Skipped != "" {
			return true
		}
	}
	for _, s := range r.Spawn {
		if s.Skipped != "" {
			return true
		}
	}
	for _, m := range r.Memory {
		if m.Skipped != "" {
			return true
		}
	}
	for _, m := range r.Models {
		if m.Skipped != "" {
			return true
		}
		for _, l := range m.Closed {
			if l.Limit != "" {
				return true
			}
		}
	}
	for _, c := range append(append(r.Clients, r.Front...), r.Shared...) {
		if c.Skipped != "" {
			return true
		}
	}
	return false
}

// checkIRC checks the IRC part: a row per server, and the coop servers,
// which need nothing installed, measured.
func checkIRC(t *testing.T, r *report.Run) {
	t.Helper()
	if r.IRCPlan == nil || len(r.IRC) == 0 {
		t.Fatal("no IRC part")
	}
	for _, s := range r.IRC {
		switch {
		case s.Skipped != "":
			if strings.HasPrefix(s.Server, "coop") {
				t.Errorf("irc %s skipped: %s", s.Server, s.Skipped)
			}
		case s.Error != "":
			t.Errorf("irc %s: %s", s.Server, s.Error)
		default:
			for _, l := range s.Fanout {
				if l.Error != "" || l.Delivered == 0 {
					t.Errorf("irc %s, %d clients: %s (%d delivered)", s.Server, l.Clients, l.Error, l.Delivered)
				}
			}
			if s.Memory == nil || s.Memory.Error != "" {
				t.Errorf("irc %s: memory: %+v", s.Server, s.Memory)
			}
		}
	}
}

// checkReload checks the reload part: a row per server, each measured
// with every reload done, or skipped with a reason.
func checkReload(t *testing.T, r *report.Run) {
	t.Helper()
	if r.ReloadPlan == nil || len(r.Reload) != 2 {
		t.Errorf("reload part: plan %v, %d rows, want 2", r.ReloadPlan, len(r.Reload))
		return
	}
	for _, x := range r.Reload {
		switch {
		case x.Skipped != "":
		case x.Error != "":
			t.Errorf("reload %s: %s", x.Server, x.Error)
		case x.Reloads != r.ReloadPlan.Reloads || x.Requests == 0 || x.ReloadMs.N != x.Reloads:
			t.Errorf("reload %s: %d of %d reloads, %d requests, %d reload times", x.Server, x.Reloads, r.ReloadPlan.Reloads, x.Requests, x.ReloadMs.N)
		}
	}
}

// checkShared checks the table "shared state across event-loop
// instances": a SET and a GET row per server, each measured with the
// one-scheduler server on CPU 0, the two-core ones on CPUs 0-1 and
// redis-benchmark on CPU 1, or skipped because redis-benchmark is
// missing.
func checkShared(t *testing.T, r *report.Run) {
	t.Helper()
	if r.SharedPlan == nil {
		t.Fatal("no shared-state plan")
	}
	if got, want := len(r.Shared), 8; got != want {
		t.Errorf("%d shared-state rows, want %d", got, want)
	}
	for _, c := range r.Shared {
		name := c.Server + " " + c.Test
		wantCPUs := "0-1"
		if c.Server == clients.SharedBase {
			wantCPUs = "0"
		}
		switch {
		case c.Error != "":
			t.Errorf("shared state %s: %s", name, c.Error)
		case c.Skipped != "":
			if !strings.Contains(c.Skipped, "not installed") {
				t.Errorf("shared state %s: skipped for an unexpected reason: %s", name, c.Skipped)
			}
		case len(c.Runs) != r.SharedPlan.Repeats || c.Rate.Median <= 0 || c.CPUPerReq.N == 0 || c.CPUPerReq.Median <= 0:
			t.Errorf("shared state %s: not measured: %+v", name, c)
		case c.ServerCPUs != wantCPUs || c.ClientCPUs != "1":
			t.Errorf("shared state %s: on CPUs %q, client on %q; want %s and 1", name, c.ServerCPUs, c.ClientCPUs, wantCPUs)
		case !strings.Contains(c.Command, "-r 100000"):
			t.Errorf("shared state %s: redis-benchmark without random keys: %s", name, c.Command)
		}
	}
}

// TestQuickLeavesSharedToFull checks that quick mode, which has no time
// for the shared-state table, runs none of it and says in one line how to
// run it.
func TestQuickLeavesSharedToFull(t *testing.T) {
	r, err := runStudy(studyConfig{mode: "quick", parts: []string{"shared"}, command: "go test"})
	if err != nil {
		t.Fatal(err)
	}
	if r.SharedPlan != nil || len(r.Shared) != 0 {
		t.Errorf("quick mode ran the shared-state table: %d rows", len(r.Shared))
	}
	var text bytes.Buffer
	report.Text(&text, r)
	if n := strings.Count(text.String(), "-full -only shared"); n != 1 {
		t.Errorf("quick mode's report names -full -only shared %d times, want once:\n%s", n, text.String())
	}
}

// TestQuickLeavesFullOnlyModels checks the selection of server models:
// quick mode leaves out the FullOnly ones (epoll-2 among them) unless
// -models names them, -full and -smoke run them, and the note quick mode
// prints names every model it left out.
func TestQuickLeavesFullOnlyModels(t *testing.T) {
	if !plans["full"].fullOnlyModels || !plans["smoke"].fullOnlyModels || plans["quick"].fullOnlyModels {
		t.Errorf("FullOnly models run in full %v, smoke %v, quick %v; want true, true, false",
			plans["full"].fullOnlyModels, plans["smoke"].fullOnlyModels, plans["quick"].fullOnlyModels)
	}
	var all, fullOnly []string
	for _, m := range models.All() {
		all = append(all, m.Name)
		if m.FullOnly {
			fullOnly = append(fullOnly, m.Name)
		}
	}
	if !slices.Contains(fullOnly, "epoll-2") {
		t.Fatalf("epoll-2 is not FullOnly; FullOnly models: %v", fullOnly)
	}
	names := func(ms []models.Model) (out []string) {
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name              string
		models            []string
		fullOnly          bool
		want, wantLeftOut []string
	}{
		{"quick", nil, false, slices.DeleteFunc(slices.Clone(all), func(n string) bool { return slices.Contains(fullOnly, n) }), fullOnly},
		{"full", nil, true, all, nil},
		{"quick -models", []string{"epoll-2", "epoll"}, false, []string{"epoll", "epoll-2"}, nil},
	} {
		ms, leftOut, err := selectModels(tc.models, tc.fullOnly)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.want, names(ms)); diff != "" {
			t.Errorf("%s: models (-want +got):\n%s", tc.name, diff)
		}
		if diff := cmp.Diff(tc.wantLeftOut, leftOut); diff != "" {
			t.Errorf("%s: left out (-want +got):\n%s", tc.name, diff)
		}
	}
	if _, _, err := selectModels([]string{"epoll", "no-such"}, false); err == nil || !strings.Contains(err.Error(), `"no-such"`) {
		t.Errorf("unknown model: err %v, want one naming it", err)
	}
	note := fullOnlyNote(fullOnly)
	for _, n := range fullOnly {
		if !strings.Contains(note, n) {
			t.Errorf("note lacks %s: %s", n, note)
		}
	}
	if strings.Count(note, "-full") != 1 || strings.Contains(note, "\n") {
		t.Errorf("note is not one line naming -full once: %s", note)
	}
}
