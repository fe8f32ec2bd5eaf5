package sched

import "runtime"

// ClockReads is how many times s has read the real clock (tick), for
// tests that check it reads it less than once per poll. On s's thread,
// or after Run.
func ClockReads(s *Scheduler) uint64 { return s.stats.clockReads }

// Wakeups is s.Stats().Wakeups read from any goroutine without posting
// anything: a Do's own wake-up is counted by the time the Do returns,
// but may not be yet when the Do's function reads Stats on the thread.
func Wakeups(s *Scheduler) uint64 { return s.wakeups.Load() }

// Asleep reports whether s is asleep in its poller, or about to be, and
// no hand-off has woken it yet: the next one writes a wake-up.
func Asleep(s *Scheduler) bool { return s.sleeping.Load() == sleepAsleep }

// SetGOMAXPROCS is runtime.GOMAXPROCS(n), returning the previous setting
// as it does, and makes the schedulers' cached reading (procs, read again
// at most every 100 ms) take the new setting at once: a test that sets
// GOMAXPROCS and counts on spinning, or on none, must not see the
// setting of the test before it (with -count 2, the next round of the
// package reached TestXChanWaitYieldsEarly within 100 ms of the last
// test's GOMAXPROCS=1, and every spin was refused).
func SetGOMAXPROCS(n int) int {
	old := runtime.GOMAXPROCS(n)
	procsAt.Store(0)
	return old
}
