package main

import (
	"sync"
	"time"

	"github.com/coopgo/coop/sched"
)

// A store is one shard of the key space. It belongs to one scheduler and
// is touched only by that scheduler's tasks, so it needs no lock: tasks
// of one scheduler never run at the same time, and a task is never
// switched out in the middle of a command (commands do not block). With
// -shared mutex there is one store for all schedulers, and every access
// holds server.mu.
type store struct {
	keys map[string]*entry
	// expiring holds the keys that have a time to live: the active
	// expiry sweep samples it, as Redis samples its expires dict.
	expiring map[string]*entry
}

// An entry is a value and its expiry time.
type entry struct {
	val []byte
	exp int64 // Unix time in ms at which the key expires; 0: never
}

func newStore() *store {
	return &store{keys: make(map[string]*entry), expiring: make(map[string]*entry)}
}

// nowMs is the clock of expiry times: Unix milliseconds, as in Redis
// (EXPIREAT and PXAT take absolute times).
func nowMs() int64 { return time.Now().UnixMilli() }

// get returns the live entry of key, deleting it if it has expired: the
// lazy half of expiry.
func (st *store) get(key []byte) *entry {
	e := st.keys[string(key)] // no allocation: the compiler sees the lookup
	if e == nil {
		return nil
	}
	if e.exp != 0 && e.exp <= nowMs() {
		st.delete(key)
		return nil
	}
	return e
}

// set stores val under key, copying it (val points into a client's input
// buffer), and clears the key's time to live unless keepTTL. An existing
// entry's buffer is reused when the new value fits it.
func (st *store) set(key, val []byte, keepTTL bool) *entry {
	e := st.keys[string(key)]
	if e == nil {
		e = &entry{val: append([]byte(nil), val...)}
		st.keys[string(key)] = e
		return e
	}
	if cap(e.val) >= len(val) && cap(e.val) <= 2*len(val)+64 {
		e.val = append(e.val[:0], val...)
	} else {
		e.val = append([]byte(nil), val...)
	}
	if !keepTTL && e.exp != 0 {
		e.exp = 0
		delete(st.expiring, string(key))
	}
	return e
}

// expire sets e's expiry time; e must be key's live entry.
func (st *store) expire(key []byte, e *entry, at int64) {
	if e.exp == 0 {
		st.expiring[string(key)] = e
	}
	e.exp = at
}

// persist clears key's time to live.
func (st *store) persist(key []byte, e *entry) {
	if e.exp != 0 {
		e.exp = 0
		delete(st.expiring, string(key))
	}
}

// delete removes key, reporting whether it was there (expired or not).
func (st *store) delete(key []byte) bool {
	e := st.keys[string(key)]
	if e == nil {
		return false
	}
	delete(st.keys, string(key))
	if e.exp != 0 {
		delete(st.expiring, string(key))
	}
	return true
}

func (st *store) flush() {
	clear(st.keys)
	clear(st.expiring)
}

// Active expiry, after Redis's activeExpireCycle: ten times a second,
// sample keys with a time to live and delete the expired ones; go on
// while more than a quarter of a sample had expired, within a time
// budget, so that memory held by keys nobody reads again is reclaimed.
const (
	sweepEvery  = 100 * time.Millisecond
	sweepSample = 20
	sweepBudget = time.Millisecond
)

// sweep runs one cycle and returns how many keys it deleted.
func (st *store) sweep() int {
	deleted := 0
	start := time.Now()
	for len(st.expiring) > 0 {
		now := nowMs()
		n, expired := 0, 0
		// Map iteration starts at a random place: a fair sample.
		for k, e := range st.expiring {
			if e.exp <= now {
				delete(st.expiring, k)
				delete(st.keys, k)
				expired++
			}
			if n++; n == sweepSample {
				break
			}
		}
		deleted += expired
		if expired*4 <= n || time.Since(start) > sweepBudget {
			break
		}
	}
	return deleted
}

// sweeper is the task that runs the active expiry of st until its
// scheduler stops; mu, if not nil, is the lock of a store shared between
// schedulers (-shared mutex).
func (st *store) sweeper(mu *sync.Mutex) {
	for sched.Sleep(sweepEvery) == nil {
		if mu != nil {
			mu.Lock()
		}
		st.sweep()
		if mu != nil {
			mu.Unlock()
		}
	}
}
