package asm_test

import (
	"errors"
	"testing"

	"github.com/coopgo/coop/asm"
)

// skipUnsupported skips tests of raw contexts where the platform has none.
func skipUnsupported(tb testing.TB) {
	tb.Helper()
	if !asm.Supported {
		tb.Skip("raw contexts are not supported on this platform")
	}
}

// skipNoStacks skips tests of Stack where the OS has none.
func skipNoStacks(tb testing.TB) {
	tb.Helper()
	s, err := asm.NewStack(1)
	if errors.Is(err, errors.ErrUnsupported) {
		tb.Skipf("stacks are not supported on this platform: %v", err)
	}
	if err == nil {
		s.Free()
	}
}

func mustStack(tb testing.TB, size int) *asm.Stack {
	tb.Helper()
	s, err := asm.NewStack(size)
	if err != nil {
		tb.Fatalf("NewStack(%d): %v", size, err)
	}
	tb.Cleanup(func() {
		if err := s.Free(); err != nil {
			tb.Errorf("Free: %v", err)
		}
	})
	return s
}

func mustPingPong(tb testing.TB) *asm.PingPong {
	tb.Helper()
	p, err := asm.NewPingPong()
	if err != nil {
		tb.Fatalf("NewPingPong: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return p
}

func mustRun(tb testing.TB, p *asm.PingPong, n int) {
	tb.Helper()
	if err := p.Run(n); err != nil {
		tb.Fatalf("Run(%d): %v", n, err)
	}
}

// sent is what PingPong.Sent reports, as one comparable value.
type sent struct{ A, B int64 }

func sentOf(p *asm.PingPong) sent {
	a, b := p.Sent()
	return sent{a, b}
}

// split is how n switches divide between the two sides: the first makes
// the odd-numbered ones.
func split(n int64) sent { return sent{n - n/2, n / 2} }

func (s sent) plus(t sent) sent { return sent{s.A + t.A, s.B + t.B} }
