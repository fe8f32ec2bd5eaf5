// Package nest lets package sched see through package ucontext: a ucontext
// Run hosted by a task runs its contexts on goroutines of their own, on
// the task's thread, where sched.Current is nil. To tell such a caller
// from a goroutine of its own (which may block as it likes, where a
// context of a task would stall every task of the scheduler), sched asks
// which goroutine hosts the caller's Run, and walks up.
//
// ucontext registers the lookup when it is linked in; without it no
// context exists, and HostOf reports none.
package nest

import "sync/atomic"

var hostOf atomic.Pointer[func(g uintptr) uintptr]

// SetHostOf registers f, which returns the goroutine (asm.G) that called
// the ucontext Run whose context runs on goroutine g, or 0 if g is not a
// context. ucontext calls it once, at init.
func SetHostOf(f func(g uintptr) uintptr) { hostOf.Store(&f) }

// HostOf returns the goroutine hosting the context that runs on g, or 0.
// It is only asked about the calling goroutine and the goroutines that
// host it, which are suspended while it runs: none of their entries
// changes under the lookup.
func HostOf(g uintptr) uintptr {
	if f := hostOf.Load(); f != nil {
		return (*f)(g)
	}
	return 0
}
