package asm

// entrySPMod is SP modulo 16 at a function's first instruction: CALL
// pushes the 8-byte return address onto a 16-byte aligned SP.
const entrySPMod = 8
