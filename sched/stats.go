package sched

import (
	"fmt"
	"io"
	"strings"
)

// counters are the scheduler's running totals, on its thread.
type counters struct {
	switches uint64
	polls    uint64
	spawned  uint64
	yields   uint64
	hooks    uint64 // descriptor hooks run
	spins    uint64 // spins before a sleep (spinIdle)
	spinHits uint64 // of which ended with work from another thread
	sleeps   uint64 // times the thread went to sleep in the poller, or was about to

	clockReads uint64 // readings of the real clock (tick), for tests
}

// Stats is a snapshot of a scheduler's state and totals.
type Stats struct {
	Tasks    int    // live tasks
	Runnable int    // tasks in the run queue
	Blocked  int    // tasks parked in a blocking call
	Timers   int    // pending timers (sleeps, deadlines, timeouts)
	FDs      int    // registered descriptors
	Workers  int    // goroutines backing tasks, running or pooled
	Idle     int    // pooled goroutines waiting for a task
	Offloads int    // Offload calls in flight
	Switches uint64 // task switches since Run began
	Polls    uint64 // poller waits since Run began
	Spawned  uint64 // tasks started since Run began
	Yields   uint64 // Yield calls since Run began

	// Hand-offs from other threads (see the package documentation).
	Spins    uint64 // times the idle thread spun for work before sleeping
	SpinHits uint64 // spins that ended with work from another thread
	Wakeups  uint64 // wake-ups other threads wrote to the poller (system calls)
	Sleeps   uint64 // times the thread went to sleep in the poller, or was about to
}

// Stats returns a snapshot of s. It may be called from any goroutine: off
// the scheduler thread it is handed to the thread and waits.
func (s *Scheduler) Stats() Stats {
	var st Stats
	if err := s.exec("Scheduler.Stats", func() { st = s.statsOnThread() }); err != nil {
		st = s.statsOnThread() // the scheduler has finished: nothing races
	}
	return st
}

func (s *Scheduler) statsOnThread() Stats {
	w, idle := s.grp.Live()
	runnable := 0
	for t := s.runq.head; t != nil; t = t.next {
		runnable++
	}
	return Stats{
		Tasks:    s.nTasks,
		Runnable: runnable,
		Blocked:  s.nTasks - runnable - boolInt(s.cur != nil),
		Timers:   s.timers.len(),
		FDs:      s.nFDs,
		Workers:  w,
		Idle:     idle,
		Offloads: s.offload.inFlight(),
		Switches: s.stats.switches,
		Polls:    s.stats.polls,
		Spawned:  s.stats.spawned,
		Yields:   s.stats.yields,
		Spins:    s.stats.spins,
		SpinHits: s.stats.spinHits,
		Wakeups:  s.wakeups.Load(),
		Sleeps:   s.stats.sleeps,
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Dump writes one line per live task of s — its number, state, what it
// waits for and its function — after a summary line. It may be called
// from any goroutine.
func (s *Scheduler) Dump(w io.Writer) error {
	var b strings.Builder
	if err := s.exec("Scheduler.Dump", func() { s.dumpOnThread(&b) }); err != nil {
		s.dumpOnThread(&b) // the scheduler has finished: nothing races
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (s *Scheduler) dumpOnThread(b *strings.Builder) {
	st := s.statsOnThread()
	fmt.Fprintf(b, "%s: %d tasks (%d runnable), %d timers, %d fds, %d switches, %d polls\n",
		s.label, st.Tasks, st.Runnable, st.Timers, st.FDs, st.Switches, st.Polls)
	for t := s.all.head; t != nil; t = t.allNext {
		b.WriteString("\t" + t.describe() + "\n")
	}
}
