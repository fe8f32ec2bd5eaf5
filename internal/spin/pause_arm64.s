#include "textflag.h"

// func Pause(n uint32)
//
// The loop of the runtime's procyield: YIELD, count down, repeat. YIELD
// tells a multi-threaded core that this thread is spinning; elsewhere it
// executes as a NOP, and the loop alone paces the wait.
//
// R0: the count left.
TEXT ·Pause(SB), NOSPLIT|NOFRAME, $0-4
	MOVWU	n+0(FP), R0
	CBZ	R0, done
again:
	YIELD
	SUBS	$1, R0, R0
	BNE	again
done:
	RET
