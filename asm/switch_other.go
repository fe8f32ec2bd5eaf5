//go:build !amd64 && !arm64

package asm

import "runtime"

const switchSupported = false

const entrySPMod = 0

// Switch is not implemented on this architecture: it panics. No Regs can
// be prepared here (Regs.Prepare returns an error wrapping
// errors.ErrUnsupported), so a correct program never reaches it.
func Switch(from, to *Regs) {
	panic("asm: Switch: the raw switch is not implemented on " + runtime.GOARCH + "; check asm.Supported")
}

func entry(id routineID) uintptr { return 0 }
