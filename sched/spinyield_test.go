package sched

import (
	"testing"
	"time"

	"github.com/coopgo/coop/asm"
)

// yielded is a spinCond met once the spin has yielded (*first set).
type yielded struct{ first *int64 }

func (y yielded) met() bool { return *y.first != 0 }

// TestXChanWaitYieldsEarly checks that a waiter on an XChan's ring
// (spinUntil with waitYieldAfter) gives its CPU away well before
// yieldAfter: when the side it waits for shares its CPU, that side
// cannot fill or free a slot until the waiter yields. Each try spins
// until its first yield, which it records, and fails if that came
// yieldAfter (3 µs) into the spin or later. A try that the kernel
// descheduled proves nothing, nor one whose spin the process refused
// (other schedulers awake), so the test passes if any of twenty tries
// sees the early yield.
func TestXChanWaitYieldsEarly(t *testing.T) {
	defer SetGOMAXPROCS(SetGOMAXPROCS(2))
	me := asm.G()
	var first int64 // monotime of this goroutine's first yield in a try; 0: none yet
	seen := func(now int64) {
		if asm.G() == me && first == 0 {
			first = now
		}
	}
	yieldSeen.Store(&seen)
	defer yieldSeen.Store(nil)
	var got []time.Duration
	for range 20 {
		var w atomicWindow
		w.ns.Store(int64(spinMax))
		first = 0
		t0 := monotime()
		switch {
		case !spinUntil(nil, &w, yielded{&first}, waitYieldAfter):
			got = append(got, 0) // refused, or no yield within the window
		case first-t0 < yieldAfter:
			return
		default:
			got = append(got, time.Duration(first-t0))
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no spin yielded before %v (each try's first yield after its start; 0: none): %v", time.Duration(yieldAfter), got)
}
