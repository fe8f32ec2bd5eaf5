// Package gmap maps goroutine identity tokens (asm.G) to values. Go has no
// goroutine-local storage; this is the substitute for the few lookups that
// must find "the object of the calling goroutine" without being handed it,
// such as ucontext.Current and sched.Current.
//
// The map is sharded by token so that lookups from different threads rarely
// touch the same cache line, and keys are plain uintptrs, so no lookup
// allocates. Hot paths should avoid the map altogether: a scheduler or a
// Run knows its running context and can compare its token with asm.G().
package gmap

import "sync"

const shards = 64

// Map is a concurrent map from goroutine tokens to values of type V. The
// zero value is an empty map ready to use.
type Map[V any] struct {
	s [shards]shard[V]
}

type shard[V any] struct {
	mu sync.RWMutex
	m  map[uintptr]V
	_  [64 - 24 - 8]byte // keep shards on separate cache lines
}

// index spreads g pointers, which are aligned and allocated close together,
// over the shards (Fibonacci hashing).
func index(g uintptr) uintptr {
	return (uintptr(uint64(g) * 0x9E3779B97F4A7C15 >> 58)) % shards
}

// Load returns the value stored for g, if any.
func (m *Map[V]) Load(g uintptr) (v V, ok bool) {
	s := &m.s[index(g)]
	s.mu.RLock()
	v, ok = s.m[g]
	s.mu.RUnlock()
	return v, ok
}

// Store sets the value for g.
func (m *Map[V]) Store(g uintptr, v V) {
	s := &m.s[index(g)]
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[uintptr]V)
	}
	s.m[g] = v
	s.mu.Unlock()
}

// Delete removes the value for g.
func (m *Map[V]) Delete(g uintptr) {
	s := &m.s[index(g)]
	s.mu.Lock()
	delete(s.m, g)
	s.mu.Unlock()
}

// Len returns the number of entries; it is meant for tests and statistics.
func (m *Map[V]) Len() int {
	n := 0
	for i := range m.s {
		s := &m.s[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
