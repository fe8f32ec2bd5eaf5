package sched

// Group returns the group s belongs to and its index there, 0 ≤ i <
// g.Len(), so that a task can pick its own scheduler's share of
// partitioned state (tables[i]) without locks; for a scheduler made by New,
// it returns nil and -1. It may be called from any goroutine.
func (s *Scheduler) Group() (g *Group, i int) {
	if s.group == nil {
		return nil, -1
	}
	for i, x := range s.group.scheds {
		if x == s {
			return s.group, i
		}
	}
	panic("sched: " + s.String() + " is not in its own group") // cannot happen: NewGroup sets both
}
