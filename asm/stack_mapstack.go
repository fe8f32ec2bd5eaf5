//go:build linux || openbsd

package asm

import "golang.org/x/sys/unix"

// mapStackFlag marks the mapping as a stack. OpenBSD requires it: the kernel
// kills a process whose SP is outside a MAP_STACK mapping when it enters the
// kernel. On Linux it is a hint (no transparent huge pages). FreeBSD's
// MAP_STACK means a grow-down region with semantics of its own, so it is not
// used there.
const mapStackFlag = unix.MAP_STACK
