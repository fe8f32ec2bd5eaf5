package sched

import (
	"sync/atomic"
	"unsafe"
)

// ring is a bounded lock-free queue: Dmitry Vyukov's bounded MPMC queue
// (1024cores.net, "Bounded MPMC queue"), with flag bits folded into its
// two position words. It carries the hand-offs between threads that must
// not take a lock: a scheduler's inbox (post.go).
//
// Each slot has a sequence number that says whose turn it is: pos when
// the slot at position pos is free for a push, pos+1 once that push has
// published its value, pos+size once the value has been taken (free for
// the push one lap later). A push claims a position by advancing enq with
// a compare-and-swap, writes its value, then publishes; a pop does the
// same on deq. A value crosses between two cores as one or two cache
// lines (its slot's), and the two position words stay each on its side
// (the pushers' and the poppers') as long as each side has one thread.
//
// A claimed position whose push has not published yet stops pops there:
// the queue looks empty to them until it does, even if later positions
// are published. Users that must tell "empty" from "a push in progress"
// compare the positions (drained).
//
// Flags: enq carries ringClosed (no push succeeds any more) and
// ringWaiters (pushers wait: a push that does not hold the user's lock
// must not pass them); deq carries ringWaiters (poppers wait). A flag
// changes only by compare-and-swap on the whole word, so that a push or
// pop that read the word before the change fails its own swap and looks
// again.
//
// Memory order: every publish (the slot's sequence) is a read-modify-
// write, a full barrier on every platform, so that a pusher's following
// load of deq (or a popper's of enq) cannot pass it: the Dekker
// handshakes with waiters (wait in sched.go) need that, as the
// qemu-user arm64 lost wake-up taught.
type ring[T any] struct {
	slots []ringSlot[T]
	mask  uint64 // len(slots)-1; len(slots) is a power of two
	limit uint64 // most values held at once, ≤ len(slots)
	// ownLines says each slot fills a cache line of its own (the
	// inbox's): a push then fetches its slot for writing at once. With
	// several slots to a line, streaming through them, a plain load is
	// cheaper.
	ownLines bool

	_   [64]byte
	enq atomic.Uint64 // next position to push, with flags
	_   [64 - 8]byte
	deq atomic.Uint64 // next position to pop, with flags
	_   [64 - 8]byte
}

type ringSlot[T any] struct {
	seq atomic.Uint64
	v   T
}

const (
	ringClosed  = 1 << 63 // enq: closed
	ringWaiters = 1 << 62 // enq: pushers wait; deq: poppers wait
	ringPos     = ringWaiters - 1
)

// init makes r hold up to limit values (limit ≥ 1). The ring has two
// slots at least: with one, a slot's "taken, free for the next lap"
// sequence would equal its "published" one.
func (r *ring[T]) init(limit int) {
	size := uint64(2)
	for size < uint64(limit) {
		size <<= 1
	}
	// The slots take whole cache lines (the allocator places an object
	// whose size is a multiple of 64 on a 64-byte boundary), so that a
	// small ring's slots share no line with another object, such as the
	// slots of the ring that carries the replies.
	var sl ringSlot[T]
	step := uint64(64 / gcd(uint64(unsafe.Sizeof(sl)), 64)) // slots in a multiple of 64 bytes
	r.slots = make([]ringSlot[T], size, (size+step-1)/step*step)
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	r.mask = size - 1
	r.limit = uint64(limit)
}

// push appends v, unless the ring is full or enq carries one of the flags
// in stop. It returns whether it pushed, and the enq word it saw last
// (for its flags).
func (r *ring[T]) push(v T, stop uint64) (bool, uint64) {
	e := r.enq.Load()
	for {
		if e&stop != 0 {
			return false, e
		}
		pos := e & ringPos
		if !r.underLimit(pos) {
			return false, e
		}
		sl := &r.slots[pos&r.mask]
		var seq uint64
		if r.ownLines {
			// Look at the slot with a compare-and-swap that changes
			// nothing: it fetches the line for writing, so that the
			// writes below do not wait for a second transfer (a load
			// would fetch it shared, and the first write then wait
			// for the popper's copy to be invalidated).
			seq = pos
			if !sl.seq.CompareAndSwap(pos, pos) {
				seq = sl.seq.Load()
			}
		} else {
			seq = sl.seq.Load()
		}
		switch diff := int64(seq - pos); {
		case diff == 0:
			if r.enq.CompareAndSwap(e, e+1) {
				sl.v = v
				sl.seq.Swap(pos + 1) // publish; a full barrier
				return true, e + 1
			}
		case diff < 0:
			return false, e // full: the slot's last value is not taken
		}
		e = r.enq.Load()
	}
}

// pop takes the oldest value, unless the ring is empty (or its next value
// is not published yet) or deq carries one of the flags in stop.
func (r *ring[T]) pop(stop uint64) (v T, ok bool) {
	d := r.deq.Load()
	for {
		if d&stop != 0 {
			return v, false
		}
		pos := d & ringPos
		sl := &r.slots[pos&r.mask]
		seq := sl.seq.Load()
		switch diff := int64(seq - (pos + 1)); {
		case diff == 0:
			if r.deq.CompareAndSwap(d, d+1) {
				v = sl.v
				var zero T
				sl.v = zero                   // for the garbage collector
				sl.seq.Swap(pos + r.mask + 1) // free for the next lap; a full barrier
				return v, true
			}
		case diff < 0:
			return v, false
		}
		d = r.deq.Load()
	}
}

// take is pop for a ring with one popper (a scheduler's inbox), which
// also leaves the slot to free: the value stays in it, and pushes one lap
// later wait, until free(pos). A popper that frees slots after it has
// acted on their values does not stall on its cache line's transfer
// back (the write that frees it) before it acts.
func (r *ring[T]) take() (v *T, pos uint64, ok bool) {
	pos = r.deq.Load() & ringPos
	sl := &r.slots[pos&r.mask]
	if sl.seq.Load() != pos+1 {
		return nil, pos, false
	}
	r.deq.Store(pos + 1) // the one popper: no race, no flag in use
	return &sl.v, pos, true
}

// free ends take's hold on the slot of pos.
func (r *ring[T]) free(pos uint64) {
	sl := &r.slots[pos&r.mask]
	var zero T
	sl.v = zero // for the garbage collector
	sl.seq.Store(pos + r.mask + 1)
}

// ready reports whether a pop would find a value now.
func (r *ring[T]) ready() bool {
	pos := r.deq.Load() & ringPos
	return r.slots[pos&r.mask].seq.Load() == pos+1
}

// underLimit reports whether a push at pos keeps the ring within its
// limit: the value pushed limit positions before has been taken. Its
// slot's sequence says so (it is q+size once the value at q is taken,
// q or q+1 before), and with a small ring that slot shares a line with
// the one the push writes, where the popper's position (deq) is a line
// that only the popper writes: a push that read deq would take that line
// from the popper once per value.
func (r *ring[T]) underLimit(pos uint64) bool {
	if r.limit > r.mask || pos < r.limit {
		return true
	}
	q := pos - r.limit
	return r.slots[q&r.mask].seq.Load() == q+r.mask+1
}

// roomy reports whether a push would find room now (flags aside).
func (r *ring[T]) roomy() bool {
	pos := r.enq.Load() & ringPos
	return r.underLimit(pos) && r.slots[pos&r.mask].seq.Load() == pos
}

// drained reports whether every push claimed so far has been popped: no
// value is queued and no push is in progress.
func (r *ring[T]) drained() bool {
	return r.enq.Load()&ringPos == r.deq.Load()&ringPos
}

// setFlag sets f in *w (enq or deq) and reports whether it was clear.
func setFlag(w *atomic.Uint64, f uint64) bool {
	for {
		x := w.Load()
		if x&f != 0 {
			return false
		}
		if w.CompareAndSwap(x, x|f) {
			return true
		}
	}
}

// clearFlag clears f in *w.
func clearFlag(w *atomic.Uint64, f uint64) {
	for {
		x := w.Load()
		if x&f == 0 || w.CompareAndSwap(x, x&^f) {
			return
		}
	}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
