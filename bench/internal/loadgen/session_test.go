//go:build linux

package loadgen_test

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/bench/internal/loadgen"
)

// dial opens a session-mode client and closes it when the test ends.
func dial(t *testing.T, cfg loadgen.Config) *loadgen.Client {
	t.Helper()
	cfg.Mode = loadgen.Session
	cfg.ConnectTimeout = 5 * time.Second
	cl, err := loadgen.Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestSessionMeasuresAgain: one set of connections serves measurements in
// every mode one after another, each counted on its own, and a check after
// them.
func TestSessionMeasuresAgain(t *testing.T) {
	addr := serve(t, echo)
	cl := dial(t, loadgen.Config{Addr: addr, Conns: 20})
	for _, mode := range []loadgen.Mode{loadgen.Closed, loadgen.Open, loadgen.Stream, loadgen.Closed, loadgen.Open} {
		res, err := cl.Measure(loadgen.Config{Mode: mode, Rate: 2000, Warmup: 10 * time.Millisecond, Interval: 50 * time.Millisecond, Intervals: 2})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if len(res.Intervals) != 2 || res.Checked == 0 {
			t.Fatalf("%s: %d intervals, %d checked", mode, len(res.Intervals), res.Checked)
		}
		var got uint64
		for _, iv := range res.Intervals {
			got += iv.Requests + iv.Bytes
		}
		if got > res.Checked {
			t.Errorf("%s: %d counted in the intervals, only %d checked in this measurement", mode, got, res.Checked)
		}
		if mode == loadgen.Open && (res.Latency == nil || res.Latency.Count == 0 || res.Latency.Count > res.Checked) {
			t.Errorf("open: latency %+v of %d replies checked: want this measurement's replies only", res.Latency, res.Checked)
		}
	}
	if err := cl.Recheck(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Measure(loadgen.Config{Mode: loadgen.Idle}); err == nil {
		t.Error("Measure in idle mode: no error")
	}
}

// TestSpreadsSourceAddresses: past PerAddr connections, the client opens
// them from 127.0.0.2, 127.0.0.3, ... in turn.
func TestSpreadsSourceAddresses(t *testing.T) {
	var mu sync.Mutex
	from := map[string]int{}
	addr := serve(t, func(c net.Conn) {
		ap := netip.MustParseAddrPort(c.RemoteAddr().String())
		mu.Lock()
		from[ap.Addr().String()]++
		mu.Unlock()
		echo(c)
	})
	cl := dial(t, loadgen.Config{Addr: addr, Conns: 30, PerAddr: 10})
	if got := cl.Result().SourceAddrs; got != 3 {
		t.Errorf("%d source addresses, want 3", got)
	}
	if _, err := cl.Measure(loadgen.Config{Mode: loadgen.Closed, Interval: 20 * time.Millisecond, Intervals: 1}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(map[string]int{"127.0.0.1": 10, "127.0.0.2": 10, "127.0.0.3": 10}, from); diff != "" {
		t.Errorf("connections per source address (-want +got):\n%s", diff)
	}
}

func TestRefusesTooManySourceAddresses(t *testing.T) {
	_, err := loadgen.Dial(loadgen.Config{Mode: loadgen.Session, Addr: "127.0.0.1:9", Conns: 300, PerAddr: 1})
	if err == nil || !strings.Contains(err.Error(), "at most 250") {
		t.Errorf("err = %v, want a refusal", err)
	}
}
