//go:build linux

package harness_test

import (
	"os"
	"testing"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/models"
)

// TestMain lets the test binary serve as every child process of the study.
func TestMain(m *testing.M) {
	child.Main()
	code := m.Run()
	child.KillAll()
	os.Exit(code)
}

// TestModelsEcho checks every runnable model byte-exact with many
// connections, streaming, and odd write sizes.
func TestModelsEcho(t *testing.T) {
	conns := 100
	if raceEnabled {
		conns = 30 // each of the pool's workers is a race-instrumented process
	}
	for _, m := range models.All() {
		t.Run(m.Name, func(t *testing.T) {
			if m.Serve == nil {
				t.Skipf("skipped: %s", m.Skip)
			}
			s, err := harness.StartServer(m, conns)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Stop)
			if err := harness.Verify(s, conns); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLoadModes runs each load generator mode briefly against the epoll
// model and checks that the intervals and the server's CPU are recorded.
func TestLoadModes(t *testing.T) {
	m, _ := models.Lookup("epoll")
	s, err := harness.StartServer(m, 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	pids, err := s.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []loadgen.Mode{loadgen.Closed, loadgen.Open, loadgen.Stream} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := loadgen.Config{Mode: mode, Addr: s.Addr, Conns: 50, Rate: 5000,
				Warmup: 50 * time.Millisecond, Interval: 100 * time.Millisecond, Intervals: 2, ServerPIDs: pids}
			// A pinned server that got no CPU at all over the whole run
			// (a loaded machine can starve it for the 250 ms this takes)
			// proves nothing either way: the run is tried again, three
			// times at most. A server that ran and served nothing still
			// fails at once.
			var res loadgen.Result
			var sum loadgen.Interval
			for try := 1; ; try++ {
				var err error
				res, err = harness.RunLoad(cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Intervals) != 2 {
					t.Fatalf("%d intervals, want 2", len(res.Intervals))
				}
				// Totals, not per interval: on a busy machine a pinned
				// server can miss a whole 100 ms interval.
				sum = loadgen.Interval{}
				for i, iv := range res.Intervals {
					// Each interval is due Interval after the snapshot
					// that began it, so none may be shorter.
					if iv.Wall < cfg.Interval {
						t.Errorf("interval %d: wall %v, want at least %v", i, iv.Wall, cfg.Interval)
					}
					sum.ServerCPU += iv.ServerCPU
					sum.ClientCPU += iv.ClientCPU
					sum.Requests += iv.Requests
					sum.Bytes += iv.Bytes
				}
				if sum.ServerCPU > 0 || sum.Requests > 0 || sum.Bytes > 0 || try == 3 {
					break
				}
				t.Logf("try %d: the server got no CPU in %d intervals of %v (a loaded machine); trying again", try, len(res.Intervals), cfg.Interval)
			}
			if sum.ServerCPU <= 0 || sum.ClientCPU <= 0 {
				t.Errorf("intervals %+v: want server and client CPU recorded", res.Intervals)
			}
			if (mode == loadgen.Stream) != (sum.Bytes > 0) || (mode != loadgen.Stream) != (sum.Requests > 0) {
				t.Errorf("%d requests, %d bytes in mode %s", sum.Requests, sum.Bytes, mode)
			}
			if mode == loadgen.Open && (res.Latency == nil || res.Latency.Count < 500) {
				t.Errorf("open mode latency %+v: want ~1000 samples (5000/s for 200 ms, and the drain)", res.Latency)
			}
			if res.ClientCPUs != "1" {
				t.Errorf("client CPUs %q, want 1", res.ClientCPUs)
			}
		})
	}
	t.Run("idle", func(t *testing.T) {
		held := false
		_, err := harness.RunLoad(loadgen.Config{Mode: loadgen.Idle, Addr: s.Addr, Conns: 50}, func() error {
			held = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !held {
			t.Error("hold never ran")
		}
	})
	if s.CPUs != "0" {
		t.Errorf("server CPUs %q, want 0", s.CPUs)
	}
}
