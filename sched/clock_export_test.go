package sched

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
