package sched

import "syscall"

// osYield gives the CPU to another runnable thread, if its CPU has one
// (sched_yield): a raw system call, which returns at once otherwise.
func osYield() { syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
