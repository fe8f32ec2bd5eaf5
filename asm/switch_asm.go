//go:build amd64 || arm64

package asm

const switchSupported = true

// Switch saves the caller's SP, frame pointer and return address into
// *from and resumes the context saved in *to, which is either a context
// suspended in its own call to Switch or one set up by Regs.Prepare. The
// call returns when some context switches back to *from.
//
// One Switch is one switch: it stores three registers, loads three and
// jumps. From Go code, the only valid use is to start or resume a context
// running one of this package's routines on a Stack (Go code itself must
// never run on a Stack); that routine must switch back to *from while this
// goroutine is still inside the call. A Switch is not a preemption point:
// the garbage collector waits until the goroutine runs Go code again.
//
// Switch is implemented in switch_amd64.s and switch_arm64.s.
func Switch(from, to *Regs)

// bounce is the Bounce routine. It runs only on a Stack, entered by
// Switch; Go code never calls it.
func bounce(self, back *Regs)

// volley is the Volley routine. It runs only on a Stack, entered by
// Switch; Go code never calls it.
func volley(self *Regs, v *VolleyArgs)

// entries returns the ABI0 entry addresses of Switch and of the routines.
// A Go func value for an assembly function may point at an ABIInternal
// wrapper instead, so the addresses are taken in assembly.
func entries() (sw, bounce, volley uintptr)

// entry returns the ABI0 entry address of routine id.
func entry(id routineID) uintptr {
	_, b, v := entries()
	switch id {
	case routineBounce:
		return b
	case routineVolley:
		return v
	}
	return 0
}
