package asm_test

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/coopgo/coop/asm"
)

func TestNewStackBadSizes(t *testing.T) {
	for _, size := range []int{0, -1, math.MinInt, asm.MaxStackSize + 1, math.MaxInt - os.Getpagesize() + 2, math.MaxInt} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s, err := asm.NewStack(size)
			if err == nil {
				s.Free()
				t.Fatalf("NewStack(%d): no error", size)
			}
			if s != nil {
				t.Errorf("NewStack(%d) returned a Stack with error %v", size, err)
			}
		})
	}
}

func TestNewStackSizes(t *testing.T) {
	skipNoStacks(t)
	page := os.Getpagesize()
	for _, tt := range []struct{ size, want int }{
		{1, page},
		{page - 1, page},
		{page, page},
		{page + 1, 2 * page},
		{1 << 20, 1 << 20},
	} {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			s := mustStack(t, tt.size)
			lo, hi := s.Bounds()
			if got := int(hi - lo); got != tt.want {
				t.Errorf("NewStack(%d): %d usable bytes, want %d", tt.size, got, tt.want)
			}
			if lo%uintptr(page) != 0 {
				t.Errorf("lo %#x is not page aligned", lo)
			}
			mem := s.Mem()
			mem[0], mem[len(mem)-1] = 1, 2 // both ends are writable
		})
	}
}

func TestStackFree(t *testing.T) {
	skipNoStacks(t)
	s, err := asm.NewStack(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Free(); err != nil {
		t.Fatalf("Free: %v", err)
	}
	if err := s.Free(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Free: got %v, want an error wrapping os.ErrClosed", err)
	}
	if lo, hi := s.Bounds(); lo != 0 || hi != 0 {
		t.Errorf("Bounds after Free = %#x, %#x, want 0, 0", lo, hi)
	}
}

func TestNewStackUnsupportedOS(t *testing.T) {
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" && runtime.GOOS != "js" && runtime.GOOS != "wasip1" {
		t.Skipf("%s has stacks", runtime.GOOS)
	}
	if _, err := asm.NewStack(1); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewStack: got %v, want an error wrapping errors.ErrUnsupported", err)
	}
}

// mapping is one line of /proc/self/maps.
type mapping struct {
	lo, hi uintptr
	perms  string
}

func mappingAt(tb testing.TB, addr uintptr) mapping {
	tb.Helper()
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m mapping
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x %s", &m.lo, &m.hi, &m.perms); err != nil {
			tb.Fatalf("parsing %q: %v", sc.Text(), err)
		}
		if m.lo <= addr && addr < m.hi {
			return m
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	tb.Fatalf("no mapping contains %#x", addr)
	return mapping{}
}

func TestStackGuardPage(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "android" {
		t.Skip("reads /proc/self/maps")
	}
	skipNoStacks(t)
	page := uintptr(os.Getpagesize())
	s := mustStack(t, 3*int(page))
	lo, hi := s.Bounds()

	guard := mappingAt(t, lo-1)
	if guard.perms[:3] != "---" || guard.lo > lo-page || guard.hi != lo {
		t.Errorf("guard [%#x, %#x) lies in mapping %#x-%#x %s, want a PROT_NONE mapping covering it and ending at %#x",
			lo-page, lo, guard.lo, guard.hi, guard.perms, lo)
	}
	usable := mappingAt(t, lo)
	if !strings.HasPrefix(usable.perms, "rw") || usable.hi < hi {
		t.Errorf("usable [%#x, %#x) lies in mapping %#x-%#x %s, want a read-write mapping covering it",
			lo, hi, usable.lo, usable.hi, usable.perms)
	}
}
