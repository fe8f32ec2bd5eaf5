package asm

// Saved returns the registers saved in r.
func (r *Regs) Saved() (sp, bp, pc uintptr) { return r.sp, r.bp, r.pc }

// Mem returns the usable memory of s.
func (s *Stack) Mem() []byte { return s.mem }
