package asm

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Regs is the saved state of a suspended context: the three registers a
// call must give back to its caller, SP, the frame pointer and PC (the
// return address). Go's ABI0 makes every other register caller-saved, so a
// context suspended inside a call to Switch needs nothing else to resume
// (switch_amd64.s and switch_arm64.s explain in detail).
//
// A Regs is written by Switch when its context is switched away from, and by
// Prepare. A Regs saved by a Switch called from Go code holds an SP on the
// calling goroutine's stack: it is valid only until that Switch call
// returns, because the runtime may move the stack afterwards. Once a Regs
// has been passed to Prepare, it must not move and must stay reachable (the
// garbage collector cannot see the copy of its address kept on the Stack)
// for as long as its context may run.
type Regs struct {
	// The order sp, bp matters on arm64: Switch stores and loads the pair
	// with one STP and one LDP.
	sp uintptr // stack pointer after the suspended call returns
	bp uintptr // frame pointer (BP on amd64, R29 on arm64)
	pc uintptr // where the context resumes: the return address of its Switch
}

// routineID selects one of the assembly routines of this package.
type routineID uint8

const (
	routineNone routineID = iota
	routineBounce
	routineVolley
	numRoutines
)

var routineNames = [numRoutines]string{"none", "Bounce", "Volley"}

// Routine is an assembly routine of this package bound to its argument,
// ready to be started on a Stack by Regs.Prepare. Go code cannot run on a
// Stack, so these routines are the only code that can: each is pure
// assembly, calls nothing but Switch, and never returns (returning would
// leave the Stack with nowhere to go).
//
// Go code cannot take the address of an assembly function's ABI0 entry
// portably (a func value may point at an ABI wrapper), so the entries are
// fetched from assembly, where $·name(SB) is the ABI0 symbol itself.
type Routine struct {
	id  routineID
	arg unsafe.Pointer
}

// Bounce returns the routine that, each time it is switched to, switches
// straight back to back. A Switch from back to a context running Bounce is
// therefore a round trip of two switches.
func Bounce(back *Regs) Routine {
	return Routine{routineBounce, unsafe.Pointer(back)}
}

// Volley returns one side of a ping-pong: while *v.Left is positive, the
// routine decrements it, adds one to v.Sent and switches to v.Peer; once it
// is not, it switches to v.Host (and, if resumed, checks *v.Left again).
// Two contexts running Volley with the same Left and each other as Peer
// make exactly *Left switches between them, then one of them switches to
// Host. PingPong packages this.
func Volley(v *VolleyArgs) Routine {
	return Routine{routineVolley, unsafe.Pointer(v)}
}

// VolleyArgs is the argument of the Volley routine. The routine reads it on
// every iteration, so it may be changed while the context is suspended.
type VolleyArgs struct {
	Peer *Regs  // switched to while *Left > 0
	Host *Regs  // switched to when *Left == 0
	Left *int64 // switches left, usually shared by both sides
	Sent int64  // switches this side has made to Peer
}

// String returns the routine's name.
func (r Routine) String() string {
	if r.id >= numRoutines {
		return fmt.Sprintf("Routine(%d)", r.id)
	}
	return routineNames[r.id]
}

// Prepare sets r so that the next Switch to it enters fn on the top of s.
// Anything r held before is discarded, and so is whatever context was
// running on s: s must not be in use by another live context.
//
// r, fn's argument and s must stay where they are, reachable and unfreed,
// for as long as the context may run: their addresses are kept on s, where
// the garbage collector does not look.
//
// Prepare returns an error wrapping errors.ErrUnsupported where the raw
// switch is not implemented (see Supported).
func (r *Regs) Prepare(s *Stack, fn Routine) error {
	if !switchSupported {
		return fmt.Errorf("asm: Prepare: raw switch on %s: %w", runtime.GOARCH, errors.ErrUnsupported)
	}
	switch {
	case r == nil:
		return errors.New("asm: Prepare: nil Regs")
	case s == nil:
		return errors.New("asm: Prepare: nil Stack")
	case fn.id == routineNone || fn.id >= numRoutines:
		return fmt.Errorf("asm: Prepare: invalid %v", fn)
	case fn.arg == nil:
		return fmt.Errorf("asm: Prepare: %v with a nil argument", fn)
	}
	if s.freed() {
		return fmt.Errorf("asm: Prepare on a freed Stack: %w", errStackFreed)
	}
	// The routine's addresses live on s as plain words, so nothing tells the
	// compiler they are kept: force them to the heap, which does not move.
	escape(unsafe.Pointer(r))
	escape(fn.arg)

	// The entry frame looks as if the routine had just been called: a
	// return address (0, which ends any unwinding; the routines are
	// TOPFRAME anyway) at SP and the two ABI0 arguments (self, arg) above
	// it. SP is aligned as the hardware expects at a function entry.
	base := s.base()
	off := (base+uintptr(len(s.mem))-entryFrameSize)&^15 + entrySPMod - base
	frame := (*[3]uintptr)(unsafe.Pointer(&s.mem[off]))
	frame[0] = 0
	frame[1] = uintptr(unsafe.Pointer(r))
	frame[2] = uintptr(fn.arg)

	r.sp = base + off
	r.bp = 0 // ends the frame-pointer chain
	r.pc = entry(fn.id)
	return nil
}

// entryFrameSize is the room Prepare needs at the top of a Stack: the fake
// return address and two argument words, plus slack for the alignment.
const entryFrameSize = 3*8 + 16

var escapeSink struct {
	on bool
	p  unsafe.Pointer
}

// escape makes p escape to the heap, as the standard library's internal
// abi.Escape does: the compiler cannot prove the store never happens.
func escape(p unsafe.Pointer) {
	if escapeSink.on {
		escapeSink.p = p
	}
}
