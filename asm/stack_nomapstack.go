//go:build unix && !linux && !openbsd

package asm

// mapStackFlag is 0 where a plain mapping serves as a stack; see
// stack_mapstack.go.
const mapStackFlag = 0
