package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

type nopOwner struct{}

func (nopOwner) fire(uint8) {}

func TestTimerHeap(t *testing.T) {
	var th timerHeap
	rng := rand.New(rand.NewPCG(3, 4))
	timers := make([]timer, 1000)
	for i := range timers {
		timers[i].init(nopOwner{}, 0)
		th.set(&timers[i], rng.Int64N(1e6))
	}
	// Reset half, stop a quarter, then pop in order.
	for i := range timers {
		switch i % 4 {
		case 0, 1:
			th.set(&timers[i], rng.Int64N(1e6))
		case 2:
			th.stop(&timers[i])
		}
	}
	if th.len() != 750 {
		t.Fatalf("len %d, want 750", th.len())
	}
	last := int64(-1)
	for th.len() > 0 {
		n := th.next()
		if n.when < last {
			t.Fatalf("popped %d after %d", n.when, last)
		}
		last = n.when
		th.stop(n)
		if n.pending() {
			t.Fatal("stopped timer still pending")
		}
	}
}

// BenchmarkTimerReset moves one deadline among n pending timers, as netio
// does on every request. Target: no allocation, and at 100,000 timers
// within 2 × the cost at 1,000.
func BenchmarkTimerReset(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			var th timerHeap
			rng := rand.New(rand.NewPCG(1, 2))
			timers := make([]timer, n)
			for i := range timers {
				timers[i].init(nopOwner{}, 0)
				th.set(&timers[i], rng.Int64N(1e9))
			}
			now := int64(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				// A connection's deadline moves forward past its peers'.
				now += 10
				th.set(&timers[i%n], now+1e9)
			}
		})
	}
}
