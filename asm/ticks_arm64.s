#include "textflag.h"

// func Ticks() uint64
//
// CNTVCT_EL0 is the virtual counter, readable from user space on Linux,
// the BSDs and macOS (the runtime reads it too). The ISB keeps the read from
// being performed speculatively before earlier instructions, the same
// ordering LFENCE gives RDTSC on amd64.
//
// R0: the counter.
TEXT ·Ticks(SB), NOSPLIT|NOFRAME, $0-8
	ISB	$15
	MRS	CNTVCT_EL0, R0
	MOVD	R0, ret+0(FP)
	RET
