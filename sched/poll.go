package sched

// The poller is the part of the scheduler that sleeps. Every backend, one
// file each, provides the same methods on type poller:
//
//	init() error           create the kernel object and the wake-up channel
//	close()                release them
//	add(fd int, seq uint32) error
//	                       register fd for read and write readiness,
//	                       edge-triggered, tagged with seq so that events for
//	                       a descriptor number reused after close are told
//	                       apart from the current one's
//	del(fd int) error      unregister fd
//	wait(s *Scheduler, timeout int64) (seen, error)
//	                       wait at most timeout ns (0: do not block; -1:
//	                       no limit), report each event to s.event, and
//	                       say how much of the input it has seen (seen)
//	wake() bool            make a wait in progress, or the next one, return
//	                       at once; safe from any goroutine; reports whether
//	                       it wrote a wake-up (false: one was pending)
//
// Backends: poll_epoll.go (Linux: epoll, eventfd wake-up),
// poll_kqueue.go (darwin and the BSDs: kqueue; EVFILT_USER wake-up in
// poll_kqueue_user.go, a pipe where EVFILT_USER is missing in
// poll_kqueue_pipe.go), and poll_other.go (timers and wake-ups only).
//
// Only a wait that may block goes through the runtime's syscall path
// (syscall.Syscall6, which tells the runtime the thread may block so that
// it hands the processor to other goroutines). Calls that cannot block —
// epoll_ctl, a zero-timeout wait, the eventfd write — use RawSyscall and
// skip that bookkeeping.

// eventBatch is how many events one wait can return. Go's netpoller uses
// 128 as well; a full batch means another wait follows at once anyway.
const eventBatch = 128

// A sleeping wait that a signal interrupts (EINTR) reports no events and
// seenAtStart. The signal may be a stop (SIGSTOP and SIGCONT, a frozen
// cgroup, a debugger): the process did not run for a while, input may
// have come meanwhile, and the stop has made timers due. They do not fire
// before that input is seen: the timers go by the last poll that saw all
// input (Scheduler.polled), which is the wait's start, so the host loop
// polls without sleeping first (examples/chat's TestPongLateTimer: a PONG
// sent in time beats the ping timeout).

// seen is what a wait says about the input it reported, for the timers
// (Scheduler.polled): a timer is judged only by a clock at which the
// scheduler had seen every event that came before.
type seen uint8

const (
	// seenAtStart: the wait reported every event that came before it
	// began (and some that came later).
	seenAtStart seen = iota
	// seenAtEnd: the wait slept until its timeout and nothing came; it
	// has seen everything that came before it returned.
	seenAtEnd
	// seenPartly: the batch was full, and events that came before the
	// wait began may be left for the next. The kernel keeps them ahead
	// of later ones (epoll puts what a wait left back at the head of its
	// ready list; kqueue scans its queue from the head), so enough full
	// waits in a row report all that was pending when the first began.
	seenPartly
)
