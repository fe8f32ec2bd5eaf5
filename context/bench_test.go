package ucontext_test

import (
	"iter"
	"testing"

	ucontext "github.com/coopgo/coop/context"
)

func BenchmarkSwapPingPong(b *testing.B) {
	ucontext.Run(func() {
		main := ucontext.Current()
		var a, c *ucontext.Context
		n := b.N
		a = ucontext.Make(func() {
			for i := 0; i < n; i++ {
				ucontext.Swap(c)
			}
		}, main)
		c = ucontext.Make(func() {
			for {
				ucontext.Swap(a)
			}
		}, nil)
		b.ResetTimer()
		ucontext.Swap(a)
		b.StopTimer()
	})
}

func BenchmarkIterPullPingPong(b *testing.B) {
	next, stop := iter.Pull(func(yield func(struct{}) bool) {
		for yield(struct{}{}) {
		}
	})
	defer stop()
	for b.Loop() {
		next()
	}
}
