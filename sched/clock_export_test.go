package sched

// ClockReads is how many times s has read the real clock (tick), for
// tests that check it reads it less than once per poll. On s's thread,
// or after Run.
func ClockReads(s *Scheduler) uint64 { return s.stats.clockReads }
