package sched

import "unsafe"

// A WaitGroup waits for a collection of tasks of one scheduler to finish.
// The zero value is ready to use; a WaitGroup must not be copied after
// first use. It binds to the scheduler of the first task that uses it.
//
// Unlike sync.WaitGroup, Wait is interruptible, and a WaitGroup may be
// reused at once: Add after a Wait returned starts a new round.
//
// As with sync.WaitGroup, the goroutine that starts tasks may Add for them
// before it starts them, also before Run:
//
//	var wg sched.WaitGroup
//	for _, job := range jobs {
//		wg.Add(1)
//		s.Go(func() { defer wg.Done(); run(job) })
//	}
//	s.Go(func() { wg.Wait(); report() })
//	s.Run()
//
// While its scheduler runs, Add and Done are for its thread (its tasks and
// hooks); see the package comment for the rule.
type WaitGroup struct {
	s       *Scheduler // bound on first use
	n       int
	waiters taskList // tasks blocked in Wait
}

// Add adds delta, which may be negative, to the counter. When the counter
// reaches zero every task blocked in Wait is woken. A negative counter
// panics, leaving the counter as it was.
func (wg *WaitGroup) Add(delta int) {
	bindThread(&wg.s, "WaitGroup.Add")
	wg.add(delta)
}

func (wg *WaitGroup) add(delta int) {
	n := wg.n + delta
	if n < 0 {
		panic("sched: negative WaitGroup counter")
	}
	wg.n = n
	if n == 0 {
		for t := wg.waiters.pop(); t != nil; t = wg.waiters.pop() {
			wg.s.wake(t, nil)
		}
	}
}

// Done decrements the counter by one.
func (wg *WaitGroup) Done() {
	bindThread(&wg.s, "WaitGroup.Done")
	wg.add(-1)
}

// Go starts fn in a new task of the caller's scheduler and adds it to wg:
// Add(1) now, Done when fn returns. Unlike sync.WaitGroup.Go, Done is also
// called if fn panics: with a panic handler (WithPanicHandler) the
// scheduler goes on, and the panic is reported there and by the task's
// Wait rather than by a WaitGroup that never reaches zero.
func (wg *WaitGroup) Go(fn func()) {
	t := bindTask(&wg.s, "WaitGroup.Go")
	wg.add(1)
	t.s.Go(func() {
		defer wg.Done()
		fn()
	})
}

// Wait parks the calling task until the counter is zero. It returns nil,
// or ErrInterrupted if the task is interrupted first.
func (wg *WaitGroup) Wait() error {
	t := bindTask(&wg.s, "WaitGroup.Wait")
	if wg.n == 0 {
		return nil
	}
	wg.waiters.push(t)
	s := wg.s
	if w := s.park(t, waitWaitGroup, nil, wg); w != nil {
		// block's switch written out: block would be one more frame
		// alive across the coroutine switch, one more return the CPU
		// mispredicts when t is resumed (BenchmarkSpawnRunExit).
		if s.nTasks >= prefetchTasks {
			var mark byte
			t.w.SP = uintptr(unsafe.Pointer(&mark))
		}
		from := s.grp.Prepare(w)
		if sl := from.In(); sl.Pending() {
			sl.Yield()
		} else {
			sl.Next()
		}
		if s.grp.Ending && s.grp.Resumed(from) {
			panic(unwindSignal)
		}
	}
	removeQueued(&wg.waiters, t) // park returned at once on a pending interrupt
	return t.wakeErr
}

// cancelWait takes an interrupted task out of wg's waiters.
func (wg *WaitGroup) cancelWait(t *Task) {
	removeQueued(&wg.waiters, t)
}
