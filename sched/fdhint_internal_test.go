package sched

import (
	"testing"

	"github.com/coopgo/coop/internal/fdhint"
)

// TestFDHint: what netio tells the scheduler through internal/fdhint
// lands in the FD's hints, which prefetchTask reads; anything else (an
// index out of range, a value that is not an FD, an FD not made by
// Register) is ignored rather than written or panicked on.
func TestFDHint(t *testing.T) {
	s := New()
	f := &FD{s: s}
	fdhint.Set(f, fdhint.Conn, 0x1000)
	fdhint.Set(f, fdhint.Reader, 0x2040)
	fdhint.Set(f, fdhint.N, 0x3000)
	fdhint.Set(f, -1, 0x3000)
	if f.hint != [fdhint.N]uintptr{0x1000, 0x2040} {
		t.Errorf("hints %#x, want [0x1000 0x2040]", f.hint)
	}
	fdhint.Set("not an FD", fdhint.Conn, 0x1000)
	var zero FD
	fdhint.Set(&zero, fdhint.Conn, 0x1000)
	if zero.hint[fdhint.Conn] != 0 {
		t.Errorf("a zero FD took hint %#x", zero.hint[fdhint.Conn])
	}
	fdhint.Set((*FD)(nil), fdhint.Conn, 0x1000) // must not panic
}
