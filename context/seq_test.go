package ucontext_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	ucontext "github.com/coopgo/coop/context"
)

// counter yields 1, 2, ... n, recording its progress and its end in tr.
func counter(tr *tracer, n int) func(yield func(int) bool) {
	return func(yield func(int) bool) {
		defer tr.add("gen ends")
		for i := 1; i <= n; i++ {
			if !yield(i) {
				tr.add("yield false at %d", i)
				return
			}
		}
	}
}

// inRun runs fn inside a Run, or directly, so that each test covers a Seq
// ranged in a context and one ranged by plain Go code (which Seq hosts in
// a Run of its own).
var inRun = []struct {
	name string
	run  func(fn func())
}{
	{"in Run", ucontext.Run},
	{"outside Run", func(fn func()) { fn() }},
}

func TestSeqRangesAll(t *testing.T) {
	for _, where := range inRun {
		t.Run(where.name, func(t *testing.T) {
			checkNoLeak(t)
			var tr tracer
			where.run(func() {
				for v := range ucontext.Seq(counter(&tr, 3)) {
					tr.add("got %d", v)
				}
				tr.add("after loop")
			})
			want := tracer{"got 1", "got 2", "got 3", "gen ends", "after loop"}
			if diff := cmp.Diff(want, tr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A break releases the generator before the loop goes on: its yield
// returns false and its deferred calls run, and its context has finished.
func TestSeqBreakReleases(t *testing.T) {
	for _, where := range inRun {
		t.Run(where.name, func(t *testing.T) {
			checkNoLeak(t)
			var tr tracer
			var genCtx *ucontext.Context
			where.run(func() {
				gen := counter(&tr, 100)
				seq := ucontext.Seq(func(yield func(int) bool) {
					genCtx = ucontext.Current()
					gen(yield)
				})
				for v := range seq {
					tr.add("got %d", v)
					if v == 2 {
						break
					}
				}
				tr.add("after loop: gen %v", genCtx)
			})
			want := tracer{"got 1", "got 2", "yield false at 2", "gen ends", "after loop: gen " + genCtx.String()}
			if diff := cmp.Diff(want, tr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !strings.HasSuffix(genCtx.String(), "(done)") {
				t.Errorf("generator context after break: %v, want done", genCtx)
			}
		})
	}
}

// A return from inside the loop releases the generator as a break does.
func TestSeqReturnReleases(t *testing.T) {
	checkNoLeak(t)
	var tr tracer
	first := func() int {
		for v := range ucontext.Seq(counter(&tr, 5)) {
			return v
		}
		return -1
	}
	ucontext.Run(func() { tr.add("first %d", first()) })
	want := tracer{"yield false at 1", "gen ends", "first 1"}
	if diff := cmp.Diff(want, tr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A panic in the generator reaches the ranging caller with its value, as
// a panic reaches the caller of iter.Pull's next, where a recover around
// the loop catches it; nothing else of the Run is unwound.
func TestSeqGeneratorPanicReachesLoop(t *testing.T) {
	for _, where := range inRun {
		t.Run(where.name, func(t *testing.T) {
			checkNoLeak(t)
			var tr tracer
			where.run(func() {
				got := func() (p any) {
					defer func() { p = recover() }()
					for v := range ucontext.Seq(func(yield func(int) bool) {
						defer tr.add("gen deferred")
						yield(1)
						panic(panicValue{7})
					}) {
						tr.add("got %d", v)
					}
					tr.add("loop ended normally: wrong")
					return nil
				}()
				tr.add("recovered %v", got)
			})
			want := tracer{"got 1", "gen deferred", "recovered {7}"}
			if diff := cmp.Diff(want, tr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Uncaught, a generator's panic goes on out of the Run that hosts the
// loop, with its original value.
func TestSeqGeneratorPanicLeavesRun(t *testing.T) {
	checkNoLeak(t)
	got := func() (p any) {
		defer func() { p = recover() }()
		for range ucontext.Seq(func(yield func(int) bool) { panic(panicValue{8}) }) {
		}
		return nil
	}()
	if diff := cmp.Diff(any(panicValue{8}), got); diff != "" {
		t.Errorf("panic (-want +got):\n%s", diff)
	}
}

// A generator that yields again after yield returned false panics, and
// the loop gets that panic, as range-over-func reports the same mistake.
func TestSeqYieldAfterFalsePanics(t *testing.T) {
	checkNoLeak(t)
	got := func() (p any) {
		defer func() { p = recover() }()
		for range ucontext.Seq(func(yield func(int) bool) {
			yield(1)
			yield(2)
		}) {
			break
		}
		return nil
	}()
	if s, _ := got.(string); !strings.Contains(s, "yield after yield returned false") {
		t.Errorf("panic %v, want the yield-after-false message", got)
	}
}

// A panic in the loop's body releases the generator (its deferred calls
// run) before it continues, with its own value, to the caller.
func TestSeqBodyPanicReleases(t *testing.T) {
	for _, where := range inRun {
		t.Run(where.name, func(t *testing.T) {
			checkNoLeak(t)
			var tr tracer
			got := func() (p any) {
				defer func() { p = recover() }()
				where.run(func() {
					for v := range ucontext.Seq(counter(&tr, 5)) {
						tr.add("got %d", v)
						panic(panicValue{v})
					}
				})
				return nil
			}()
			if diff := cmp.Diff(any(panicValue{1}), got); diff != "" {
				t.Errorf("panic (-want +got):\n%s", diff)
			}
			want := tracer{"got 1", "yield false at 1", "gen ends"}
			if diff := cmp.Diff(want, tr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// runtime.Goexit in the body (t.FailNow) releases the generator and then
// ends the goroutine, as in any context.
func TestSeqBodyGoexit(t *testing.T) {
	before := checkNoLeak(t)
	var tr tracer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := range ucontext.Seq(counter(&tr, 5)) {
			tr.add("got %d", v)
			runtime.Goexit()
		}
		tr.add("after loop: wrong")
	}()
	<-done
	awaitExit(before)
	want := tracer{"got 1", "yield false at 1", "gen ends"}
	if diff := cmp.Diff(want, tr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Seqs nest: the inner loop's generator is a context of the same Run as
// the outer one's. A generator may switch to the Run's other contexts.
func TestSeqNested(t *testing.T) {
	checkNoLeak(t)
	var got []int
	ucontext.Run(func() {
		var genCtx *ucontext.Context
		helper := ucontext.Make(func() {
			for {
				got = append(got, -1)
				ucontext.Swap(genCtx)
			}
		}, nil)
		pair := func(base int) func(yield func(int) bool) {
			return func(yield func(int) bool) {
				genCtx = ucontext.Current()
				ucontext.Swap(helper) // and back
				for i := 1; i <= 2; i++ {
					if !yield(base + i) {
						return
					}
				}
			}
		}
		for a := range ucontext.Seq(pair(0)) {
			for b := range ucontext.Seq(pair(a * 10)) {
				got = append(got, b)
			}
		}
	})
	if diff := cmp.Diff([]int{-1, -1, 11, 12, -1, 21, 22}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
