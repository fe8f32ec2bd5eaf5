package irc

import (
	"os"
	"testing"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
)

func TestMain(m *testing.M) {
	child.Main()
	code := m.Run()
	child.KillAll()
	os.Exit(code)
}

// TestRun runs the part at a small size: every server that is installed
// must deliver every line (the load generator checks each), and the rows
// must have their figures.
func TestRun(t *testing.T) {
	p := Plan{Clients: []int{200}, ChanSize: 100, Senders: 3, Rate: 300, Warmup: 100 * time.Millisecond,
		Interval: 200 * time.Millisecond, Intervals: 2, IdleClients: 200}
	rs := Run(p, func(string) {}, func(string) {})
	if len(rs) != len(specs) {
		t.Fatalf("%d rows, want %d", len(rs), len(specs))
	}
	measured := 0
	for _, r := range rs {
		if r.Skipped != "" {
			t.Logf("%s: skipped: %s", r.Server, r.Skipped)
			continue
		}
		if r.Error != "" {
			t.Errorf("%s: %s", r.Server, r.Error)
			continue
		}
		measured++
		if len(r.Fanout) != 1 || r.Fanout[0].Error != "" {
			t.Errorf("%s: fan-out rows %+v", r.Server, r.Fanout)
			continue
		}
		l := r.Fanout[0]
		// 3 senders at 300/s into channels of 100 (2 channels of 100):
		// about 300 × 99 lines a second.
		if l.Lines.Median < 300*99*0.7 || l.CPUPerLine.N != 2 || l.P50 <= 0 || l.P99 < l.P50 {
			t.Errorf("%s: implausible row %+v", r.Server, l)
		}
		if r.Memory == nil || r.Memory.Error != "" || r.Memory.PerClient <= 0 {
			t.Errorf("%s: memory row %+v", r.Server, r.Memory)
		}
		t.Logf("%s: %.0f lines/s, %.2f µs CPU/line, p50 %.0f µs, p99 %.0f µs, %d B/client", r.Server, l.Lines.Median, l.CPUPerLine.Median, l.P50, l.P99, r.Memory.PerClient)
	}
	if measured < 2 {
		t.Errorf("only %d servers measured; the two coop modes always can be", measured)
	}
}
