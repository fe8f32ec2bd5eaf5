// Package sched is coop's cooperative scheduler: tasks — functions with
// stacks of their own — run one at a time on one OS thread, switching only
// when a task blocks or yields, with the thread bound to an epoll (Linux)
// or kqueue (darwin, the BSDs) poller. It is the State Threads / libdill
// model, in Go, for servers that hold thousands of sessions.
//
//	s := sched.New()
//	s.Go(func() {
//		sched.Sleep(time.Second) // parks the task; the thread runs others
//	})
//	err := s.Run() // returns when every task has finished
//
// # Guarantees
//
//   - One thread. Run locks its goroutine to an OS thread; every task of
//     the scheduler runs on it, one at a time.
//   - No preemption. A task runs until it blocks (Sleep, a sync primitive,
//     a descriptor wait, Offload, Task.Wait) or calls Yield. So the tasks
//     of one scheduler share memory with no locks and no atomics: between
//     two blocking calls a task's code is a critical section.
//   - Blocking a task never blocks the thread. Blocking the thread — a
//     plain blocking system call, a Go channel receive, time.Sleep — stalls
//     every task of the scheduler: call such code through Offload.
//   - Input before timers: a timer due at D fires only after the
//     scheduler has looked at its descriptors at or after D, and what
//     that look found has been handled first. A task that holds the
//     thread past a read deadline and then reads the clock (Sleep, a
//     timeout, Now) costs the scheduler one poll without sleeping, not a
//     connection whose input came before the deadline: WaitRead and the
//     read hook see the input, not os.ErrDeadlineExceeded. (With more
//     descriptors ready at once than one poll reports, 128, the timers
//     wait for the polls that report them all: nFDs/128 of them.)
//   - Nothing is lost: a task's panic ends Run with a *PanicError carrying
//     its value and stack (or goes to WithPanicHandler); tasks that can
//     never be woken end Run with an error matching ErrDeadlock that lists
//     them; Stop interrupts every task and Run returns once they finish;
//     when Run returns, every task has finished or been unwound (its
//     deferred calls run) and no goroutine is left behind.
//
// # Costs
//
// A switch between tasks is one runtime coroutine switch (iter.Pull's
// coroswitch, about 35 ns on the machines of the study), taken directly
// from the blocking task to the next runnable one; the poller runs only
// when nothing is runnable, or every pollEvery switches. A parked task
// costs its goroutine's stack (2 KiB for a shallow one) and about 500
// bytes of bookkeeping. Finished tasks give their goroutine to the next
// task, and Spawn recycles the task itself, so a short task costs no
// allocation and no goroutine creation. Timers are a heap, with set,
// reset and stop in O(log n) and no allocation.
//
// # Working with the rest of a program
//
// Scheduler.Go and Spawn may be called from any goroutine; Inbox hands
// values from goroutines to tasks without ever blocking the producer;
// Scheduler.Do runs a function in a task and waits for it; an XChan is a
// channel between threads, which tasks of any scheduler and goroutines
// use blocking-style (a task parks, a goroutine blocks), and the way
// back from tasks to goroutines; Offload runs blocking code on a bounded
// pool of goroutines while the task parks. A Group runs n schedulers on
// n threads for multi-core servers.
//
// A hand-off from another thread costs the sender one cache line and, if
// the scheduler sleeps, one wake-up system call per burst. A scheduler
// that got work from other threads recently spins for a few µs before it
// sleeps (an adaptive window, never longer than 50 µs, shorter after each
// spin that found nothing, or only I/O), and so do goroutines waiting
// for a scheduler in Do, and tasks and goroutines waiting on an XChan:
// while two threads exchange work, neither sleeps, and no hand-off pays
// a system call. When the traffic stops, the spinning stops within about
// 100 µs (the halving windows): an idle scheduler uses no CPU. Nothing spins with GOMAXPROCS 1, nor while more
// scheduler threads are awake than there are processors.
//
// Timers follow the scheduler's clock, virtual or real: Timer and Ticker
// send the time on a Chan (C), so a task waits for them alone or in a
// Select; AfterFunc starts a function in a new task. Each is an entry of
// the timer heap, not a goroutine.
//
// FD registers any non-blocking descriptor (pipes, eventfd, signalfd,
// serial ports) for tasks to wait on; package netio builds sockets on it.
//
// # Calls from outside a task
//
// A call made by a task parks the task when it waits. Made anywhere else,
// what it does depends on where its caller runs, by one rule:
//
//   - On a scheduler's thread outside a task — a descriptor hook, which
//     the host loop runs, or a ucontext context hosted by a task, where
//     Current is nil — nothing may wait: blocking there stalls every task
//     of the scheduler, and a wait for one of its tasks never ends. A call
//     that would wait panics, naming itself and the place; a call that
//     never waits works.
//   - A goroutine of its own may block as it likes. The calls that concern
//     no scheduler keep their goroutine meaning (Sleep is time.Sleep,
//     Yield is runtime.Gosched, Offload calls its function); hand-offs to
//     a scheduler (Go, Do, Task.Wait, FD.Read...) block only the caller.
//     The sync primitives (Chan, Mutex, Cond, WaitGroup) belong to their
//     scheduler's thread: from a goroutine, their calls panic while that
//     scheduler runs.
//   - While a scheduler does not run (before Run, after it returns), any
//     goroutine may set up what belongs to it with the calls that never
//     wait: WaitGroup.Add before Run, as with sync.WaitGroup, or a Chan
//     filled in advance. As with any value handed to other goroutines, the
//     setup must happen before the tasks that use it start; Go and Run
//     order it.
//
// Call by call, for a scheduler s (a primitive's s is the scheduler of the
// first task that used it; one no task has used yet is set up freely):
//
//	                                    in a task of s   on s's thread,   in a goroutine    any goroutine,
//	                                                     outside a task   of its own        s not running
//	Sleep, Yield, Offload (any task)    park, yield      panic            time.Sleep,       (as a goroutine)
//	                                                                      Gosched, fn()
//	Select, Chan.Send, Chan.Recv,       park             panic            panic             panic
//	Mutex.Lock, Cond.Wait,
//	WaitGroup.Wait, WaitGroup.Go,
//	Inbox.Recv, FD.WaitRead/WaitWrite
//	Chan.TrySend/TryRecv/Close,         run              run              panic             run (setup)
//	Mutex.TryLock/Unlock,
//	Cond.Signal/Broadcast,
//	WaitGroup.Add/Done, Inbox.TryRecv,
//	s.NewTimer/AfterFunc/NewTicker,
//	Timer.Stop/Reset, Ticker.Stop/Reset
//	NewTimer, AfterFunc, NewTicker      run              run (on s)       panic             panic
//	(the calling task's scheduler)
//	Scheduler.Do, Task.Wait,            run, or park     panic            block the caller  block until Run runs
//	FD.Read, FD.Write                                                                       it (ErrStopped after)
//	Scheduler.Go, Spawn, Stop,          run              run              hand off          queue for Run
//	Task.Interrupt, Inbox.Send/Close,                                     (FD.Close, the    (ErrStopped after)
//	FD.Close, FD deadlines, Register,                                     deadlines,
//	Stats, Dump                                                           Register, Stats,
//	                                                                      Dump: and wait)
//	Now                                 s's clock        s's clock        time.Now()        time.Now()
//
// An XChan belongs to no scheduler: Send, Recv and a Select of XChan
// cases park a task and block a goroutine of its own, and panic on a
// scheduler's thread outside a task; TrySend, TryRecv and Close never
// wait and work anywhere.
//
// The calls about the calling task itself — BindContext, SetName,
// SetValue, NewTaskGroup — panic outside a task; there Context, Name and
// Value return context.Background(), "" and nil.
//
// A task of another scheduler is, for s's primitives, a caller from
// outside: their calls panic there, naming both schedulers; Do,
// Task.Wait and FD.Read park it while s works. On another scheduler's
// thread outside a task, a call concerning s is what it is from a
// goroutine of its own, except that every call that would block panics.
//
// # Deadlock reports
//
// When no task of a scheduler is runnable, Run asks whether anything can
// still wake one; if nothing can, it unwinds the tasks and returns a
// *DeadlockError (matching ErrDeadlock) that lists each with what it
// waits for, its name, and its function. The check runs every time the
// scheduler goes idle, so a true deadlock is reported as soon as the last
// task blocks, or once the last timer that could wake one has fired.
//
// The rule: a scheduler is deadlocked when tasks remain, none is runnable,
// and none of the wakers it can see exists. It sees
//
//   - pending timers that can wake or start a task: a Sleep, a
//     SelectTimeout, a descriptor deadline, an AfterFunc, and a Timer or
//     Ticker that a task waits on (in Recv, or a Select with a case on its
//     C). A Timer or Ticker no task waits on wakes no one: it does not
//     count, so a running Ticker hides no deadlock;
//   - waits that only the world outside the scheduler ends: descriptors
//     (netio's Read, Write and Accept, whoever holds the Conn), Offload in
//     flight, Inbox.Recv, an XChan or a Select with XChan cases, Do and
//     Task.Wait on a task of another scheduler. Any of them counts, alive
//     or not: the detector cannot know whether the goroutine meant to send
//     still exists;
//   - armed descriptor hooks, and work already queued in the inbox;
//   - a task blocked interruptibly while bound to a context that can still
//     end (BindContext, GoContext, SpawnContext): some goroutine may
//     cancel it. A context whose Done is nil cannot, and a wait that the
//     interrupt would not end (a Mutex) is not counted;
//   - WithKeepAlive, which says that the outside will bring work.
//
// It cannot see a goroutine that holds the *Scheduler or a *Task and
// will call Go, Spawn, Do or Task.Interrupt later, nor a task of another
// scheduler that will: until that call arrives in the inbox, nothing
// shows it is coming. A task that waits for such work on a Chan, a Cond
// or a WaitGroup is reported. Make the wake-up visible instead: wait on
// an Inbox or an XChan that the goroutine sends on, bind the task to a
// context the goroutine cancels, or run the scheduler WithKeepAlive
// (then Stop ends it). The other way round, a task that waits on
// something the detector counts but that will never come — an Inbox no
// goroutine will send on, a socket whose peer stays silent — is not
// reported: that is waiting, which only the program can tell from a
// deadlock (a deadline does).
//
// # Hazards
//
// A task that computes for long without blocking delays every other task
// of its scheduler: WithWatchdog reports such tasks with their stacks.
// runtime.LockOSThread must not be called inside a task: the runtime
// requires a coroutine to keep the thread-lock state of the goroutine that
// created it, and breaking that rule is a fatal error, not a panic.
// runtime.Goexit in a task (testing.T.FailNow included) unwinds the other
// tasks and then ends the goroutine that called Run. The sync primitives
// here are for the tasks of one scheduler; goroutines and tasks of other
// schedulers use Inbox, Go or Do. The scheduler's locked thread gets its
// processor back from the Go runtime after each blocking poll: in a
// process with more runnable goroutines than GOMAXPROCS, that can take a
// Go time slice (10 ms); leave the scheduler threads room.
package sched
