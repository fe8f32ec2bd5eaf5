package sched

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

var (
	// ErrInterrupted is returned by a blocking call of a task that was
	// interrupted, by Task.Interrupt or by Scheduler.Stop.
	ErrInterrupted = errors.New("sched: interrupted")

	// ErrDeadlock matches the error Run returns when tasks remain but none
	// can ever be woken. The error itself is a *DeadlockError.
	ErrDeadlock = errors.New("sched: deadlock")

	// ErrStopped is returned when work is handed to a scheduler that has
	// finished running. It matches net.ErrClosed (errors.Is), so that code
	// written against package net treats I/O on a descriptor whose
	// scheduler is gone as a closed connection; its text says what
	// happened ("sched: scheduler stopped").
	ErrStopped error = &closedError{"sched: scheduler stopped"}

	// ErrClosed is returned by operations on a closed Chan, XChan or
	// Inbox, and by waits on a closed FD. Like ErrStopped it matches
	// net.ErrClosed but reads as itself ("sched: closed"): a closed
	// channel is not a network connection. (netio turns both into
	// net.ErrClosed inside a *net.OpError, as package net reports a
	// closed connection.)
	ErrClosed error = &closedError{"sched: closed"}

	// ErrWouldBlock is returned by the Try variants when the operation
	// would block, and by Inbox.Send when the inbox is full.
	ErrWouldBlock = errors.New("sched: operation would block")
)

// closedError is the type of ErrClosed and ErrStopped: an error of its
// own text that matches net.ErrClosed without wrapping it, since wrapping
// would append "use of closed network connection" to every closed
// channel's error.
type closedError struct{ s string }

func (e *closedError) Error() string { return e.s }

// Is reports whether target is net.ErrClosed.
func (e *closedError) Is(target error) bool { return target == net.ErrClosed }

// DeadlockError lists the tasks of a deadlocked scheduler and what each
// waits for. It matches ErrDeadlock.
type DeadlockError struct {
	Tasks []string // one line per stuck task, as Dump prints it
}

func (e *DeadlockError) Error() string {
	return fmt.Sprintf("sched: deadlock: %d task(s) blocked with nothing that could wake them:\n\t%s",
		len(e.Tasks), strings.Join(e.Tasks, "\n\t"))
}

// Is reports whether target is ErrDeadlock.
func (e *DeadlockError) Is(target error) bool { return target == ErrDeadlock }

// PanicError is a task's panic: its value and the stack of the task at the
// panic. By default a task's panic ends Run, which panics with the
// *PanicError; with WithPanicHandler the scheduler goes on and the task's
// Wait returns it.
type PanicError struct {
	Task  string // the task, as Dump names it
	Value any    // the value passed to panic
	Stack []byte // the task's stack at the panic, from runtime/debug.Stack
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("sched: %s panicked: %v\n\n%s", e.Task, e.Value, e.Stack)
}

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
