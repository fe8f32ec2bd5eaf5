package sched

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/coopgo/coop/asm"
)

// taskState is a task's life cycle, written on the scheduler thread.
type taskState uint8

const (
	taskNew      taskState = iota // queued from another goroutine, not yet known to the scheduler
	taskRunnable                  // in the run queue
	taskRunning                   // the scheduler's running task
	taskBlocked                   // parked in a blocking call
	taskDone                      // its function returned or it was unwound
)

func (st taskState) String() string {
	return [...]string{"new", "runnable", "running", "blocked", "done"}[st]
}

// A Task is a function running on a Scheduler with its own stack. Tasks of
// one scheduler run one at a time on its thread and switch only when one
// blocks or yields, so they share memory without locks.
type Task struct {
	// A Task is 128 bytes, a size class of its own, so Go allocates it on
	// a 128-byte boundary: the first cache line holds what a wake-up, a
	// run-queue pass and a switch touch, the second what a block writes
	// and the task's start, end and reports read. What few tasks need
	// (the join state of Go's handles, a timer) is behind x. At thousands
	// of parked tasks each wake-up finds its task cold in the cache: two
	// lines, not four, are what it pays.
	s          *Scheduler
	w          *worker // the goroutine running fn, from its first run to its end
	next, prev *Task   // the run queue or one wait queue (a task is in at most one)
	wakeErr    error   // what the blocking call returns
	waitSeq    uint32  // which wait a cross-thread wake is for
	state      taskState
	why        waitReason // while blocked

	interruptPending bool   // Interrupt arrived while not interruptibly blocked
	pooled           bool   // started by Spawn: recycled when it ends
	id               uint64 // set by Go; read from any goroutine

	// While blocked, for Dump and Interrupt; left stale after the wake.
	on     any      // what it waits on, for Dump: a Stringer, string or func
	cancel canceler // removes the task from where it waits, on interrupt

	fn               func()
	allNext, allPrev *Task      // the scheduler's list of live tasks
	x                *taskExtra // allocated on first need; kept when a Spawn task is recycled
}

// taskExtra is what few tasks need, kept off the Task so that the Task
// stays two cache lines. Per-task data that is not on the hot path of a
// blocking call (names, task-local values, contexts) belongs here too.
type taskExtra struct {
	timer timer     // Sleep and the timeouts of waits (Select)
	join  joinState // Go's tasks only: Spawn's have no handle to wait on
	ext   *taskExt  // contexts, names, task-local values (taskext.go): nil until used
}

// joinState is the state of a task started by Go, whose *Task is a Wait
// handle.
type joinState struct {
	result error                         // nil, or the *PanicError of a handled panic
	joiner *Task                         // the first task waiting for this one to end
	more   *[]*Task                      // any others
	done   atomic.Pointer[chan struct{}] // for goroutines waiting: closed at the end
	ended  atomic.Bool                   // set, after result, when the task ends
}

// goTask is a task started by Go, allocated with its extra in one piece.
type goTask struct {
	t Task
	x taskExtra
}

// extra returns t's extra, allocating it on first need.
func (t *Task) extra() *taskExtra {
	if t.x == nil {
		t.x = &taskExtra{}
		t.x.timer.init(t, timerSleep)
	}
	return t.x
}

// timer returns t's own timer, for Sleep and timeouts.
func (t *Task) timer() *timer { return &t.extra().timer }

// timerPending reports whether t's own timer is set, without allocating.
func (t *Task) timerPending() bool { return t.x != nil && t.x.timer.pending() }

// closedChan is what done holds once the task has ended.
var closedChan = func() *chan struct{} {
	c := make(chan struct{})
	close(c)
	return &c
}()

// markEnded publishes the end of t to goroutines in Wait: result was
// written before, and is read after they see ended or the closed channel.
func (j *joinState) markEnded() {
	j.ended.Store(true)
	if p := j.done.Swap(closedChan); p != nil && p != closedChan {
		close(*p)
	}
}

// waitEnded blocks the calling goroutine (not a task) until the task has
// ended.
func (j *joinState) waitEnded() {
	if j.ended.Load() {
		return
	}
	c := make(chan struct{})
	if !j.done.CompareAndSwap(nil, &c) {
		<-*j.done.Load() // another waiter's channel, or closedChan
		return
	}
	<-c
}

// join returns t's join state: t must have been started by Go.
func (t *Task) join() *joinState { return &t.x.join }

// String returns a short description such as "task 7".
func (t *Task) String() string { return fmt.Sprintf("task %d", t.id) }

// Scheduler returns the scheduler t runs on.
func (t *Task) Scheduler() *Scheduler { return t.s }

// describe is a task's line in Dump and deadlock reports.
func (t *Task) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "task %d", t.id)
	if x := t.peekExt(); x != nil && x.name != "" {
		fmt.Fprintf(&b, " %q", x.name)
	}
	fmt.Fprintf(&b, ": %v", t.state)
	if t.state == taskBlocked {
		fmt.Fprintf(&b, " on %v", t.why)
		switch on := t.on.(type) {
		case nil:
		case func():
			b.WriteString(" (" + funcName(on) + ")")
		default:
			fmt.Fprintf(&b, " (%v)", on)
		}
		if t.timerPending() {
			fmt.Fprintf(&b, ", timer in %v", time.Duration(t.x.timer.when-t.s.nanotime()))
		}
	}
	if t.fn != nil {
		b.WriteString(" [" + funcName(t.fn) + "]")
	}
	return b.String()
}

// waitReason names what a blocked task waits for.
type waitReason uint8

const (
	waitNone waitReason = iota
	waitSleep
	waitJoin
	waitJoinExternal // a task of another scheduler
	waitMutex
	waitCond
	waitWaitGroup
	waitChanSend
	waitChanRecv
	waitSelect
	waitRead
	waitWrite
	waitOffload
	waitInbox
	waitExternal // a hand-off from another goroutine (Do, Scheduler.Call)
	waitXChan    // an XChan, or a Select with XChan cases
)

var waitNames = [...]string{
	waitNone:         "nothing",
	waitSleep:        "sleep",
	waitJoin:         "join",
	waitJoinExternal: "join (task of another scheduler)",
	waitMutex:        "mutex",
	waitCond:         "cond",
	waitWaitGroup:    "wait group",
	waitChanSend:     "chan send",
	waitChanRecv:     "chan receive",
	waitSelect:       "select",
	waitRead:         "read",
	waitWrite:        "write",
	waitOffload:      "offload",
	waitInbox:        "inbox",
	waitExternal:     "another goroutine",
	waitXChan:        "cross-thread channel",
}

func (w waitReason) String() string { return waitNames[w] }

// external reports whether something outside the scheduler's tasks can
// end the wait: such waits keep a scheduler from being deadlocked.
func (w waitReason) external() bool {
	switch w {
	case waitJoinExternal, waitRead, waitWrite, waitOffload, waitInbox, waitExternal, waitXChan:
		return true
	}
	return false
}

// A canceler removes a blocked task from whatever it waits in, so that
// Interrupt can wake it. Waits with no canceler are not interruptible.
type canceler interface {
	cancelWait(t *Task)
}

// taskList is an intrusive FIFO of tasks through next/prev, or through
// allNext/allPrev for the scheduler's list of all tasks. It keeps no
// count: it sits in every descriptor direction and sync primitive.
type taskList struct {
	head, tail *Task
}

func (l *taskList) empty() bool { return l.head == nil }

func (l *taskList) push(t *Task) {
	t.next = nil
	t.prev = l.tail
	if l.tail != nil {
		l.tail.next = t
	} else {
		l.head = t
	}
	l.tail = t
}

func (l *taskList) pushFront(t *Task) {
	t.prev = nil
	t.next = l.head
	if l.head != nil {
		l.head.prev = t
	} else {
		l.tail = t
	}
	l.head = t
}

func (l *taskList) pop() *Task {
	t := l.head
	if t != nil {
		l.remove(t)
	}
	return t
}

func (l *taskList) remove(t *Task) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		l.tail = t.prev
	}
	t.next, t.prev = nil, nil
}

// taskRing is an intrusive FIFO of tasks through next/prev, kept as a
// ring so that one pointer holds it: a descriptor direction's waiters,
// which fit with the rest of an FD in one cache line. Usually it holds
// one task or none.
type taskRing struct {
	head *Task // the oldest; head.prev is the newest
}

func (r *taskRing) empty() bool { return r.head == nil }

func (r *taskRing) push(t *Task) {
	h := r.head
	if h == nil {
		t.next, t.prev = t, t
		r.head = t
		return
	}
	tail := h.prev
	t.next, t.prev = h, tail
	tail.next = t
	h.prev = t
}

func (r *taskRing) pop() *Task {
	t := r.head
	if t != nil {
		r.remove(t)
	}
	return t
}

// remove takes t, which must be in r, out of it.
func (r *taskRing) remove(t *Task) {
	if t.next == t {
		r.head = nil
	} else {
		t.prev.next = t.next
		t.next.prev = t.prev
		if r.head == t {
			r.head = t.next
		}
	}
	t.next, t.prev = nil, nil
}

func (l *taskList) pushAll(t *Task) {
	t.allNext = nil
	t.allPrev = l.tail
	if l.tail != nil {
		l.tail.allNext = t
	} else {
		l.head = t
	}
	l.tail = t
}

func (l *taskList) removeAll(t *Task) {
	if t.allPrev != nil {
		t.allPrev.allNext = t.allNext
	} else {
		l.head = t.allNext
	}
	if t.allNext != nil {
		t.allNext.allPrev = t.allPrev
	} else {
		l.tail = t.allPrev
	}
	t.allNext, t.allPrev = nil, nil
}

// Go starts a task running fn and returns it. Called from a task of s, it
// queues the task directly; from any other goroutine, or a task of another
// scheduler, it hands the task to s through its inbox and wakes s. Go
// before Run queues the task for Run. Go after s has finished returns a
// task that never runs: its Wait returns ErrStopped.
func (s *Scheduler) Go(fn func()) *Task {
	if fn == nil {
		panic("sched: Go with nil fn")
	}
	if s == nil {
		// Explicit, so that the compiler drops its own check of s below.
		panicNotNew(s, "Scheduler.Go")
	}
	g := &goTask{}
	t := &g.t
	*t = Task{s: s, fn: fn, id: s.ids.Add(1), x: &g.x}
	g.x.timer.init(t, timerSleep)
	if s.group != nil {
		s.group.taskStarted()
	}
	if s.grp.Running(asm.G()) {
		s.spawn(t) // from a task of s, or its host loop (a descriptor's read hook)
		return t
	}
	s.mustBeNew("Scheduler.Go")
	if !s.post(inboxItem{op: opSpawn, t: t}) {
		t.abandon()
	}
	return t
}

// Spawn starts a task running fn, like Go, but returns no handle: the
// scheduler recycles the task when fn returns, so a Spawn from a task of s
// allocates nothing (Go allocates the *Task it returns). It is for the
// many short tasks nobody joins — a connection's handler, a ready-mode
// request. The *Task that Current returns inside such a task is valid
// only while fn runs; keeping it beyond (to Interrupt or Wait on it later)
// is a bug, as the scheduler will have reused it for another task.
func (s *Scheduler) Spawn(fn func()) {
	if fn == nil {
		panic("sched: Spawn with nil fn")
	}
	if s == nil {
		panicNotNew(s, "Scheduler.Spawn")
	}
	if s.grp.Running(asm.G()) { // a task of s, or its host loop
		t := s.pooledTask()
		t.fn = fn
		t.id = s.nextID()
		if s.group != nil {
			s.group.taskStarted()
		}
		s.spawn(t)
		return
	}
	s.mustBeNew("Scheduler.Spawn")
	t := &Task{s: s, fn: fn, id: s.ids.Add(1), pooled: true}
	if s.group != nil {
		s.group.taskStarted()
	}
	if !s.post(inboxItem{op: opSpawn, t: t}) {
		t.abandon()
	}
}

// pooledTask returns an ended Spawn task for reuse, or a new pooled task;
// on s's thread.
func (s *Scheduler) pooledTask() *Task {
	t := s.freeTasks
	if t != nil {
		s.freeTasks = t.next
		t.next = nil
		s.nFree--
		if s.nFDs >= prefetchTasks {
			// The task after t in the list is the next Spawn's: a hook
			// per event spawns one, and at thousands of connections the
			// tasks deeper in the list ended long enough ago (a whole
			// batch of requests) to be cold.
			if n := s.freeTasks; n != nil {
				asm.Prefetch(uintptr(unsafe.Pointer(n)), 2)
			}
		}
		return t
	}
	t = &Task{s: s, pooled: true}
	return t
}

// idBlock is how many task numbers the scheduler thread takes at once
// (nextID).
const idBlock = 64

// nextID numbers a task started on s's thread: from a block of numbers
// taken from s.ids, which other goroutines number their tasks from one at
// a time, so that a ready-mode request, one Spawn each, pays a locked
// instruction every idBlock requests rather than on each. Numbers stay
// unique; tasks started on the thread and elsewhere are not numbered in
// the order they started.
func (s *Scheduler) nextID() uint64 {
	if s.idNext == s.idEnd {
		s.idEnd = s.ids.Add(idBlock)
		s.idNext = s.idEnd - idBlock
	}
	s.idNext++
	return s.idNext
}

// maxFreeTasks bounds the tasks kept for reuse by Spawn.
const maxFreeTasks = 1024

// recycle keeps an ended Spawn task for reuse. Its waitSeq goes on
// counting, so that a wake-up still in flight for its last wait stays
// stale. It is not inlined: its zeroing temporary would otherwise sit in
// Work's frame, which stays on the stack of every parked task.
//
//go:noinline
func (s *Scheduler) recycle(t *Task) {
	if s.nFree >= maxFreeTasks {
		return
	}
	seq, x := t.waitSeq, t.x
	if x != nil {
		x.ext = nil // the next task's context, name and values start empty
	}
	*t = Task{s: s, pooled: true, waitSeq: seq, x: x}
	t.next = s.freeTasks
	s.freeTasks = t
	s.nFree++
}

// spawn makes a new task known and runnable, on the scheduler thread.
func (s *Scheduler) spawn(t *Task) {
	s.nTasks++
	s.stats.spawned++
	s.all.pushAll(t)
	if s.stopping {
		t.interruptPending = true
	}
	t.state = taskRunnable
	s.runq.push(t)
}

// abandon ends a task that never ran because its scheduler finished.
func (t *Task) abandon() {
	if g := t.s.group; g != nil {
		g.taskEnded()
	}
	t.state = taskDone
	if !t.pooled {
		j := t.join()
		j.result = ErrStopped
		j.markEnded()
	}
}

// attach gives t, which has not run yet, a worker goroutine.
func (s *Scheduler) attach(t *Task) *worker {
	w := s.grp.Get()
	w.Data = t
	t.w = w
	return w
}

// engine is the Scheduler seen as the client of its coroutine group: its
// Work method runs on the workers without the wrapper frame a method value
// would add to every task's stack, and without adding to Scheduler's API.
type engine Scheduler

// Work runs on a worker: the task in w.Data, then the next runnable task,
// for as long as the worker is handed tasks. It returns true when the
// worker must exit (the end of Run). The loop is in work, which returns
// only for that or when a task's function panicked; Work then has work
// go on from that task's end.
func (e *engine) Work(w *worker) bool {
	s := (*Scheduler)(e)
	ended := false
	for {
		exit, panicked := s.work(w, ended)
		if !panicked {
			return exit
		}
		ended = true
	}
}

// work runs the task in w.Data (unless ended: its function has already
// returned by a panic), then the next runnable task, for as long as w is
// handed tasks. It loops rather than return to Work for each task: a
// return and an interface call fewer per task. Its deferred recover is
// the tasks' panic isolation, set up once for the whole loop rather than
// once per task: a task's function is the only code in the loop that
// may panic (pollWorker recovers its hooks' panics itself), and its panic
// ends work with panicked set, after recovered recorded it: the panic
// this package raises to unwind a task at the end of Run, or the task's
// own, recorded with its stack (the deferred call runs before the
// panicking frames are unwound).
func (s *Scheduler) work(w *worker, ended bool) (exit, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			s.recovered(w.Data, p)
			panicked = true
		}
	}()
	for {
		t := w.Data
		if !ended {
			t.fn()
		}
		ended = false
		s.finishTask(t)
		t.w = nil
		if t.pooled {
			s.recycle(t)
		}
		if s.grp.Ending {
			return true, false
		}
		s.grp.Put(w)
		var next *Task
		if s.panicErr == nil {
			next = s.next()
			if next == nil && s.runq.empty() {
				next = s.pollWorker()
			}
			s.prefetchStart()
		}
		var to *worker
		if next == nil {
			s.cur = nil
			s.wd.note(s) // the host loop holds no task: the watchdog must not blame t
			to = &s.grp.Host
		} else {
			if next.w == nil && s.attach(next) == w {
				// The worker we just put back: run next here, with no switch.
				next.state = taskRunning
				s.cur = next
				s.wd.note(s)
				continue
			}
			next.state = taskRunning
			s.cur = next
			s.stats.switches++
			s.wd.note(s)
			to = next.w
		}
		// Group.Switch written out, as in block: Switch and Slot.Resume
		// would be two more frames alive across the coroutine switch, two
		// returns the CPU mispredicts when this worker is resumed.
		// (Ending was checked above, and nothing in between sets it.)
		from := s.grp.Prepare(to)
		if sl := from.In(); sl.Pending() {
			sl.Yield()
		} else {
			sl.Next()
		}
		if s.grp.Resumed(from) {
			return true, false
		}
		// Resumed with a task handed to w (attach).
	}
}

// setResult records what Wait returns, for a task that has a handle.
func (t *Task) setResult(err error) {
	if !t.pooled {
		t.join().result = err
	}
}

// recovered handles p, recovered from task t's function: the unwinding
// at the end of Run, or a panic of the task's own, which goes to the
// panic handler or ends Run. It returns the task's *PanicError, nil for
// the unwinding.
func (s *Scheduler) recovered(t *Task, p any) *PanicError {
	if p == unwindSignal {
		t.setResult(ErrStopped)
		return nil
	}
	pe := &PanicError{Task: t.String(), Value: p, Stack: debug.Stack()}
	if h := s.opts.panicHandler; h != nil {
		t.setResult(pe)
		h(t, pe)
		return pe
	}
	if s.panicErr == nil {
		s.panicErr = pe
	}
	return pe
}

// unwindSignal is the panic with which a task blocked at the end of Run
// unwinds, so that its deferred calls run. A deferred recover that catches
// it must re-panic it.
var unwindSignal = &unwindError{}

type unwindError struct{}

func (*unwindError) Error() string {
	return "sched: task unwound because its scheduler is ending"
}

// finishTask ends t: it leaves the task lists and its joiners wake.
func (s *Scheduler) finishTask(t *Task) {
	t.state = taskDone
	if t.timerPending() {
		s.timers.stop(&t.x.timer)
	}
	s.nTasks--
	s.all.removeAll(t)
	if g := s.group; g != nil {
		g.taskEnded()
	}
	if t.pooled {
		return // no handle: nobody can be waiting
	}
	js := t.join()
	if j := js.joiner; j != nil {
		js.joiner = nil
		s.wakeJoiner(j)
	}
	if js.more != nil {
		for _, j := range *js.more {
			s.wakeJoiner(j)
		}
		js.more = nil
	}
	js.markEnded()
}

// wakeJoiner wakes a task waiting for one of s to end: directly, or
// through its own scheduler's inbox.
func (s *Scheduler) wakeJoiner(j *Task) {
	if j.s == s {
		s.wake(j, nil)
	} else {
		j.s.post(inboxItem{op: opWake, t: j, seq: j.waitSeq})
	}
}

// next pops the task to run after the current one blocks, or returns nil
// to send control to the host loop (nothing runnable, or time to poll).
func (s *Scheduler) next() *Task {
	if s.sinceHost >= pollEvery {
		return nil
	}
	t := s.runq.pop()
	if t != nil {
		s.sinceHost++
	}
	return t
}

// block parks the running task t until wake. why and on describe the wait
// for Dump (on is formatted only then, so passing a pointer costs
// nothing); cancel, if not nil, makes the wait interruptible: on
// Interrupt or Stop it is called to take t out of whatever it waits in,
// and block returns ErrInterrupted. An interrupt that arrived before the
// call is reported at once, without blocking.
func (s *Scheduler) block(t *Task, why waitReason, on any, cancel canceler) error {
	// park's work, written out: a call to park here would double this
	// frame, which stays on the stack of every task parked in block.
	if cancel != nil && (t.interruptPending || s.stopping) {
		t.interruptPending = false
		t.waitSeq++ // a cross-thread wake meant for this wait is now stale
		return t.interruptErr()
	}
	t.state = taskBlocked
	t.why = why
	t.on = on
	t.cancel = cancel
	t.wakeErr = nil
	if why.external() {
		s.nExternal++
	}
	w := s.pick(t)
	if w == nil {
		// pollHere found t's own wake-up: t runs on, with no switch.
		return t.wakeErr
	}
	if s.grp.Ending {
		panic(unwindSignal)
	}
	// Where this stack parks, for the prefetch before it is resumed
	// (prefetchNext).
	if s.nTasks >= prefetchTasks {
		var mark byte
		t.w.SP = uintptr(unsafe.Pointer(&mark))
	}
	// Group.Switch written out: no frame between here and coroswitch.
	from := s.grp.Prepare(w)
	if sl := from.In(); sl.Pending() {
		sl.Yield()
	} else {
		sl.Next()
	}
	if s.grp.Ending && s.grp.Resumed(from) {
		panic(unwindSignal)
	}
	return t.wakeErr
}

// park is block up to the switch, for the waits that write the switch
// out themselves (WaitGroup.Wait); block has the same code inline (keep
// the two in step). It marks t blocked and picks
// what runs next. It returns that worker, to switch to at once; or nil
// if t does not park after all (an interrupt was pending, or t's own
// wake-up came first). Either way t.wakeErr is then what the wait returns.
func (s *Scheduler) park(t *Task, why waitReason, on any, cancel canceler) *worker {
	if cancel != nil && (t.interruptPending || s.stopping) {
		t.interruptPending = false
		t.waitSeq++ // a cross-thread wake meant for this wait is now stale
		t.wakeErr = t.interruptErr()
		return nil
	}
	t.state = taskBlocked
	t.why = why
	t.on = on
	t.cancel = cancel
	t.wakeErr = nil
	if why.external() {
		s.nExternal++
	}
	w := s.pick(t)
	if w == nil {
		// pollHere found t's own wake-up: t runs on, with no switch.
		return nil
	}
	if s.grp.Ending {
		panic(unwindSignal)
	}
	return w
}

// pick chooses what runs after the running task t stops: the worker of
// the next runnable task, or the host loop. It returns nil if t itself is
// next: it yielded with nothing else runnable, or it blocked and the poll
// pick made (pollHere) woke it first. The switch itself is
// written out by the callers (block, yield): every call frame alive across
// a coroutine switch is a return the CPU mispredicts when the switch comes
// back, so the frames between a blocking call and coroswitch are kept few.
func (s *Scheduler) pick(t *Task) *worker {
	next := s.next()
	if next == nil && s.runq.empty() && s.nHooks == 0 {
		next = s.pollHere()
	}
	if next == t {
		t.state = taskRunning
		return nil
	}
	if next != nil && next.w == nil && !s.grp.HasIdle() {
		// next needs a new goroutine. Made here, deep in t's stack, the
		// runtime frames that create it would grow t's stack for good
		// (from 2 to 4 KiB, for every parked task that ever did it): the
		// host loop, on its own large stack, makes it instead.
		s.runq.pushFront(next)
		next = nil
	}
	if next == nil {
		s.cur = nil
		s.wd.note(s) // t parks: the host loop, maybe idle in the poller, holds no task
		return &s.grp.Host
	}
	w := next.w
	if w == nil {
		w = s.attach(next)
	}
	next.state = taskRunning
	s.cur = next
	s.stats.switches++
	s.wd.note(s)
	s.prefetchNext()
	return w
}

// pollHere is the host loop's pass done by a task that parks with
// nothing runnable: a non-blocking poll, and the next task it made
// runnable, which the parking task then switches to directly. Under load
// the next request is usually there already, and the round trip through
// the host loop (two coroutine switches, the loop's pass, the host's
// cold stack) is what a request pays on top of the state machine's.
//
// A parked task polls only with no descriptor hook armed (pick): a
// hook run by its poll would run on the parked task's stack, which a
// panicking hook would unwind. A worker whose task has ended has no
// such frames below it and polls with hooks armed (pollWorker).
//
// It returns nil, for the host loop to take over, whenever the host has
// something to do that a task must not: work from other threads or a
// stop is waiting, a timer is due, the runtime is owed its Gosched
// (yieldToRuntime), or pollEvery tasks ran since the host's last pass
// (the chain of direct switches is bounded as next bounds it). With
// virtual time the host's wait decides when the clock jumps. If the
// poll found nothing, polledEmpty tells the host's wait to skip its own
// non-blocking poll and go to sleep: a task's poll costs no system call
// more than the host's.
func (s *Scheduler) pollHere() *Task {
	if s.nFDs == 0 || s.opts.virtual || s.sinceHost >= pollEvery ||
		s.stopReq.Load() || s.inboxReady() {
		return nil
	}
	s.stats.polls++
	hooks := s.stats.hooks
	before := s.now.Load()
	saw, err := s.poller.wait(s, 0)
	if err != nil {
		return nil // the host's poll reports it
	}
	s.polled(before, saw)
	if s.runq.empty() {
		s.polledEmpty = s.stats.hooks == hooks
		return nil
	}
	// The task this poll woke first is switched to next, with little in
	// between to hide its cold stack and g: ask for them before the
	// clock read.
	s.prefetchNext()
	s.polledWork()
	if tm := s.timers.next(); tm != nil && tm.when <= s.timerNow() {
		return nil
	}
	if s.now.Load()-s.lastGosched >= int64(goschedEvery) {
		return nil
	}
	return s.next()
}

// pollWorker is pollHere on a worker whose task has ended (Work): with no
// task's frames below, the hooks its poll runs may be armed. A hook that
// panics would otherwise travel out of the worker's body, which no
// panic may do (see internal/coro): the panic is kept for the host loop,
// which raises it as if the hook had run there.
//
//go:noinline
func (s *Scheduler) pollWorker() (next *Task) {
	defer func() {
		if p := recover(); p != nil {
			s.hookPanic = &hookPanic{p}
			next = nil
		}
	}()
	return s.pollHere()
}

// hookPanic is the value of a panic of a descriptor hook run by a worker's
// poll, on its way to the host loop.
type hookPanic struct{ v any }

// prefetchTasks is how many live tasks a scheduler needs before it
// prefetches (prefetchNext, wake): a few hundred parked stacks and their g
// fit in the caches, and below that the prefetches only cost their calls
// (BenchmarkSpawnRunExit, two tasks: 199 to 208 ns with them).
const prefetchTasks = 256

// prefetchNext asks the CPU for the cold state the switch to the next
// runnable task will touch (the top of its parked stack, its goroutine's g),
// one task ahead: the lines arrive while the task now switched to runs. At
// thousands of parked tasks these are cache misses that the return into the
// stack and the runtime's coroswitch otherwise wait for. The worker's own
// line was asked for when the task was woken (wake).
func (s *Scheduler) prefetchNext() {
	if s.nTasks < prefetchTasks {
		return
	}
	s.prefetchAhead(s.runq.head)
}

// prefetchStart asks, as a worker whose task ended takes the next, for
// both lines of the Task queued behind that one: the worker runs it next
// without a switch if it has not started (and reads fn, in the second
// line), or switches to it. A ready-mode server at thousands of
// connections runs a batch of such short tasks, spawned by the read
// hooks of one poll, each after the kernel's work for the requests
// before it has pushed its Task out of the caches; there are too few
// live tasks for prefetchNext, which counts tasks, so this counts
// descriptors.
func (s *Scheduler) prefetchStart() {
	if s.nFDs < prefetchTasks {
		return
	}
	if h := s.runq.head; h != nil {
		asm.Prefetch(uintptr(unsafe.Pointer(h)), 2)
		// The first line of the one after it (h's, asked for at the
		// last start, holds the link), which taking h off the queue
		// writes.
		if n := h.next; n != nil {
			asm.Prefetch(uintptr(unsafe.Pointer(n)), 1)
		}
	}
}

// prefetchAhead is prefetchTask for h, the next task to run, and the
// earlier stages of the same for the tasks behind it in the run queue:
// for h, also what its worker's switch calls reaches (the iter.Pull
// state and runtime coro of the slot it is parked in); for the one after
// h, that slot's closure and the descriptor it waited on; for the next,
// the slot; for the next, its worker; for the next, its Task. Each stage
// finds its addresses in lines asked for at the switch before, so none
// waits for memory: a batch of wake-ups runs long enough (the kernel's
// work for each request) to push the lines wake touched out of the
// caches again.
func (s *Scheduler) prefetchAhead(h *Task) {
	if h == nil {
		return
	}
	s.prefetchTask(h)
	if w := h.w; w != nil {
		w.PrefetchCallees()
	}
	n := h.next
	if n == nil {
		return
	}
	if w := n.w; w != nil {
		w.PrefetchCall()
	}
	if f, ok := n.on.(*FD); ok {
		// The descriptor it waited on: the first line for its WaitRead
		// or WaitWrite, the second for the hints (prefetchTask).
		asm.Prefetch(uintptr(unsafe.Pointer(f)), 2)
	}
	if n = n.next; n == nil {
		return
	}
	if w := n.w; w != nil {
		w.PrefetchIn()
	}
	if n = n.next; n == nil {
		return
	}
	if w := n.w; w != nil {
		asm.Prefetch(uintptr(unsafe.Pointer(w)), 2) // G, SP and in: its first 32 bytes
	}
	if n = n.next; n != nil {
		// Both lines: the first for the stages above, the second for
		// what the task waited on (prefetchTask) and for block's stores
		// when it parks again, which a cold line would hold up at the
		// switch's first locked instruction (Prepare's store of the
		// running token): 72 ns a request at 10,000 connections.
		asm.Prefetch(uintptr(unsafe.Pointer(n)), 2)
	}
}

// prefetchTask asks for the top of n's parked stack and its goroutine's
// g, if n is a parked task, and, if it waited on a descriptor, for the
// lines of the descriptor's hints: what the waiting code touches first
// when its wait returns (netio's Conn and Reader, each cold at thousands
// of connections: 180 ns a request for the Conn in a profile at 10,000).
// n.on is read from the Task's second line, and the hints from the
// descriptor's, both asked for at earlier stages (prefetchAhead); the
// descriptor's first line, which its WaitRead reads first, was asked for
// with the hints'.
func (s *Scheduler) prefetchTask(n *Task) {
	if n != nil {
		if w := n.w; w != nil && w.SP != 0 {
			asm.Prefetch(w.SP-256, 8)
			asm.Prefetch(w.G, 4)
			if f, ok := n.on.(*FD); ok {
				for _, h := range f.hint {
					if h != 0 {
						asm.Prefetch(h, 1)
					}
				}
			}
		}
	}
}

// wake makes the blocked task t runnable; its blocking call returns err.
func (s *Scheduler) wake(t *Task, err error) {
	if t.state != taskBlocked {
		return
	}
	if t.why.external() {
		s.nExternal--
	}
	t.why = waitNone // on and cancel are left stale: they are in the Task's second line
	t.waitSeq++
	t.wakeErr = err
	t.state = taskRunnable
	s.runq.push(t)
	if t.w != nil && s.nTasks >= prefetchTasks {
		asm.Prefetch(uintptr(unsafe.Pointer(t.w)), 2) // for prefetchNext
	}
}

// interrupt delivers an interrupt to t on the scheduler thread.
func (s *Scheduler) interrupt(t *Task) {
	switch t.state {
	case taskDone:
		return
	case taskBlocked:
		if c := t.cancel; c != nil {
			c.cancelWait(t)
			s.wake(t, t.interruptErr())
			return
		}
	}
	t.interruptPending = true
}

// Interrupt makes t's current blocking call, or its next one if it is not
// blocked, return an error matching ErrInterrupted. Waits for a Mutex and
// for Offload are not interruptible; an interrupt that arrives during one
// is reported by the task's next interruptible call. Interrupt may be
// called from any goroutine.
func (t *Task) Interrupt() {
	s := t.s
	if s.onThread() {
		s.interrupt(t)
		return
	}
	s.post(inboxItem{op: opInterrupt, t: t})
}

// Wait waits for t to end and returns nil, or the *PanicError of its panic
// if a panic handler let the scheduler go on, or ErrStopped if t never ran
// because its scheduler had finished. Called from a task, it parks the
// task (and returns ErrInterrupted if the task is interrupted); called
// from a goroutine of its own, it blocks that goroutine; on a scheduler's
// thread outside a task it panics.
func (t *Task) Wait() error {
	if c := Current(); c != nil {
		if c == t {
			panic("sched: task waits for itself")
		}
		s := c.s
		if t.s == s {
			if t.state == taskDone {
				return t.join().result
			}
			t.addJoiner(c)
			if err := s.block(c, waitJoin, t, joinCanceler{t}); err != nil {
				return err
			}
			return t.join().result
		}
		return t.waitFromOtherScheduler(c)
	}
	mustNotBlockThread("Task.Wait")
	t.join().waitEnded()
	return t.join().result
}

// waitFromOtherScheduler joins t, of another scheduler, from task c: c
// registers on t's scheduler thread, and t's end posts c's wake-up to c's
// scheduler.
func (t *Task) waitFromOtherScheduler(c *Task) error {
	s := c.s
	seq := c.waitSeq
	registered := t.s.post(inboxItem{op: opCall, fn: func() {
		if t.s.state.Load() == stateFinished || t.state == taskDone {
			s.post(inboxItem{op: opWake, t: c, seq: seq})
			return
		}
		t.addJoiner(c)
	}})
	if !registered {
		// t's scheduler has finished, so t has ended (or was abandoned).
		t.join().waitEnded()
		return t.join().result
	}
	// Not interruptible: t's scheduler holds a reference to c until t ends.
	if err := s.block(c, waitJoinExternal, t, nil); err != nil {
		return err
	}
	return t.join().result
}

func (t *Task) addJoiner(c *Task) {
	j := t.join()
	switch {
	case j.joiner == nil:
		j.joiner = c
	case j.more == nil:
		j.more = &[]*Task{c}
	default:
		*j.more = append(*j.more, c)
	}
}

// joinCanceler takes a task off t's joiners.
type joinCanceler struct{ t *Task }

func (jc joinCanceler) cancelWait(c *Task) {
	j := jc.t.join()
	if j.joiner == c {
		j.joiner = nil
		return
	}
	if j.more == nil {
		return
	}
	for i, x := range *j.more {
		if x == c {
			*j.more = append((*j.more)[:i], (*j.more)[i+1:]...)
			return
		}
	}
}

// Timer arguments for a task's own timer.
const (
	timerSleep   uint8 = iota // Sleep: wake with no error
	timerTimeout              // a wait with a timeout: cancel it, wake with ErrDeadlineExceeded-like error
)

// fire is the task's timer firing, on the scheduler thread.
func (t *Task) fire(arg uint8) {
	if t.state != taskBlocked {
		return
	}
	switch arg {
	case timerSleep:
		t.s.wake(t, nil)
	case timerTimeout:
		if c := t.cancel; c != nil {
			c.cancelWait(t)
		}
		t.s.wake(t, errTimeout)
	}
}

// Current returns the task running on the calling goroutine, or nil if the
// caller is not a task. It is safe with many schedulers running at once.
func Current() *Task {
	if w := byG.Load(asm.G()); w != nil {
		return w.Data
	}
	return nil
}

// Yield lets every other runnable task of the caller's scheduler run
// before the caller continues. In a goroutine of its own it calls
// runtime.Gosched; on a scheduler's thread outside a task (a descriptor
// hook, a ucontext context of a task) it panics, as no task can yield
// there.
func Yield() {
	t := Current()
	if t == nil {
		mustNotBlockThread("Yield")
		goschedNoTask()
		return
	}
	s := t.s
	s.stats.yields++
	t.state = taskRunnable
	s.runq.push(t)
	w := s.pick(t)
	if w == nil {
		// Nothing else to run, and no poll: read the clock, so that a
		// task waiting for Now to pass a time while it yields sees it
		// move.
		s.tick()
		return
	}
	if s.grp.Ending {
		panic(unwindSignal)
	}
	// Group.Switch written out, as in block.
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

// Sleep parks the calling task for d, on its scheduler's clock. It returns
// ErrInterrupted if the task is interrupted first, else nil. In a
// goroutine of its own it calls time.Sleep and returns nil; on a
// scheduler's thread outside a task (a descriptor hook, a ucontext context
// of a task) it panics rather than block every task of the scheduler.
func Sleep(d time.Duration) error {
	t := Current()
	if t == nil {
		mustNotBlockThread("Sleep")
		time.Sleep(d)
		return nil
	}
	return t.s.sleep(t, d)
}

func (s *Scheduler) sleep(t *Task, d time.Duration) error {
	if d <= 0 {
		if t.interruptPending || s.stopping {
			t.interruptPending = false
			return t.interruptErr()
		}
		Yield()
		return nil
	}
	tm := t.timer()
	s.timers.set(tm, s.freshNanotime()+int64(d)) // at least d from now
	tm.arg = timerSleep
	err := s.block(t, waitSleep, nil, sleepCanceler{})
	if tm.pending() {
		s.timers.stop(tm)
	}
	return err
}

// sleepCanceler: the timer is stopped by sleep itself after the wake.
type sleepCanceler struct{}

func (sleepCanceler) cancelWait(*Task) {}

// Now returns the current time on the calling task's scheduler clock: the
// virtual clock with WithVirtualTime, else the real clock as the
// scheduler last read it (see Scheduler.Now for its resolution). On a
// scheduler's thread outside a task (a descriptor hook, a ucontext context
// of a task) it is that scheduler's clock too; in a goroutine of its own,
// time.Now().
func Now() time.Time {
	if t := Current(); t != nil {
		return t.s.Now()
	}
	if s, _ := threadOf(); s != nil {
		return s.Now()
	}
	return time.Now()
}

// Now returns the time on s's clock. With virtual time it must be called
// from the scheduler's thread (a task) or when s is not running.
//
// The real clock is read at most once per poll, not once per call: a
// task (or descriptor hook) of s gets the scheduler's reading, taken at
// its first call of Now after s last polled, which costs a load instead
// of a clock read on every later call. Its resolution is therefore the
// time the tasks ran since that poll: microseconds under load, as long
// as a task runs at most between two blocking calls. A task that
// computes for long without blocking sees the time stand still until it
// blocks or calls Yield. Any other caller (another goroutine, or s while
// it sleeps in its poller or is not running) gets time.Now(). The
// scheduler's reading keeps the monotonic clock, so deadlines and
// durations are exact; its wall-clock part is s's creation time plus the
// monotonic time since, which does not follow a step of the system clock
// made after s started.
func (s *Scheduler) Now() time.Time {
	if s.opts.virtual {
		return s.timeOf(s.vnow)
	}
	if !s.grp.Running(asm.G()) {
		return time.Now()
	}
	// The first Now since the poll reads the clock (polledWork).
	return s.base.Add(time.Duration(s.freshenedNanotime()))
}

// Current returns the calling task if it is a task of s, else nil. It
// may be called from any goroutine, and costs a load and a compare:
// cheaper than the package-level Current, which must look the caller's
// goroutine up in a table (a cache miss per lookup at thousands of
// tasks), so code that knows the scheduler it wants asks it.
func (s *Scheduler) Current() *Task {
	if s.grp.Running(asm.G()) {
		return s.grp.Cur.Data // nil on the host loop
	}
	return nil
}
