package asm

// G returns an identity token for the calling goroutine: the address of its
// runtime g structure. The token is never dereferenced; it is only compared.
//
// A token identifies a goroutine only while that goroutine lives: the
// runtime reuses g structures, so a goroutine that starts after another has
// exited may receive the same token.
func G() uintptr
