// Package fdhint lets package netio tell package sched, without a method
// on sched.FD's public API, which objects a task waiting on a descriptor
// touches first when it wakes: a connection's Conn, and its Reader. At thousands of
// connections each is a cold cache line on every request, and the
// scheduler, which knows one task ahead which task runs next, asks the
// CPU for it before it switches (sched's prefetchAhead).
//
// sched registers the setter when it is linked in, which it always is
// when netio is.
package fdhint

import "sync/atomic"

// Hints a descriptor holds.
const (
	Conn   = iota // the Conn of a connection
	Reader        // the Reader made last for it
	N             // how many
)

var set atomic.Pointer[func(fd any, i int, p uintptr)]

// Register installs f, which records p as hint i of fd, a *sched.FD.
// sched calls it once, at init.
func Register(f func(fd any, i int, p uintptr)) { set.Store(&f) }

// Set records p, the address of an object that code waiting on fd (a
// *sched.FD) touches first when it wakes, as fd's hint i (Conn or
// Reader): only an address to prefetch, never dereferenced, and not a
// reference that keeps the object alive. It does nothing until sched has
// registered its setter.
func Set(fd any, i int, p uintptr) {
	if f := set.Load(); f != nil {
		(*f)(fd, i, p)
	}
}
