package ucontext

import "iter"

// Seq returns an iterator over the values that gen passes to yield, with
// gen running as a context of its own: the generator pattern of the
// package example (a producer context that swaps back to its consumer
// with each value), ready for a range-over-func loop.
//
//	for v := range ucontext.Seq(gen) { ... }
//
// Each range starts gen afresh in a new context made with [Make]. Each
// value costs two context switches: to gen for the next value, and back
// to the loop. Ranged inside a Run, the context belongs to that Run and
// gen may [Swap] to its other contexts; ranged anywhere else, the loop is
// hosted by a Run of its own that ends with it.
//
// The rules are those of range-over-func, as with iter.Pull:
//
//   - A loop that ends early (break, return, a panic in its body) releases
//     gen's context before it goes on: gen's yield returns false, and gen
//     must then return, its deferred calls running as it does. A gen that
//     calls yield again after false panics, and that panic reaches the
//     loop as any panic of gen's.
//   - A panic in gen reaches the ranging caller with its original value,
//     where a deferred recover around the loop can catch it (Run re-panics
//     it otherwise), as a panic in an iterator reaches the caller of
//     iter.Pull's next. gen's context has finished by then.
//   - gen must not call Set: its context would end without telling the
//     loop, which would stay suspended until its Run ends.
func Seq[T any](gen func(yield func(T) bool)) iter.Seq[T] {
	return func(body func(T) bool) {
		if Current() == nil {
			Run(func() { rangeGen(gen, body) })
			return
		}
		rangeGen(gen, body)
	}
}

// generator is the state one range of a Seq shares between the loop's
// context and gen's. Only one of the two runs at a time.
type generator[T any] struct {
	loop, gen *Context
	v         T
	stop      bool // the loop ended: yield returns false from now on
	done      bool // gen returned or panicked
	panicked  bool
	panicVal  any
}

// rangeGen runs the loop of one range, in the calling context.
func rangeGen[T any](gen func(yield func(T) bool), body func(T) bool) {
	g := &generator[T]{loop: Current()}
	g.gen = Make(func() { g.run(gen) }, g.loop) // when gen ends, back to the loop
	defer g.release()
	for {
		Swap(g.gen)
		if g.done {
			g.rethrow()
			return
		}
		if !body(g.v) {
			return // release, deferred, ends gen
		}
	}
}

// run is gen's context: it recovers gen's panic for the loop to re-raise.
func (g *generator[T]) run(gen func(yield func(T) bool)) {
	defer func() {
		g.done = true
		if p := recover(); p != nil {
			if _, ok := p.(*exitSignal); ok {
				panic(p) // the end of the Run, or Set: not gen's to report
			}
			g.panicked, g.panicVal = true, p
		}
	}()
	gen(g.yield)
}

// yield hands v to the loop and reports whether the loop wants more.
func (g *generator[T]) yield(v T) bool {
	if g.stop {
		panic("ucontext: Seq's generator called yield after yield returned false")
	}
	g.v = v
	Swap(g.loop)
	return !g.stop
}

// release ends gen after a loop that did not run to gen's end: a break,
// a return, or a panic in the loop's body. A panic of this package's own
// (the loop's context unwinding at the end of its Run) is left to the
// Run, which unwinds gen too.
func (g *generator[T]) release() {
	if g.done {
		return
	}
	if p := recover(); p != nil {
		if _, ok := p.(*exitSignal); !ok {
			g.finish()
		}
		panic(p)
	}
	g.finish()
	g.rethrow()
}

// finish resumes gen with yield returning false, until it has returned.
func (g *generator[T]) finish() {
	g.stop = true
	Swap(g.gen)
}

func (g *generator[T]) rethrow() {
	if g.panicked {
		panic(g.panicVal)
	}
}
