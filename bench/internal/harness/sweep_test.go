//go:build linux

package harness_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/models"
)

// TestClientSession: a session-mode load generator keeps its connections
// between measurements in different modes and checks them again.
func TestClientSession(t *testing.T) {
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
	cl, err := harness.StartClient(loadgen.Config{Addr: s.Addr, Conns: 50, ServerPIDs: pids})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if cl.Setup.ClientCPUs != "1" || cl.Setup.SourceAddrs != 1 {
		t.Errorf("set-up %+v: want the client on CPU 1, one source address", cl.Setup)
	}
	// The same connections serve both measurements. (The server's CPU
	// in the intervals is not asserted: on a machine busy with other
	// work a pinned server can miss a whole interval; TestLoadModes
	// checks the CPU readings.)
	for _, mode := range []loadgen.Mode{loadgen.Closed, loadgen.Open} {
		res, err := cl.Measure(loadgen.Config{Mode: mode, Rate: 5000, Warmup: 20 * time.Millisecond, Interval: 50 * time.Millisecond, Intervals: 2})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if len(res.Intervals) != 2 || res.Checked == 0 || res.Config.Conns != 50 || !slices.Equal(res.Config.ServerPIDs, pids) {
			t.Errorf("%s: %+v: want 2 intervals, replies checked, over the set-up's connections", mode, res)
		}
	}
	if err := cl.Check(); err != nil {
		t.Fatal(err)
	}
	// A bad command ends the client with its reason.
	if _, err := cl.Measure(loadgen.Config{Mode: loadgen.Open}); err == nil || !strings.Contains(err.Error(), "rate") {
		t.Errorf("open without a rate: err = %v, want the client's refusal", err)
	}
}

// TestSweep runs the sweep for two models at two counts and checks that
// every row is there: memory, closed loop, equal load at the rate chosen
// for the count, and a count beyond the pool's cap recorded with its
// reason.
func TestSweep(t *testing.T) {
	var ms []models.Model
	for _, name := range []string{"epoll", "epoll-buf", "procpool"} {
		m, _ := models.Lookup(name)
		ms = append(ms, m)
	}
	// A fixed rate: the rate chosen from the closed-loop rows is
	// TestEqualRate's, and a server whose CPU other work takes for a
	// whole row would leave none to choose from.
	p := harness.Plan{Conns: []int{5, 20}, Warmup: 20 * time.Millisecond, Interval: 50 * time.Millisecond, Intervals: 2,
		FixedRate: 2000, PoolCap: 5, Settle: 10 * time.Millisecond, StreamConns: 5, CheckConns: 5}
	rs := make([]harness.ModelResult, len(ms))
	for i, m := range ms {
		rs[i] = harness.ModelResult{Model: m.Name}
	}
	steps := 0
	harness.RunSweep(ms, &p, rs, func(string) {}, func(string) { steps++ })
	if want := len(ms) * (p.Steps() - 2); steps != want {
		t.Errorf("%d progress steps, want %d", steps, want)
	}
	if diff := cmp.Diff([]harness.Rate{{Conns: 5, Rate: 2000}, {Conns: 20, Rate: 2000}}, p.Rates); diff != "" {
		t.Fatalf("rates (-want +got):\n%s", diff)
	}
	for _, r := range rs {
		for i, c := range p.Conns {
			closed, equal, mem := r.At(c)
			if closed == nil || equal == nil || mem == nil {
				t.Errorf("%s at %d: rows missing: %v %v %v", r.Model, c, closed, equal, mem)
				continue
			}
			if r.Model == "procpool" && c > p.PoolCap {
				for _, why := range []string{closed.Limit, equal.Limit, mem.Limit} {
					if !strings.Contains(why, "capped") {
						t.Errorf("procpool at %d: limit %q, want the cap", c, why)
					}
				}
				continue
			}
			for _, e := range []string{closed.Error, closed.Limit, equal.Error, equal.Limit, mem.Error, mem.Limit} {
				if e != "" {
					t.Errorf("%s at %d: %s", r.Model, c, e)
				}
			}
			if closed.Rate.N != 2 || equal.Rate.N != 2 || equal.OfferedRate != p.Rates[i].Rate || equal.Latency == nil {
				t.Errorf("%s at %d: closed %+v, equal %+v", r.Model, c, closed, equal)
			}
			if mem.AnonPSS <= 0 || mem.Processes < 1 {
				t.Errorf("%s at %d: memory %+v", r.Model, c, mem)
			}
		}
	}
}

// TestSweepLimits: a count beyond what the machine lets a model hold, or
// beyond the descriptors the study could get, is recorded with the reason
// and never started.
func TestSweepLimits(t *testing.T) {
	m, _ := models.Lookup("epoll")
	small := m
	small.Capacity = func() (int, string) { return 3, "holds three" }
	p := harness.Plan{Conns: []int{10}, NoFile: 500, NoFileWhy: "the test's limit", RateFraction: 0.5}
	rs := []harness.ModelResult{{Model: "small"}, {Model: "epoll"}}
	harness.RunSweep([]models.Model{small, m}, &p, rs, func(string) {}, func(string) {})
	if why := rs[0].Closed[0].Limit; why != "holds three" {
		t.Errorf("capacity: limit %q", why)
	}
	p.Conns = []int{1000}
	rs = []harness.ModelResult{{Model: "epoll"}}
	harness.RunSweep([]models.Model{m}, &p, rs, func(string) {}, func(string) {})
	if why := rs[0].Memory[0].Limit; !strings.Contains(why, "1256 descriptors") || !strings.Contains(why, "the test's limit") {
		t.Errorf("descriptors: limit %q", why)
	}
}
