package asm_test

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/asm"
)

func TestSupported(t *testing.T) {
	unix := runtime.GOOS != "windows" && runtime.GOOS != "plan9" && runtime.GOOS != "js" && runtime.GOOS != "wasip1"
	want := (runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64") && unix
	if asm.Supported != want {
		t.Errorf("Supported = %v on %s/%s, want %v", asm.Supported, runtime.GOOS, runtime.GOARCH, want)
	}
	if asm.Supported {
		return
	}
	if _, err := asm.NewPingPong(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewPingPong: got %v, want an error wrapping errors.ErrUnsupported", err)
	}
	s, err := asm.NewStack(1)
	if err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("NewStack: got %v, want nil or an error wrapping errors.ErrUnsupported", err)
		}
		return
	}
	defer s.Free()
	// Stacks without a switch: the OS has mmap, the architecture no Switch.
	if err := new(asm.Regs).Prepare(s, asm.Bounce(new(asm.Regs))); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Prepare: got %v, want an error wrapping errors.ErrUnsupported", err)
	}
}

func TestPingPongCounts(t *testing.T) {
	skipUnsupported(t)
	p := mustPingPong(t)
	total := sent{}
	for _, n := range []int{0, 1, 2, 3, 4, 7, 100, 100_001, 0, 5} {
		mustRun(t, p, n)
		total = total.plus(split(int64(n)))
		if diff := cmp.Diff(total, sentOf(p)); diff != "" {
			t.Fatalf("after Run(%d): Sent mismatch (-want +got):\n%s", n, diff)
		}
	}
}

func TestPingPongErrors(t *testing.T) {
	skipUnsupported(t)
	p, err := asm.NewPingPong()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(-1); err == nil {
		t.Error("Run(-1): no error")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Run(1); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Run after Close: got %v, want an error wrapping os.ErrClosed", err)
	}
	if err := p.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: got %v, want an error wrapping os.ErrClosed", err)
	}
}

// TestPingPongUnderGC runs raw contexts for over a second while another
// goroutine forces collections and allocates. The goroutine running the
// contexts is inside assembly for whole chunks: the collector must wait for
// it (it is never preempted there) and must never scan its raw stacks.
// Preemption signals from the collector and from sysmon (which asks a
// goroutine that has run for 10 ms to yield) mostly land while SP is on a
// raw stack, since that is where the goroutine spends its time.
func TestPingPongUnderGC(t *testing.T) {
	skipUnsupported(t)
	p := mustPingPong(t)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var gcs int
	wg.Go(func() {
		var keep [][]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			keep = append(keep, make([]byte, 1<<10))
			if len(keep) > 1<<10 {
				keep = nil
			}
			runtime.GC()
			gcs++
		}
	})

	chunks := []int{100_000, 1, 0, 99_999, 1_000_000}
	want := sent{}
	deadline := time.Now().Add(1100 * time.Millisecond)
	for i := 0; time.Now().Before(deadline); i++ {
		n := chunks[i%len(chunks)]
		mustRun(t, p, n)
		want = want.plus(split(int64(n)))
	}
	close(stop)
	wg.Wait()

	if diff := cmp.Diff(want, sentOf(p)); diff != "" {
		t.Errorf("Sent mismatch (-want +got):\n%s", diff)
	}
	if gcs == 0 {
		t.Error("no garbage collection ran during the test")
	}
	t.Logf("%d switches, %d collections", want.A+want.B, gcs)
}

// TestPingPongUnderCPUProfile takes profiling signals while raw contexts
// run: the runtime's unwinder must stop at Switch (SPWRITE) or at the
// routines (TOPFRAME) instead of walking off a raw stack.
func TestPingPongUnderCPUProfile(t *testing.T) {
	skipUnsupported(t)
	p := mustPingPong(t)
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skipf("StartCPUProfile: %v", err)
	}
	want := sent{}
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); {
		mustRun(t, p, 100_000)
		want = want.plus(split(100_000))
	}
	pprof.StopCPUProfile()
	if diff := cmp.Diff(want, sentOf(p)); diff != "" {
		t.Errorf("Sent mismatch (-want +got):\n%s", diff)
	}
	if buf.Len() == 0 {
		t.Error("empty CPU profile")
	}
}

// TestBounce drives a raw context from Go: every Switch to it comes back at
// once, on the same goroutine, with the goroutine's stack intact.
func TestBounce(t *testing.T) {
	skipUnsupported(t)
	s := mustStack(t, 4096)
	host, ctx := new(asm.Regs), new(asm.Regs)
	if err := ctx.Prepare(s, asm.Bounce(host)); err != nil {
		t.Fatal(err)
	}
	g := asm.G()
	lo, hi := s.Bounds()
	local := [4]int{1, 2, 3, 4}
	for i := range 1000 {
		asm.Switch(host, ctx)
		if got := asm.G(); got != g {
			t.Fatalf("switch %d: back on goroutine %#x, want %#x", i, got, g)
		}
		if sp, _, _ := ctx.Saved(); sp < lo || sp >= hi {
			t.Fatalf("switch %d: context SP %#x outside its stack [%#x, %#x)", i, sp, lo, hi)
		}
	}
	if diff := cmp.Diff([4]int{1, 2, 3, 4}, local); diff != "" {
		t.Errorf("goroutine stack changed (-want +got):\n%s", diff)
	}
}

func TestPrepare(t *testing.T) {
	skipUnsupported(t)
	s := mustStack(t, 1)
	lo, hi := s.Bounds()
	back := new(asm.Regs)
	tests := []struct {
		name string
		fn   asm.Routine
	}{
		{"Bounce", asm.Bounce(back)},
		{"Volley", asm.Volley(&asm.VolleyArgs{Peer: back, Host: back, Left: new(int64)})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r asm.Regs
			if err := r.Prepare(s, tt.fn); err != nil {
				t.Fatal(err)
			}
			sp, bp, pc := r.Saved()
			if sp < lo || sp >= hi || hi-sp > 64 {
				t.Errorf("SP %#x not near the top of [%#x, %#x)", sp, lo, hi)
			}
			// SP as a function's first instruction sees it after a call.
			wantMod := map[string]uintptr{"amd64": 8, "arm64": 0}[runtime.GOARCH]
			if sp%16 != wantMod {
				t.Errorf("SP %#x: SP%%16 = %d, want %d", sp, sp%16, wantMod)
			}
			if bp != 0 {
				t.Errorf("BP = %#x, want 0 (end of the frame-pointer chain)", bp)
			}
			if pc == 0 {
				t.Error("PC = 0")
			}
			if got := tt.fn.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
		})
	}
}

func TestPrepareErrors(t *testing.T) {
	skipUnsupported(t)
	freed, err := asm.NewStack(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := freed.Free(); err != nil {
		t.Fatal(err)
	}
	s := mustStack(t, 1)
	tests := []struct {
		name string
		r    *asm.Regs
		s    *asm.Stack
		fn   asm.Routine
		is   error
	}{
		{"nil Regs", nil, s, asm.Bounce(new(asm.Regs)), nil},
		{"nil Stack", new(asm.Regs), nil, asm.Bounce(new(asm.Regs)), nil},
		{"zero Routine", new(asm.Regs), s, asm.Routine{}, nil},
		{"nil argument", new(asm.Regs), s, asm.Bounce(nil), nil},
		{"freed Stack", new(asm.Regs), freed, asm.Bounce(new(asm.Regs)), os.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Prepare(tt.s, tt.fn)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want an error wrapping %v", err, tt.is)
			}
		})
	}
}
