// Package gmap maps goroutine identity tokens (asm.G) to values. Go has no
// goroutine-local storage; this is the substitute for the lookups that
// must find "the object of the calling goroutine" without being handed it,
// such as ucontext.Current and sched.Current, which netio calls on every
// operation to learn whether its caller is a task.
//
// Reads take no lock and write nothing shared: an open-addressing table of
// atomic words, replaced whole (copy on write, under a mutex) when it
// grows. A lookup costs a hash and one or two loads.
//
// The map is built for one access pattern, and is only correct for it:
// the entry for a goroutine is stored, loaded and deleted by that goroutine
// itself. A goroutine therefore never races with a change to its own
// entry; it may only see other entries come and go, and it never looks
// for them.
package gmap

import (
	"sync"
	"sync/atomic"
)

const tombstone = 1 // a deleted key; g pointers are never 1

// Map is a map from goroutine tokens to *T. The zero value is empty and
// ready to use.
type Map[T any] struct {
	mu       sync.Mutex
	tab      atomic.Pointer[table[T]]
	rebuilds int // under mu, for tests
}

// A table is open addressing with linear probing. A key and its value
// share a slot, so that a lookup touches one cache line, not one in a
// key array and another in a value array: at 10,000 goroutines the table
// is larger than the caches, and each lookup for another goroutine than
// the last is a miss.
//
// Occupancy, counting deleted slots (tombstones), is kept at most 3/4; a
// rebuild sizes the new table so that the live entries fill at most 3/8
// of it. Between two rebuilds at least 3/8 of the slots are thus
// inserted, so a rebuild (O(n)) costs O(1) per insertion even under
// connection churn, where every insertion may leave a tombstone behind;
// and a table holds 16 bytes times 8/3 to 16/3 slots per entry (43 to 85
// bytes), where rebuilding to a quarter and growing at a half held 64 to
// 128.
type table[T any] struct {
	mask  uintptr
	slots []slot[T]
	live  int // under Map.mu
	tombs int // under Map.mu
}

type slot[T any] struct {
	key atomic.Uintptr
	val atomic.Pointer[T]
}

func newTable[T any](size int) *table[T] {
	return &table[T]{mask: uintptr(size - 1), slots: make([]slot[T], size)}
}

// hash spreads g pointers, which are aligned and allocated close
// together, over the table (Fibonacci hashing).
func hash(g uintptr) uintptr {
	return uintptr(uint64(g) * 0x9E3779B97F4A7C15 >> 32)
}

// Load returns the value stored for g, or nil.
func (m *Map[T]) Load(g uintptr) *T {
	t := m.tab.Load()
	if t == nil {
		return nil
	}
	for i := hash(g) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch s.key.Load() {
		case g:
			return s.val.Load()
		case 0:
			return nil
		}
	}
}

// Store sets the value for g.
func (m *Map[T]) Store(g uintptr, v *T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tab.Load()
	if t == nil || 4*(t.live+t.tombs+1) > 3*len(t.slots) {
		t = m.rebuild(t)
	}
	free := -1
	for i := hash(g) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch k := s.key.Load(); k {
		case g:
			s.val.Store(v)
			return
		case tombstone:
			if free < 0 {
				free = int(i)
			}
			continue
		case 0:
			if free < 0 {
				free = int(i)
			} else {
				t.tombs--
			}
			f := &t.slots[free]
			f.val.Store(v)
			f.key.Store(g)
			t.live++
			return
		}
	}
}

// Delete removes the value for g.
func (m *Map[T]) Delete(g uintptr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tab.Load()
	if t == nil {
		return
	}
	for i := hash(g) & t.mask; ; i = (i + 1) & t.mask {
		s := &t.slots[i]
		switch s.key.Load() {
		case g:
			s.val.Store(nil)
			s.key.Store(tombstone)
			t.live--
			t.tombs++
			return
		case 0:
			return
		}
	}
}

// rebuild publishes a new table holding the live entries of t, sized for
// them to fill at most 3/8 of it (see table).
func (m *Map[T]) rebuild(t *table[T]) *table[T] {
	m.rebuilds++
	size, live := 64, 0
	if t != nil {
		live = t.live
	}
	for 8*(live+1) > 3*size {
		size *= 2
	}
	nt := newTable[T](size)
	if t != nil {
		for i := range t.slots {
			s := &t.slots[i]
			k := s.key.Load()
			if k == 0 || k == tombstone {
				continue
			}
			j := hash(k) & nt.mask
			for nt.slots[j].key.Load() != 0 {
				j = (j + 1) & nt.mask
			}
			nt.slots[j].val.Store(s.val.Load())
			nt.slots[j].key.Store(k)
			nt.live++
		}
	}
	m.tab.Store(nt)
	return nt
}

// Len returns the number of entries; it is meant for tests and statistics.
func (m *Map[T]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.tab.Load(); t != nil {
		return t.live
	}
	return 0
}
