package sched

import "math/bits"

// A BufferPool lends byte buffers to the tasks of one scheduler, so that a
// session holds a buffer only while it handles a request rather than for
// its whole life. A state machine reads every connection into one shared
// buffer; a task per connection that owns a 16 KiB buffer touches a cold
// one on every request and, at thousands of connections, pushes the
// kernel's socket state out of the cache. Borrowed for the request and
// given back before the task parks, the same few buffers serve every
// connection and stay hot.
//
// Buffers come in power-of-two size classes from 512 B to 64 KiB; a
// request for more is allocated and not kept. The pool is last in, first
// out, so the buffer lent next is the one given back last (the one in the
// cache), and it keeps at most 256 KiB per class: what a burst borrowed
// beyond that goes to the garbage collector when it is given back.
//
// The pool belongs to its scheduler's thread: Get and Put are for its
// tasks and its descriptor hooks only, and panic elsewhere. That is what
// makes them cheap: no lock, no atomic. Buffers are not cleared: a
// borrower sees only the bytes it writes itself, if it keeps to the
// length it asked for.
//
// netio's Reader is built on it; Get and Put are for other code that
// wants the same economy (an output buffer filled and flushed within one
// request, say).
type BufferPool struct {
	s    *Scheduler
	free [nBufClasses][][]byte
}

// Buffer size classes: 1<<minBufShift ... 1<<maxBufShift.
const (
	minBufShift    = 9
	maxBufShift    = 16
	nBufClasses    = maxBufShift - minBufShift + 1
	maxPooledBytes = 256 << 10 // bytes kept per class
)

// Buffers returns s's buffer pool.
func (s *Scheduler) Buffers() *BufferPool {
	s.mustBeNew("Scheduler.Buffers")
	return &s.bufs
}

// bufClass returns the class of a buffer of n bytes: the smallest whose
// size is at least n. n ≤ 1<<maxBufShift.
func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minBufShift
}

// Get returns a buffer of length n from the pool. Its capacity is n
// rounded up to a size class (for n up to 64 KiB); its contents are
// whatever its last borrower left. Give it back with Put once it is no
// longer used — at the latest before the task parks for long, which is
// the point of borrowing. A buffer never given back is simply collected.
func (p *BufferPool) Get(n int) []byte {
	p.mustOnThread("Get")
	if n < 0 {
		panic("sched: BufferPool.Get with a negative size")
	}
	if n > 1<<maxBufShift {
		return make([]byte, n)
	}
	c := bufClass(n)
	if f := p.free[c]; len(f) > 0 {
		b := f[len(f)-1]
		f[len(f)-1] = nil
		p.free[c] = f[:len(f)-1]
		return b[:n]
	}
	return make([]byte, n, 1<<(c+minBufShift))
}

// Put gives b back to the pool. b must not be used afterwards, by its
// borrower or anyone holding a slice of it: the next Get lends it to
// another task. Buffers whose capacity is not a size class (allocated
// elsewhere, or larger than 64 KiB) are dropped, as is anything beyond
// what the pool keeps. Put(nil) does nothing.
func (p *BufferPool) Put(b []byte) {
	p.mustOnThread("Put")
	c := cap(b)
	if c < 1<<minBufShift || c > 1<<maxBufShift || c&(c-1) != 0 {
		return
	}
	k := bufClass(c)
	if len(p.free[k])*c >= maxPooledBytes {
		return
	}
	p.free[k] = append(p.free[k], b[:0])
}

// Len returns how many buffers the pool keeps now, for tests and
// statistics. Only on the scheduler's thread.
func (p *BufferPool) Len() int {
	p.mustOnThread("Len")
	n := 0
	for _, f := range p.free {
		n += len(f)
	}
	return n
}

func (p *BufferPool) mustOnThread(what string) {
	if !p.s.onThread() {
		panic(errNotOnThread("BufferPool." + what))
	}
}
