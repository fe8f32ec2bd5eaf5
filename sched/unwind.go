package sched

// IsUnwind reports whether p, a value recovered from a panic in a task, is
// the signal with which the scheduler unwinds a blocked task at the end of
// Run so that its deferred calls run. Code that recovers panics inside a
// task — a server isolating the faults of its handlers — must panic again
// with p when IsUnwind(p) is true: the task has to go on unwinding.
func IsUnwind(p any) bool { return p == unwindSignal }
