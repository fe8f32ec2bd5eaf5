#include "go_asm.h"
#include "textflag.h"

// The raw switch on arm64.
//
// Saved set: RSP, R29 (the frame pointer) and the resume PC, nothing else.
// Go's ABI0 has no callee-saved registers (unlike the C AAPCS64, which
// saves R19-R28 and D8-D15): a caller assumes a call clobbers every general
// and vector register and the flags. At the instant a context calls Switch
// its live state is its stack plus:
//   - RSP, which locates that stack (BL leaves it unchanged, so the saved
//     RSP is also the caller's RSP after the return);
//   - R29, which Go callees preserve and unwinders follow;
//   - LR, the return address, which is where the caller continues.
// R28 (g) is never written here: every context of one switch chain runs on
// the same goroutine, so it stays right. R18 (the platform register) is not
// touched. LR itself is not restored: the caller's code after a BL treats
// LR as dead, and the routines below are TOPFRAME, so no unwinder reads it.
//
// Resuming is "return from the suspended call" done by hand: load RSP and
// R29 and branch to the saved PC with an indirect B (BR), not RET: RET
// hints the return-address predictor, which after a stack switch is wrong
// every time. As on amd64, the loads from *to are issued before the stores
// into *from: they are on the critical path of a ping-pong.
//
// Budget: 10 instructions, no call, no stack frame; the disassembly test
// checks the count and that the last one is an indirect branch.

// func Switch(from, to *Regs)
TEXT ·Switch(SB), NOSPLIT|NOFRAME, $0-16
	MOVD	from+0(FP), R0	// R0: where to save the caller
	MOVD	to+8(FP), R1	// R1: the context to resume
	LDP	Regs_sp(R1), (R2, R4)	// R2, R4, R3: to's SP, FP, PC
	MOVD	Regs_pc(R1), R3
	MOVD	RSP, R5	// R5: the caller's SP (STP cannot store RSP)
	STP	(R5, R29), Regs_sp(R0)	// Regs.sp and Regs.bp are adjacent
	MOVD	LR, Regs_pc(R0)
	MOVD	R2, RSP	// from here on we are on to's stack
	MOVD	R4, R29
	JMP	(R3)

// The routines below run on a Stack, entered by Switch with the frame that
// Regs.Prepare wrote: the ABI0 arguments at 8(RSP) and 16(RSP). They keep
// all state in their frame or in memory (Switch preserves nothing else),
// call nothing but Switch, and never return: their saved LR is whatever
// the entering Switch's caller had. TOPFRAME tells the runtime's unwinder
// (a SIGPROF sample) to stop at them instead of following that LR.

// func bounce(self, back *Regs)
TEXT ·bounce(SB), NOSPLIT|TOPFRAME, $16-16
loop:
	MOVD	self+0(FP), R0
	MOVD	R0, 8(RSP)	// Switch's from
	MOVD	back+8(FP), R0
	MOVD	R0, 16(RSP)	// Switch's to
	CALL	·Switch(SB)
	JMP	loop

// func volley(self *Regs, v *VolleyArgs)
TEXT ·volley(SB), NOSPLIT|TOPFRAME, $16-16
loop:
	MOVD	v+8(FP), R0	// R0: v
	MOVD	VolleyArgs_Left(R0), R1	// R1: v.Left
	MOVD	(R1), R2	// R2: *v.Left
	CMP	$0, R2
	BLE	host
	SUB	$1, R2
	MOVD	R2, (R1)
	MOVD	VolleyArgs_Sent(R0), R3
	ADD	$1, R3
	MOVD	R3, VolleyArgs_Sent(R0)
	MOVD	VolleyArgs_Peer(R0), R4	// R4: the context to switch to
	JMP	switch
host:
	MOVD	VolleyArgs_Host(R0), R4
switch:
	MOVD	self+0(FP), R0
	MOVD	R0, 8(RSP)	// Switch's from
	MOVD	R4, 16(RSP)	// Switch's to
	CALL	·Switch(SB)
	JMP	loop

// func entries() (sw, bounce, volley uintptr)
//
// In assembly, $·name(SB) is the ABI0 entry itself, never a wrapper.
TEXT ·entries(SB), NOSPLIT|NOFRAME, $0-24
	MOVD	$·Switch(SB), R0
	MOVD	R0, sw+0(FP)
	MOVD	$·bounce(SB), R0
	MOVD	R0, bounce+8(FP)
	MOVD	$·volley(SB), R0
	MOVD	R0, volley+16(FP)
	RET
