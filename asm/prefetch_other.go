//go:build !amd64 && !arm64

package asm

// Prefetch does nothing on this architecture (see the amd64 and arm64
// versions): a hint, never needed for correctness.
func Prefetch(addr uintptr, n int) {}
