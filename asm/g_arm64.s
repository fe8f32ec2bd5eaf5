#include "textflag.h"

// func G() uintptr
//
// On arm64 the runtime keeps the current g in R28, named g by the
// assembler; it is preserved across ABI0 calls.
TEXT ·G(SB), NOSPLIT|NOFRAME, $0-8
	MOVD	g, R0
	MOVD	R0, ret+0(FP)
	RET
