#include "textflag.h"

// func Prefetch(addr uintptr, n int)
//
// AX: the address of the next line to prefetch; CX: lines left.
TEXT ·Prefetch(SB), NOSPLIT|NOFRAME, $0-16
	MOVQ	addr+0(FP), AX
	MOVQ	n+8(FP), CX
	TESTQ	CX, CX
	JLE	done
loop:
	PREFETCHT0	(AX)
	ADDQ	$64, AX
	DECQ	CX
	JNZ	loop
done:
	RET
