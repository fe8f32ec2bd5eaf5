// Package ucontext gives Go the getcontext/makecontext/swapcontext model of
// user contexts: separate stacks of ordinary Go code that hand control to
// each other explicitly, on one goroutine's turn, with no scheduler between
// them.
//
// The package lives in the directory "context" but is named ucontext, so that
// it does not shadow the standard library's context package, which most
// programs also import:
//
//	import "github.com/coopgo/coop/context" // package ucontext
//
// # Model
//
// [Run] hosts a set of contexts on the calling goroutine. It runs its
// function as the first context; that function [Make]s further contexts and
// passes control between them with [Swap]. Exactly one context of a Run
// executes at any time, and control moves only at Swap, [Set] and when a
// context's function returns, so the contexts of one Run share memory with
// no locks. [Current] reports the running context, like getcontext.
//
// A context's function runs when the context is first switched to. When it
// returns, control passes to the context's link (uc_link); a nil link ends
// the Run. When Run returns, every context it hosted that has not finished
// is unwound: its deferred calls run, as with [runtime.Goexit], and no
// goroutine is left behind. A panic in any context unwinds the others and
// then continues out of Run with the original value.
//
// [Seq] turns a generator written this way — a context that hands each
// value to its consumer — into an iterator for a range-over-func loop.
//
// Each Run is independent: Run may be called on many goroutines at once,
// and each sees only its own contexts.
//
// # How it switches
//
// Go code must run on stacks the runtime knows: the garbage collector scans
// goroutine stacks precisely and grows them by copying. So every context is
// a goroutine, and contexts switch through the runtime's coroutine switch
// (runtime.coroswitch), reached through its public door, [iter.Pull]. That
// switch moves the running thread from one goroutine to another without
// the Go scheduler. A Swap is one coroutine switch, straight from the
// running context to the target, with no host loop in between (package
// internal/coro keeps which iter.Pull slot each context is blocked in):
// half an iter.Pull next-and-yield round trip. The raw register switch of
// package asm is cheaper still, but may only run assembly.
//
// A suspended context costs what a parked goroutine costs: its stack (from
// 2 KiB) plus about 200 bytes of bookkeeping. A context that was made but
// never switched to holds no goroutine yet.
//
// # Hazards
//
// Set, and the unwinding of contexts when Run ends, run deferred calls by
// panicking with an internal value that Run recovers. A deferred function
// that calls recover must re-panic values it does not own, as it should in
// any Go code.
//
// runtime.Goexit in a context (including testing.T.FailNow) ends the
// goroutine that called Run, after the other contexts are unwound.
//
// runtime.LockOSThread must not be called inside a context: the runtime
// requires a coroutine to keep the thread-lock state of the goroutine that
// created it, and breaking that rule is a fatal error, not a panic. Lock
// the thread before calling Run if the contexts need a fixed thread.
package ucontext
