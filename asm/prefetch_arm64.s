#include "textflag.h"

// func Prefetch(addr uintptr, n int)
//
// R0: the address of the next line to prefetch; R1: lines left.
TEXT ·Prefetch(SB), NOSPLIT|NOFRAME, $0-16
	MOVD	addr+0(FP), R0
	MOVD	n+8(FP), R1
	CMP	$0, R1
	BLE	done
loop:
	PRFM	(R0), PLDL1KEEP
	ADD	$64, R0
	SUB	$1, R1
	CBNZ	R1, loop
done:
	RET
