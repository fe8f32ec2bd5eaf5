//go:build unix

package asm

import (
	"os"

	"golang.org/x/sys/unix"
)

const stacksSupported = true

// mapStack maps n bytes of private anonymous memory and makes the lowest
// guard bytes inaccessible.
func mapStack(n, guard int) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|mapStackFlag)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	if err := unix.Mprotect(mem[:guard], unix.PROT_NONE); err != nil {
		unix.Munmap(mem)
		return nil, os.NewSyscallError("mprotect", err)
	}
	return mem, nil
}

func unmapStack(mem []byte) error {
	return os.NewSyscallError("munmap", unix.Munmap(mem))
}
