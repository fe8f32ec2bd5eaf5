// Package hist is a log-linear latency histogram in the manner of HdrHistogram:
// constant memory, constant-time recording, and quantiles whose relative
// error is bounded (here by 1/128, under 0.8%) at every magnitude from
// nanoseconds to hours.
//
// Values below 256 are counted exactly. Above that each power-of-two range
// [2^k, 2^(k+1)) is split into 128 equal buckets, so a bucket's width is at
// most 1/128 of the values in it. Quantiles report a bucket's highest value,
// so they never understate a latency.
package hist

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

const (
	subBits  = 8
	half     = 1 << (subBits - 1) // buckets per power of two above 2^subBits
	nBuckets = (64-subBits+1)*half + half
)

// A Histogram counts non-negative int64 values (nanoseconds, in the study).
// The zero value is ready to use. It is not safe for concurrent use: the
// load generator is single-threaded.
type Histogram struct {
	counts   [nBuckets]uint64
	n        uint64
	min, max int64
	sum      float64
}

func index(v int64) int {
	u := uint64(v)
	shift := bits.Len64(u) - subBits
	if shift < 0 {
		shift = 0
	}
	return shift*half + int(u>>uint(shift))
}

// highest returns the largest value that falls in bucket i.
func highest(i int) int64 {
	if i < 2*half {
		return int64(i)
	}
	shift := i/half - 1
	m := uint64(i - shift*half)
	top := (m+1)<<uint(shift) - 1
	if top > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(top)
}

// Record counts one value; negative values count as zero.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[index(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the exact extremes; Mean the exact mean.
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest value recorded.
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the mean of the values recorded, 0 if none.
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the smallest bucket value v such that at least q of the
// recorded values are ≤ v (q in [0, 1]); at most Max. 0 if h is empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(highest(i), h.max)
		}
	}
	return h.max
}

// Summary is what the study reports of a latency distribution.
type Summary struct {
	Count uint64        `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
	Mean  time.Duration `json:"mean_ns"`
}

// Summary returns the count, p50, p99, p99.9, max and mean.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.n,
		P50:   time.Duration(h.Quantile(0.50)),
		P99:   time.Duration(h.Quantile(0.99)),
		P999:  time.Duration(h.Quantile(0.999)),
		Max:   time.Duration(h.max),
		Mean:  time.Duration(h.Mean()),
	}
}

// String prints the summary in microseconds.
func (s Summary) String() string {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	return fmt.Sprintf("n=%d p50=%.1fµs p99=%.1fµs p99.9=%.1fµs max=%.1fµs", s.Count, us(s.P50), us(s.P99), us(s.P999), us(s.Max))
}
