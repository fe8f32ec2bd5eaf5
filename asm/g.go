//go:build amd64 || arm64

package asm

// G returns an identity token for the calling goroutine: the address of its
// runtime g structure. The token is never dereferenced; it is only compared.
//
// A token identifies a goroutine only while that goroutine lives: the
// runtime reuses g structures, so a goroutine that starts after another has
// exited may receive the same token.
//
// G is implemented in g_amd64.s and g_arm64.s and costs about as much as a
// call; g_other.go has a slow fallback for other architectures.
func G() uintptr
