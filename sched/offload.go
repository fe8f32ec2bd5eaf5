package sched

import "sync/atomic"

// offloadPool runs blocking calls for the tasks of one scheduler on
// ordinary goroutines, at most limit at once. Its goroutines are started
// on demand and kept until the scheduler finishes.
type offloadPool struct {
	limit   int
	n       int      // calls in flight (scheduler thread)
	workers int      // goroutines started (scheduler thread)
	waiting taskList // tasks waiting for a free goroutine
	jobs    chan *offloadJob
	closed  atomic.Bool
}

type offloadJob struct {
	fn       func()
	s        *Scheduler
	t        *Task
	seq      uint32
	panicked bool
	panicVal any
}

func (p *offloadPool) init(limit int) {
	p.limit = limit
	p.jobs = make(chan *offloadJob, limit)
}

func (p *offloadPool) inFlight() int { return p.n }

func (p *offloadPool) close() {
	if !p.closed.Swap(true) {
		close(p.jobs)
	}
}

// Offload runs fn on a goroutine of a bounded pool while the calling task
// parks; the scheduler's other tasks keep running. It is how a task calls
// blocking code: file I/O, DNS, a database driver, cgo. A panic in fn
// continues in the caller with the same value. Offload waits for fn even
// if the task is interrupted (an interrupt is reported by the next
// interruptible call); fn should watch its own deadline. In a goroutine of
// its own, Offload calls fn directly; on a scheduler's thread outside a
// task (a descriptor hook, a ucontext context of a task) it panics rather
// than run blocking code there.
func Offload(fn func()) {
	t := Current()
	if t == nil {
		mustNotBlockThread("Offload")
		fn()
		return
	}
	t.s.offloadCall(t, fn)
}

func (s *Scheduler) offloadCall(t *Task, fn func()) {
	p := &s.offload
	for p.n >= p.limit {
		p.waiting.push(t)
		s.block(t, waitOffload, "waiting for a free goroutine", nil)
	}
	p.n++
	if p.n > p.workers {
		p.workers++
		go p.work()
	}
	job := &offloadJob{fn: fn, s: s, t: t, seq: t.waitSeq}
	p.jobs <- job // never blocks: at most limit jobs are in flight
	s.block(t, waitOffload, fn, nil)
	p.n--
	if w := p.waiting.pop(); w != nil {
		s.wake(w, nil)
	}
	if job.panicked {
		panic(job.panicVal)
	}
}

// work is a pool goroutine.
func (p *offloadPool) work() {
	for job := range p.jobs {
		job.run()
		job.s.post(inboxItem{op: opWake, t: job.t, seq: job.seq})
	}
}

func (j *offloadJob) run() {
	defer func() {
		if r := recover(); r != nil {
			j.panicked, j.panicVal = true, r
		}
	}()
	j.fn()
}
