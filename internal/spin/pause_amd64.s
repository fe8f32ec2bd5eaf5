#include "textflag.h"

// func Pause(n uint32)
//
// The loop of the runtime's procyield: PAUSE, count down, repeat.
//
// AX: the count left.
TEXT ·Pause(SB), NOSPLIT|NOFRAME, $0-4
	MOVL	n+0(FP), AX
	TESTL	AX, AX
	JZ	done
again:
	PAUSE
	SUBL	$1, AX
	JNZ	again
done:
	RET
