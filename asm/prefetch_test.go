package asm_test

import (
	"testing"
	"unsafe"

	"github.com/coopgo/coop/asm"
)

// TestPrefetchNeverFaults: Prefetch is a hint for addresses the caller
// only believes are mapped (a parked stack may have moved): a null page, a
// guard page and the end of the address space must be dropped, not fault,
// and a count of zero or less must do nothing.
func TestPrefetchNeverFaults(t *testing.T) {
	var local [256]byte
	addrs := []uintptr{
		0, 64, // the null page
		^uintptr(0) &^ 63, // the last line of the address space
	}
	for _, a := range addrs {
		asm.Prefetch(a, 4)
	}
	for _, n := range []int{-1, 0, 1, 4} {
		asm.Prefetch(uintptr(unsafe.Pointer(&local[0])), n)
	}
	if asm.Supported {
		st, err := asm.NewStack(64 << 10)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Free()
		lo, _ := st.Bounds()
		asm.Prefetch(lo-4096, 64) // the guard page (PROT_NONE) and the stack above it
	}
	local[0] = 1 // the prefetches left memory alone
	if local[0] != 1 || local[1] != 0 {
		t.Errorf("memory changed under Prefetch: %v", local[:2])
	}
}
