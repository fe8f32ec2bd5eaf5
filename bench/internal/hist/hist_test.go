package hist_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/coopgo/coop/bench/internal/hist"
)

func TestExactBelow256(t *testing.T) {
	var h hist.Histogram
	for v := int64(0); v < 256; v++ {
		h.Record(v)
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0, 0}, {0.5, 127}, {1, 255}, {10.0 / 256, 9}} {
		if got := h.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %d, want %d", c.q, got, c.want)
		}
	}
}

// TestQuantilesWithinBound checks the documented error bound against exact
// quantiles of a heavy-tailed sample spanning nanoseconds to seconds.
func TestQuantilesWithinBound(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h hist.Histogram
	vals := make([]int64, 200_000)
	for i := range vals {
		vals[i] = int64(math.Exp(r.Float64()*21)) + r.Int64N(50) // 0 .. ~1.3 s
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		rank := int(math.Ceil(q*float64(len(vals)))) - 1
		exact := vals[rank]
		got := h.Quantile(q)
		if got < exact {
			t.Errorf("Quantile(%v) = %d understates exact %d", q, got, exact)
		}
		if float64(got-exact) > float64(exact)/128+1 {
			t.Errorf("Quantile(%v) = %d, exact %d: error above 1/128", q, got, exact)
		}
	}
	if h.Min() != vals[0] || h.Max() != vals[len(vals)-1] {
		t.Errorf("min/max = %d/%d, want %d/%d", h.Min(), h.Max(), vals[0], vals[len(vals)-1])
	}
}

func TestMergeEqualsRecordingAll(t *testing.T) {
	var a, b, all hist.Histogram
	for v := int64(1); v < 1e7; v = v*3 + 1 {
		a.Record(v)
		all.Record(v)
		b.Record(v * 7)
		all.Record(v * 7)
	}
	a.Merge(&b)
	if a.Summary() != all.Summary() {
		t.Errorf("merged %v, recorded together %v", a.Summary(), all.Summary())
	}
}

func TestHugeValues(t *testing.T) {
	var h hist.Histogram
	h.Record(math.MaxInt64)
	h.Record(-5)
	if got := h.Quantile(1); got != math.MaxInt64 {
		t.Errorf("Quantile(1) = %d, want MaxInt64", got)
	}
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("Quantile(0.5) = %d, want 0 (negative recorded as 0)", got)
	}
}
