//go:build linux

package ladder

import (
	"github.com/coopgo/coop/asm"
	ucontext "github.com/coopgo/coop/context"
	"github.com/coopgo/coop/sched"
)

// The rows coop provides. A new one is one Register call; a row that cannot
// run yet keeps its place with Skip, so the ladder never loses a rung
// silently.
func init() {
	Register(Row{Name: "asm.Switch", What: "one raw SP/BP/PC switch between assembly contexts on mmap'd stacks (asm.PingPong)", CPUs: pinned, Run: runAsm, Skip: asmSkip()})
	Register(Row{Name: "ucontext.Swap", What: "one Swap between two contexts (one runtime coroutine switch, no host in between)", CPUs: pinned, Run: runSwap})
	Register(Row{Name: "sched hand-off", What: "one hand-off between two tasks of one scheduler that Yield to each other", CPUs: pinned, Run: runHandoff})
}

func asmSkip() string {
	if !asm.Supported {
		return "asm has no raw switch on this platform"
	}
	return ""
}

// runAsm times asm's own ping-pong: n Switch calls between two raw
// contexts. Runs are chunked because a Run cannot be preempted.
func runAsm(n int, t *Timer) error {
	p, err := asm.NewPingPong()
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Run(2); err != nil { // fault the stacks in outside the timing
		return err
	}
	const chunk = 100_000
	t.Start()
	for left := n; left > 0; left -= chunk {
		if err := p.Run(min(left, chunk)); err != nil {
			return err
		}
	}
	t.Stop()
	return nil
}

// runSwap is context/bench_test.go's ping-pong: two contexts swapping to
// each other, n Swaps in all.
func runSwap(n int, t *Timer) error {
	ucontext.Run(func() {
		main := ucontext.Current()
		var a, c *ucontext.Context
		k := max(n/2, 1)
		a = ucontext.Make(func() {
			ucontext.Swap(c) // start c outside the timing
			t.Start()
			for range k {
				ucontext.Swap(c)
			}
			t.Stop()
		}, main)
		c = ucontext.Make(func() {
			for {
				ucontext.Swap(a)
			}
		}, nil)
		ucontext.Swap(a)
	})
	return nil
}

// runHandoff is sched/bench_test.go's BenchmarkYieldHandoff: two tasks
// yielding to each other, n hand-offs in all.
func runHandoff(n int, t *Timer) error {
	s := sched.New()
	k := max(n/2, 1)
	s.Go(func() {
		sched.Yield() // both tasks started, outside the timing
		t.Start()
		for range k {
			sched.Yield()
		}
		t.Stop()
	})
	s.Go(func() {
		for range k + 1 {
			sched.Yield()
		}
	})
	return s.Run()
}
