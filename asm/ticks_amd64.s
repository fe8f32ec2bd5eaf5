#include "textflag.h"

// func Ticks() uint64
//
// LFENCE; RDTSC rather than RDTSCP or the runtime's MFENCE; LFENCE; RDTSC:
//   - RDTSC alone may execute before earlier instructions have finished,
//     moving the reading into the code being measured. LFENCE waits for
//     every earlier instruction to complete locally (on Intel always; on AMD
//     once the OS has set MSR C001_1029[1], as Linux does at boot), so the
//     reading comes after them.
//   - RDTSCP gives the same ordering but is a CPUID feature that some
//     hypervisors hide (the AMD EPYC VM this package was measured on has no
//     rdtscp flag), and it also clobbers CX with TSC_AUX. LFENCE is part of
//     SSE2, hence of every amd64.
//   - MFENCE would also drain the store buffer; a benchmark bracketing
//     thousands of switches does not need stores to be globally visible, and
//     MFENCE costs tens of cycles more.
// Later instructions may still start before RDTSC completes; that skews a
// reading by a few cycles, which the many switches per reading amortize.
//
// DX:AX: the counter, high and low halves.
TEXT ·Ticks(SB), NOSPLIT|NOFRAME, $0-8
	LFENCE
	RDTSC
	SHLQ	$32, DX
	ORQ	DX, AX
	MOVQ	AX, ret+0(FP)
	RET
