package asm

// entrySPMod is SP modulo 16 at a function's first instruction: BL does not
// touch SP, and the kernel faults an access through an SP that is not
// 16-byte aligned.
const entrySPMod = 0
