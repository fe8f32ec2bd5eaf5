package sched

import "time"

// A Ticker sends the time on its C every period of its scheduler's clock,
// as time.Ticker does on the wall clock: it follows WithVirtualTime, and
// waiting for a tick parks a task, not the thread.
//
// C has room for one tick. A receiver too slow for the period drops
// ticks, never queues them: a tick that finds C full is dropped, and the
// ticks a busy scheduler missed are skipped, the next one coming on the
// period's grid. Stop and Reset discard a tick not yet received, as the
// time package does since Go 1.23. Only the ticker sends on C; do not
// send on it or close it.
//
// A Ticker belongs to its scheduler's thread, as a Timer does. A running
// Ticker costs one entry of the timer heap and, on the real clock, one
// wake-up of an idle scheduler per period: Stop it when done with it. A
// running Ticker does not keep Run from returning once every task has
// ended; and while no task waits on its C it wakes no one, so it neither
// hides a deadlock of the others nor, with virtual time, moves the clock.
// Make one with NewTicker: the zero Ticker's Stop and Reset panic.
type Ticker struct {
	C  *Chan[time.Time] // the channel on which the ticks are sent
	ct clockTimer
}

// NewTicker returns a Ticker on s's clock whose first tick comes after d.
// d must be greater than zero; if not, NewTicker panics.
func (s *Scheduler) NewTicker(d time.Duration) *Ticker {
	if d <= 0 {
		panic("sched: non-positive interval for NewTicker")
	}
	t := &Ticker{}
	t.C = t.ct.init(s, "Scheduler.NewTicker", true)
	t.ct.period = int64(d)
	t.ct.start(d)
	return t
}

// NewTicker is Scheduler.NewTicker on the calling task's scheduler, with
// NewTimer's rule outside a task.
func NewTicker(d time.Duration) *Ticker {
	return callerScheduler("NewTicker").NewTicker(d)
}

// Stop turns the ticker off: no tick is sent after it, and a tick not yet
// received is discarded. A task waiting on C stays waiting.
func (t *Ticker) Stop() {
	t.ct.bind("Ticker.Stop")
	t.ct.stop()
}

// Reset stops the ticker and sets its period to d: the next tick comes d
// from now. d must be greater than zero; if not, Reset panics. Reset
// restarts a stopped Ticker.
func (t *Ticker) Reset(d time.Duration) {
	if d <= 0 {
		panic("sched: non-positive interval for Ticker.Reset")
	}
	t.ct.bind("Ticker.Reset")
	t.ct.stop()
	t.ct.period = int64(d)
	t.ct.start(d)
}
