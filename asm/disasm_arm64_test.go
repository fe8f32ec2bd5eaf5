package asm_test

import "golang.org/x/arch/arm64/arm64asm"

// switchInsts is the instruction count of Switch in switch_arm64.s.
const switchInsts = 10

func decode(code []byte) (inst, error) {
	if len(code) >= 4 && code[0]|code[1]|code[2]|code[3] == 0 {
		// The linker fills the gaps between functions with zero words,
		// which are not valid instructions.
		return inst{text: "WORD $0", size: 4, pad: true}, nil
	}
	in, err := arm64asm.Decode(code)
	if err != nil {
		return inst{}, err
	}
	var flow bool
	switch in.Op {
	case arm64asm.B, arm64asm.BL, arm64asm.BR, arm64asm.BLR, arm64asm.RET,
		arm64asm.CBZ, arm64asm.CBNZ, arm64asm.TBZ, arm64asm.TBNZ,
		arm64asm.BRK, arm64asm.HLT, arm64asm.SVC, arm64asm.ERET:
		flow = true
	}
	_, reg := in.Args[0].(arm64asm.Reg)
	return inst{
		text:     arm64asm.GoSyntax(in, 0, nil, nil),
		size:     4,
		flow:     flow,
		indirect: in.Op == arm64asm.BR && reg,
	}, nil
}
