//go:build linux

package harness_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

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

// TestEqualRate: half the slowest model's closed-loop throughput at the
// count, rounded down to two significant digits; a model more than four
// times slower than the median does not set it.
func TestEqualRate(t *testing.T) {
	row := func(model string, conns int, rate float64) harness.ModelResult {
		return harness.ModelResult{Model: model, Closed: []harness.Load{{Conns: conns, Rate: harness.Stat{Median: rate, N: 1}}}}
	}
	limited := harness.ModelResult{Model: "e", Closed: []harness.Load{{Conns: 100, Limit: "capped"}}}
	rs := []harness.ModelResult{row("a", 100, 40_000), row("b", 100, 13_579), row("c", 1000, 100), {Model: "d", Skipped: "no"}, limited, row("slow", 100, 2_000), row("f", 100, 50_000)}
	rate, who, slow := harness.EqualRate(rs, 100, 0.5)
	if diff := cmp.Diff([]any{6700.0, "b", []string{"slow"}}, []any{rate, who, slow}); diff != "" {
		t.Errorf("EqualRate (-want +got):\n%s", diff)
	}
	if rate, who, _ := harness.EqualRate(rs[3:5], 100, 0.5); rate != 0 || who != "" {
		t.Errorf("EqualRate with no rows = %v, %q; want 0", rate, who)
	}
	// A server that answered nothing in its intervals (its CPU taken by
	// other work) has a throughput of 0: no rate can be chosen from it.
	stalled := []harness.ModelResult{row("a", 100, 0)}
	if rate, who, _ := harness.EqualRate(stalled, 100, 0.5); rate != 0 || who != "" {
		t.Errorf("EqualRate with a stalled row = %v, %q; want 0", rate, who)
	}
}
