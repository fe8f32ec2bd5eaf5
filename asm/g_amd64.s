#include "textflag.h"

// func G() uintptr
//
// The runtime keeps the current g in thread-local storage; under ABI0 the
// (TLS) pseudo-register addresses that slot (the assembler rewrites it for
// each OS). AX: the g pointer.
TEXT ·G(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ	(TLS), AX
	MOVQ	AX, ret+0(FP)
	RET
