package asm_test

import "golang.org/x/arch/x86/x86asm"

// switchInsts is the instruction count of Switch in switch_amd64.s.
const switchInsts = 13

func decode(code []byte) (inst, error) {
	in, err := x86asm.Decode(code, 64)
	if err != nil {
		return inst{}, err
	}
	_, reg := in.Args[0].(x86asm.Reg)
	var flow bool
	switch in.Op {
	case x86asm.JMP, x86asm.CALL, x86asm.RET, x86asm.LJMP, x86asm.LCALL, x86asm.LRET,
		x86asm.INT, x86asm.UD1, x86asm.UD2, x86asm.HLT,
		x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP,
		x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ, x86asm.JS,
		x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		flow = true
	}
	return inst{
		text:     x86asm.GoSyntax(in, 0, nil),
		size:     in.Len,
		flow:     flow,
		indirect: in.Op == x86asm.JMP && reg,
		pad:      in.Op == x86asm.INT && in.Len == 1, // INT3, the linker's filler
	}, nil
}
