package asm

import (
	"fmt"
	"os"
	"unsafe"
)

// MaxStackSize is the largest size NewStack accepts. It matches the limit
// the Go runtime puts on a goroutine stack on 64-bit systems; a routine of
// this package needs less than a hundred bytes.
const MaxStackSize = 1 << 30

// Stack is memory for a raw context to run on, mapped outside the Go heap
// with a PROT_NONE guard page below its usable range, so that an overflow
// faults instead of overwriting a neighbour. Only the assembly routines of
// this package may run on it (see Routine): Go code never may.
//
// The Go runtime does not know about a Stack: overflowing into the guard
// page kills the process, and the garbage collector does not scan it.
type Stack struct {
	mem []byte // usable range; the guard page sits just below &mem[0]
	all []byte // the whole mapping, guard page included; nil once freed
}

var errStackFreed = fmt.Errorf("asm: stack already freed: %w", os.ErrClosed)

// NewStack maps a stack with at least size usable bytes (size is rounded up
// to whole pages) and a guard page below them.
//
// NewStack returns an error for a size that is not positive or exceeds
// MaxStackSize, when the memory cannot be mapped, and, wrapping
// errors.ErrUnsupported, on operating systems without mmap.
func NewStack(size int) (*Stack, error) {
	if size <= 0 {
		return nil, fmt.Errorf("asm: NewStack(%d): size must be positive", size)
	}
	if size > MaxStackSize {
		return nil, fmt.Errorf("asm: NewStack(%d): size exceeds MaxStackSize (%d)", size, MaxStackSize)
	}
	page := os.Getpagesize()
	// No overflow: size ≤ 1<<30 and a page is far smaller, so even a
	// 32-bit int holds the rounded size plus the guard page.
	size = (size + page - 1) &^ (page - 1)
	all, err := mapStack(size+page, page)
	if err != nil {
		return nil, err
	}
	return &Stack{mem: all[page:], all: all}, nil
}

// Free unmaps the stack. Any context still suspended on it must never be
// switched to again. Free returns an error wrapping os.ErrClosed if the
// stack was already freed.
func (s *Stack) Free() error {
	if s.freed() {
		return errStackFreed
	}
	all := s.all
	s.all, s.mem = nil, nil
	return unmapStack(all)
}

// Bounds returns the usable range [lo, hi) of the stack: a context starts
// at hi and grows down towards lo; the guard page is [lo-pagesize, lo).
// Both are 0 once the stack is freed.
func (s *Stack) Bounds() (lo, hi uintptr) {
	if s.freed() {
		return 0, 0
	}
	lo = s.base()
	return lo, lo + uintptr(len(s.mem))
}

func (s *Stack) freed() bool { return s.all == nil }

func (s *Stack) base() uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(s.mem))) }
