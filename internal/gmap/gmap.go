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
	mu  sync.Mutex
	tab atomic.Pointer[table[T]]
}

type table[T any] struct {
	mask  uintptr
	keys  []atomic.Uintptr
	vals  []atomic.Pointer[T]
	live  int // under Map.mu
	tombs int // under Map.mu
}

func newTable[T any](size int) *table[T] {
	return &table[T]{
		mask: uintptr(size - 1),
		keys: make([]atomic.Uintptr, size),
		vals: make([]atomic.Pointer[T], size),
	}
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
		switch t.keys[i].Load() {
		case g:
			return t.vals[i].Load()
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
	if t == nil || 2*(t.live+t.tombs+1) > len(t.keys) {
		t = m.rebuild(t)
	}
	free := -1
	for i := hash(g) & t.mask; ; i = (i + 1) & t.mask {
		switch k := t.keys[i].Load(); k {
		case g:
			t.vals[i].Store(v)
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
			t.vals[free].Store(v)
			t.keys[free].Store(g)
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
		switch t.keys[i].Load() {
		case g:
			t.vals[i].Store(nil)
			t.keys[i].Store(tombstone)
			t.live--
			t.tombs++
			return
		case 0:
			return
		}
	}
}

// rebuild publishes a new table holding the live entries of t, sized for
// at most a quarter of it to be in use.
func (m *Map[T]) rebuild(t *table[T]) *table[T] {
	size, live := 64, 0
	if t != nil {
		live = t.live
	}
	for size < 4*(live+1) {
		size *= 2
	}
	nt := newTable[T](size)
	if t != nil {
		for i := range t.keys {
			k := t.keys[i].Load()
			if k == 0 || k == tombstone {
				continue
			}
			j := hash(k) & nt.mask
			for nt.keys[j].Load() != 0 {
				j = (j + 1) & nt.mask
			}
			nt.vals[j].Store(t.vals[i].Load())
			nt.keys[j].Store(k)
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
