// Package asm is coop's machine level: a raw register switch between
// assembly contexts on mmap'd stacks, the hardware tick counter, and a cheap
// identity for the calling goroutine.
//
// The raw switch is the measured floor of what a user-level context switch
// costs on a machine: Switch saves three registers and loads three (SP, the
// frame pointer and PC), and PingPong runs two contexts through it. It is
// for benchmarks and for studying that floor (coop's bench reports every
// other switch against it), not for running Go code: coop's ucontext and
// sched packages switch Go code with the runtime's coroutine switch, because
// Go code must run on goroutine stacks: the garbage collector scans them
// precisely and the runtime grows them by copying, neither of which it can
// do for a stack it does not know (golang/go#62130, #62440; the README's
// "How it works").
//
// Ticks reads the hardware counter so benchmarks can report ticks next to
// nanoseconds, and G returns an identity token for the calling goroutine.
// Both work on every platform (with slow fallbacks off amd64 and arm64);
// raw contexts need amd64 or arm64 and a unix system (see Supported).
//
// # The hard rule: no Go code on a Stack
//
// Only the assembly routines of this package (see Routine) ever run on a
// Stack. They are NOSPLIT, call nothing but Switch, and never touch the Go
// runtime. Go code on a Stack would be fatal: the runtime checks SP against
// the goroutine's stack bounds, grows stacks by copying them, and the
// garbage collector scans stacks it knows about; a Stack is none of these.
//
// # Hazards
//
// While a goroutine is inside Switch or PingPong.Run it runs assembly the
// runtime cannot stop. What follows was checked against the Go 1.26 runtime
// sources (runtime/preempt.go, runtime/proc.go, runtime/traceback.go,
// runtime/signal_unix.go, cmd/internal/obj/x86/obj6.go and arm64/obj7.go):
//
//   - Preemption. isAsyncSafePoint (preempt.go) refuses any PC in a function
//     without a locals pointer map or flagged as assembly, and any SP below
//     the goroutine's stack; every instruction that runs with SP on a Stack
//     is in this package's assembly, so a preemption signal that lands there
//     is ignored and the goroutine is stopped later, in Go code, on its own
//     stack. Consequently a stop-the-world phase of the garbage collector,
//     and the scan of this goroutine's stack, wait for the call to return:
//     keep each call short (PingPong.Run with ~100,000 switches takes a
//     fraction of a millisecond).
//   - Garbage collection. A Stack is never scanned. Regs.Prepare keeps the
//     addresses of a Regs and of the routine's argument on the Stack, so it
//     forces both to the heap (which does not move), and the caller must
//     keep them reachable while the context may run.
//   - Profiling. sigprof (proc.go) unwinds from the interrupted PC and SP;
//     the unwinder (traceback.go) stops at a function flagged TOPFRAME, as
//     the routines are, and, when unwinding for a profile, at one flagged
//     SPWRITE, which the assembler sets on any function that writes SP, as
//     Switch does. So a sample taken on a Stack ends at the routine or at
//     Switch and never follows a return address off the Stack.
//     TestPingPongUnderCPUProfile exercises this.
//   - Signals. The runtime installs its handlers with SA_ONSTACK and gives
//     every thread that runs Go code an alternate signal stack
//     (minitSignalStack), so no signal frame is ever pushed onto a Stack;
//     a Stack's one guard page is enough.
//   - Faults. A fault with SP on a Stack (an overflow into the guard page, a
//     Switch to a Regs that was never prepared) cannot become a recoverable
//     panic: the runtime would have to run Go code on the Stack. Treat it as
//     fatal. The routines use a few dozen bytes, so one page never overflows.
//   - Goroutines. A Switch called from Go code returns when some context
//     switches back to the Regs it saved; meanwhile the contexts run on the
//     calling goroutine, its thread and its g. That Regs holds an SP on the
//     goroutine's stack, which may move once the call has returned, so
//     switching to it later, or from another goroutine, is undefined.
package asm
