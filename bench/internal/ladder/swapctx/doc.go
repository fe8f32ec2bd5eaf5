// Package swapctx measures glibc's swapcontext, the C library's user
// context switch, for the switch ladder. It needs cgo; built without it,
// Available is false and Reason says why.
//
// glibc's swapcontext saves and restores the signal mask with an
// rt_sigprocmask system call on every switch: that syscall, not the
// register shuffle, is most of its cost, which is why the ladder also
// counts those calls per switch (CountRole, run under strace).
package swapctx

// CountRole is the child role that makes a given number of switches and
// exits, to be run under strace -c.
const CountRole = "swapctx-count"
