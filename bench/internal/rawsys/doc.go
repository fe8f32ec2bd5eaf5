// Package rawsys owns the system calls and /proc readings that the study's
// processes share: raw reads and writes on file descriptors, CPU pinning,
// per-process CPU clocks, proportional memory, and resource limits.
//
// Everything here is Linux-only, as is the study: its subject is epoll,
// process CPU accounting and /proc.
//
// Two kinds of call are used on purpose, and the choice is the point of
// several server models:
//
//   - Raw calls (unix.RawSyscall) skip the Go runtime's entersyscall and
//     exitsyscall bookkeeping (~35 ns a call on the machines we measured, and
//     the risk that sysmon hands the processor to another thread while a
//     locked thread is in the call). They are safe only for calls that never
//     block: reads, writes and accepts on non-blocking descriptors, and
//     epoll_wait with a zero timeout.
//   - Blocking calls (unix.Syscall) tell the runtime that the thread may
//     sleep, so that it can run other goroutines meanwhile. Every call that
//     may block goes this way: reads and writes on blocking descriptors, and
//     epoll_wait with a timeout.
package rawsys
