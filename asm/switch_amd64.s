#include "go_asm.h"
#include "textflag.h"

// The raw switch on amd64.
//
// Saved set: SP, BP and PC, nothing else. Go's ABI0 (the convention of
// every assembly function) has no callee-saved registers: a caller assumes
// that a call clobbers every general-purpose and vector register and the
// flags, so at the instant a context calls Switch its live state is its
// stack (memory that stays where it is) plus:
//   - SP, which locates that stack;
//   - BP, the frame pointer, which Go callees preserve (they push and pop
//     it) and which profilers, debuggers and the execution tracer follow;
//   - PC, where the caller continues: Switch's return address.
// R14 (g) and X15 (zero), which ABIInternal Go code keeps fixed, are
// reloaded by the ABI wrapper that Go code calls Switch through; the
// contexts of one switch chain all run on the same goroutine and thread, so
// the g in TLS stays right. The direction flag is clear at every call by
// the ABI, and MXCSR and the x87 control word are never changed here.
//
// Resuming is "return from the suspended call" done by hand: load SP as it
// will be after the return (8 above the return address), restore BP, and
// jump to the return address. An indirect JMP rather than RET: a RET would
// be predicted from the return-stack buffer, which after a stack switch
// names the wrong return address every time, whereas the indirect-branch
// predictor learns a ping-pong (both sides resume at the same PC).
//
// The loads from *to come first. In a ping-pong the critical path of a
// switch is SP -> load to (an argument on the stack) -> load to.sp -> SP;
// issuing those loads before the stores into *from shortened it from 8.7 to
// 7.4 TSC ticks per switch on the machine of DESIGN.md.
//
// Budget: 13 instructions, no call, no stack frame; the disassembly test
// checks the count and that the last one is an indirect jump.

// func Switch(from, to *Regs)
TEXT ·Switch(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ	from+0(FP), AX	// AX: where to save the caller
	MOVQ	to+8(FP), BX	// BX: the context to resume
	MOVQ	Regs_sp(BX), SI	// SI, DI, R8: to's SP, BP, PC
	MOVQ	Regs_bp(BX), DI
	MOVQ	Regs_pc(BX), R8
	MOVQ	0(SP), CX	// CX: our return address, the caller's resume PC
	LEAQ	8(SP), DX	// DX: the caller's SP once we would have returned
	MOVQ	DX, Regs_sp(AX)
	MOVQ	BP, Regs_bp(AX)
	MOVQ	CX, Regs_pc(AX)
	MOVQ	SI, SP	// from here on we are on to's stack
	MOVQ	DI, BP
	JMP	R8

// The routines below run on a Stack, entered by Switch with the frame that
// Regs.Prepare wrote: a zero return address and the ABI0 arguments. They
// keep all state in their frame or in memory (Switch preserves nothing
// else), call nothing but Switch, and never return. TOPFRAME tells the
// runtime's unwinder (a SIGPROF sample) to stop at them instead of
// following a return address off the Stack.

// func bounce(self, back *Regs)
TEXT ·bounce(SB), NOSPLIT|TOPFRAME, $16-16
loop:
	MOVQ	self+0(FP), AX
	MOVQ	AX, 0(SP)	// Switch's from
	MOVQ	back+8(FP), AX
	MOVQ	AX, 8(SP)	// Switch's to
	CALL	·Switch(SB)
	JMP	loop

// func volley(self *Regs, v *VolleyArgs)
TEXT ·volley(SB), NOSPLIT|TOPFRAME, $16-16
loop:
	MOVQ	v+8(FP), AX	// AX: v
	MOVQ	VolleyArgs_Left(AX), BX	// BX: v.Left
	MOVQ	(BX), CX	// CX: *v.Left
	TESTQ	CX, CX
	JLE	host
	DECQ	CX
	MOVQ	CX, (BX)
	INCQ	VolleyArgs_Sent(AX)
	MOVQ	VolleyArgs_Peer(AX), DX	// DX: the context to switch to
	JMP	switch
host:
	MOVQ	VolleyArgs_Host(AX), DX
switch:
	MOVQ	self+0(FP), AX
	MOVQ	AX, 0(SP)	// Switch's from
	MOVQ	DX, 8(SP)	// Switch's to
	CALL	·Switch(SB)
	JMP	loop

// func entries() (sw, bounce, volley uintptr)
//
// In assembly, $·name(SB) is the ABI0 entry itself, never a wrapper.
TEXT ·entries(SB), NOSPLIT|NOFRAME, $0-24
	MOVQ	$·Switch(SB), AX
	MOVQ	AX, sw+0(FP)
	MOVQ	$·bounce(SB), AX
	MOVQ	AX, bounce+8(FP)
	MOVQ	$·volley(SB), AX
	MOVQ	AX, volley+16(FP)
	RET
