package harness_test

import (
	"testing"

	"github.com/coopgo/coop/bench/internal/harness"
)

func TestStatOf(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want harness.Stat
	}{
		{[]float64{3, 1, 2}, harness.Stat{Median: 2, Min: 1, Max: 3, N: 3}},
		{[]float64{4, 1, 2, 3}, harness.Stat{Median: 2.5, Min: 1, Max: 4, N: 4}},
		{nil, harness.Stat{}},
	} {
		if got := harness.StatOf(c.in); got != c.want {
			t.Errorf("StatOf(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// TestOpenRate: half the slowest model's closed-loop throughput at the
// open-loop connection count, rounded down to two significant digits.
func TestOpenRate(t *testing.T) {
	p := harness.Plan{OpenConns: 100}
	row := func(model string, conns int, rate float64) harness.ModelResult {
		return harness.ModelResult{Model: model, Closed: []harness.Load{{Conns: conns, Rate: harness.Stat{Median: rate, N: 1}}}}
	}
	rs := []harness.ModelResult{row("a", 100, 40_000), row("b", 100, 13_579), row("c", 1000, 100), {Model: "d", Skipped: "no"}}
	rate, who := harness.OpenRate(rs, p, 0.5)
	if rate != 6700 || who != "b" {
		t.Errorf("OpenRate = %v, %q; want 6700, b", rate, who)
	}
	if rate, who := harness.OpenRate(rs[3:], p, 0.5); rate != 0 || who != "" {
		t.Errorf("OpenRate with no rows = %v, %q; want 0", rate, who)
	}
}
