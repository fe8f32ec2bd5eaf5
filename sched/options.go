package sched

import (
	"io"
	"log"
	"time"
)

// An Option configures a Scheduler.
type Option func(*options)

type options struct {
	name         string
	virtual      bool
	virtualStart time.Time
	keepAlive    bool
	watchdog     time.Duration
	watchdogOut  io.Writer
	panicHandler func(*Task, *PanicError)
	offloadLimit int
	logger       *log.Logger
	cpuMode      uint8 // cpusAny, cpusSet or cpusEach (affinity.go)
	cpus         []int
}

func defaultOptions() options {
	return options{offloadLimit: 64}
}

// WithName names the scheduler in Dump, watchdog reports, errors and
// profile labels.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithVirtualTime runs the scheduler on a virtual clock starting at start.
// Time advances only when every task is blocked: the clock then jumps to
// the next timer, so simulations and tests of timeouts run at once and
// repeat exactly. A scheduler on virtual time still serves descriptors
// and hand-offs from other goroutines; it waits for them in real time only
// when no timer is pending.
//
// Now, Sleep, timeouts and the times of the scheduler's clock are
// virtual. Deadlines (FD.SetReadDeadline, netio's Conn.SetDeadline) take
// either kind of time. A time from Now (or Scheduler.Now), or one with no
// monotonic clock reading (time.Date, t.Round(0)), is a point on the
// virtual clock. A time derived from time.Now() — what third-party
// net.Conn code passes — is taken, when it is set, as its distance from
// the real now, rounded to the millisecond, on the virtual clock:
// SetReadDeadline(time.Now().Add(5*time.Second)) expires 5 virtual
// seconds later. Times of the virtual clock carry no monotonic reading,
// whatever start is.
func WithVirtualTime(start time.Time) Option {
	return func(o *options) { o.virtual, o.virtualStart = true, start.Round(0) }
}

// WithKeepAlive keeps Run running with no tasks, waiting for work from
// other goroutines (Go, Inbox, descriptors), until Stop.
func WithKeepAlive() Option { return func(o *options) { o.keepAlive = true } }

// WithWatchdog reports, on w (the scheduler's logger if nil), every task that holds the
// scheduler's thread for longer than threshold without blocking or
// yielding: a log line naming the task, and its stack. In a cooperative
// scheduler such a task delays every other task; the report makes the
// latency hazard visible. A task parked in a blocking call (Sleep,
// Offload, a descriptor, a sync primitive) does not hold the thread, nor
// does the scheduler waiting idle in its poller: only the time from a
// switch to a task until its next switch counts. A task reported once is
// not reported again until it switches. The watchdog samples from its own
// goroutine every threshold/2, and costs the scheduler two or three atomic
// stores per switch. The time is the wall clock's: on a machine so loaded
// that the OS leaves the scheduler's thread unrun for longer than
// threshold, the task that was running is reported too, so pick a
// threshold above the machine's scheduling delays.
func WithWatchdog(threshold time.Duration, w io.Writer) Option {
	return func(o *options) { o.watchdog, o.watchdogOut = threshold, w }
}

// WithPanicHandler makes a task's panic not end Run: h is called on the
// scheduler thread with the task and its *PanicError, and the task's Wait
// returns the *PanicError. Without a handler a panic ends Run, which
// unwinds the other tasks and panics with the *PanicError.
func WithPanicHandler(h func(t *Task, p *PanicError)) Option {
	return func(o *options) { o.panicHandler = h }
}

// WithOffloadLimit bounds the number of goroutines running Offload calls
// of this scheduler at once (default 64). Further Offload calls wait,
// parked, for a free goroutine.
func WithOffloadLimit(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.offloadLimit = n
		}
	}
}

// WithLogger sets the logger for the scheduler's own reports (the
// watchdog's, when it has no writer of its own). The default is
// log.Default().
func WithLogger(l *log.Logger) Option { return func(o *options) { o.logger = l } }
