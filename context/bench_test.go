package ucontext_test

import (
	"iter"
	"testing"

	ucontext "github.com/coopgo/coop/context"
)

// BenchmarkSwapPingPong measures one Swap between two contexts made with
// Make (neither is Run's first, which only starts and ends the exchange).
// One op is one Swap.
func BenchmarkSwapPingPong(b *testing.B) {
	ucontext.Run(func() {
		main := ucontext.Current()
		var ping, pong *ucontext.Context
		n := b.N / 2
		ping = ucontext.Make(func() {
			for range n {
				ucontext.Swap(pong)
			}
		}, main)
		pong = ucontext.Make(func() {
			for {
				ucontext.Swap(ping)
			}
		}, nil)
		b.ResetTimer()
		ucontext.Swap(ping)
		b.StopTimer()
	})
	reportPerSwitch(b, 1)
}

// BenchmarkIterPullPingPong is the baseline: one op is one iter.Pull
// round trip, next plus yield, which is two runtime coroutine switches.
// The target for Swap is ≤ 1.15 × this round trip.
func BenchmarkIterPullPingPong(b *testing.B) {
	next, stop := iter.Pull(func(yield func(struct{}) bool) {
		for yield(struct{}{}) {
		}
	})
	defer stop()
	for b.Loop() {
		next()
	}
	reportPerSwitch(b, 2)
}

// BenchmarkMakeRunExit measures the life of a short context: Make, the
// switch into it, its return to its link. Finished contexts hand their
// goroutine to the next one, so no goroutine is created per op.
func BenchmarkMakeRunExit(b *testing.B) {
	b.ReportAllocs()
	ucontext.Run(func() {
		main := ucontext.Current()
		body := func() {}
		b.ResetTimer()
		for range b.N {
			ucontext.Swap(ucontext.Make(body, main))
		}
		b.StopTimer()
	})
}

// BenchmarkGoSpawnExit is MakeRunExit's counterpart with goroutines: go f()
// plus the completion signal a caller needs to know f ran.
func BenchmarkGoSpawnExit(b *testing.B) {
	b.ReportAllocs()
	done := make(chan struct{})
	body := func() { done <- struct{}{} }
	for b.Loop() {
		go body()
		<-done
	}
}

// reportPerSwitch adds ns/switch for ops of switchesPerOp switches.
func reportPerSwitch(b *testing.B, switchesPerOp int) {
	b.Helper()
	if b.N > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*switchesPerOp), "ns/switch")
	}
}
