//go:build linux

package spawn

import (
	"time"

	"github.com/coopgo/coop/sched"
)

// The kinds coop's scheduler provides.
func init() {
	Register(Kind{Name: "sched task", What: "Scheduler.Go + Task.Wait from a task; parked: a task blocked on a sched.Chan",
		Spawn: spawnTasks, Park: parkTasks})
}

// spawnTasks starts n tasks one at a time from a task and waits for each:
// creation, the switch in, the run, the exit and the switch back. Finished
// tasks hand their goroutine to the next one.
func spawnTasks(n int) (int64, error) {
	var ns int64
	s := sched.New()
	s.Go(func() {
		f := func() {}
		s.Go(f).Wait() // start the pool's first goroutine outside the timing
		t0 := time.Now()
		for range n {
			s.Go(f).Wait()
		}
		ns = int64(time.Since(t0))
	})
	return ns, s.Run()
}

// parkTasks makes n tasks that each block on a channel, measures, then
// releases them by closing it.
func parkTasks(n int, measure func()) error {
	s := sched.New()
	var release sched.Chan[struct{}]
	s.Go(func() {
		for range n {
			s.Go(func() { release.Recv() })
		}
		sched.Yield() // every task runs once and blocks
		measure()
		release.Close()
	})
	return s.Run()
}
