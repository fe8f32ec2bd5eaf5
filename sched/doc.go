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
// Scheduler.Do runs a function in a task and waits for it; Offload runs
// blocking code on a bounded pool of goroutines while the task parks.
// A Group runs n schedulers on n threads for multi-core servers.
// FD registers any non-blocking descriptor (pipes, eventfd, signalfd,
// serial ports) for tasks to wait on; package netio builds sockets on it.
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
