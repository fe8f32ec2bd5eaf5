package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coopgo/coop/bench/internal/child"
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
		if len(m.Closed) != len(r.Plan.Conns) {
			t.Errorf("model %s: %d closed-loop rows, want %d", m.Model, len(m.Closed), len(r.Plan.Conns))
		}
		measured := 0
		for _, l := range append(m.Closed, *m.Open, *m.Stream) {
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
		if m.Memory == nil || m.Memory.Error != "" {
			t.Errorf("model %s: memory: %+v", m.Model, m.Memory)
		}
	}

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
	for _, want := range []string{"machine:", "Switch ladder", "closed loop", "open loop", "streaming", "idle connection", "skipped:"} {
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
	for _, p := range report.Plots {
		for _, ext := range []string{".png", ".svg"} {
			if fi, err := os.Stat(filepath.Join(dir, p.Name+ext)); err != nil || fi.Size() == 0 {
				t.Errorf("plot %s%s: %v", p.Name, ext, err)
			}
		}
	}
}
