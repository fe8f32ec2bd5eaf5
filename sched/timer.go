package sched

// A timer is an entry in a scheduler's timer heap. Timers are embedded in
// the objects that need them (a task's sleep, a descriptor's deadlines),
// so setting, resetting and cancelling one never allocates: netio resets a
// deadline on every request.
type timer struct {
	when  int64      // scheduler clock, ns
	owner timerOwner // told when the timer fires
	idx   int32      // index in the heap; -1 when not pending
	arg   uint8      // which of the owner's timers this is
}

// A timerOwner is woken by its timers. fire runs on the scheduler thread,
// from the host loop.
type timerOwner interface {
	fire(arg uint8)
}

func (t *timer) init(owner timerOwner, arg uint8) {
	t.idx = -1
	t.owner = owner
	t.arg = arg
}

// pending reports whether t is in the heap.
func (t *timer) pending() bool { return t.idx >= 0 }

// timerHeap is a binary min-heap on when: O(log n) add, reset and remove,
// O(1) peek. The index kept in each timer makes reset and remove direct.
type timerHeap struct {
	h []*timer
}

func (th *timerHeap) len() int { return len(th.h) }

// next returns the earliest timer, or nil.
func (th *timerHeap) next() *timer {
	if len(th.h) == 0 {
		return nil
	}
	return th.h[0]
}

// set schedules t at when, adding it or moving it as needed.
func (th *timerHeap) set(t *timer, when int64) {
	if t.idx < 0 {
		t.when = when
		t.idx = int32(len(th.h))
		th.h = append(th.h, t)
		th.up(int(t.idx))
		return
	}
	old := t.when
	t.when = when
	if when < old {
		th.up(int(t.idx))
	} else if when > old {
		th.down(int(t.idx))
	}
}

// stop removes t if it is pending.
func (th *timerHeap) stop(t *timer) {
	i := int(t.idx)
	if i < 0 {
		return
	}
	last := len(th.h) - 1
	if i != last {
		th.swap(i, last)
	}
	th.h[last] = nil
	th.h = th.h[:last]
	t.idx = -1
	if i != last {
		if !th.down(i) {
			th.up(i)
		}
	}
}

func (th *timerHeap) swap(i, j int) {
	h := th.h
	h[i], h[j] = h[j], h[i]
	h[i].idx = int32(i)
	h[j].idx = int32(j)
}

func (th *timerHeap) up(i int) {
	h := th.h
	for i > 0 {
		p := (i - 1) / 2
		if h[p].when <= h[i].when {
			break
		}
		th.swap(i, p)
		i = p
	}
}

// down sifts h[i] down and reports whether it moved.
func (th *timerHeap) down(i int) bool {
	h := th.h
	n := len(h)
	start := i
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].when < h[l].when {
			m = r
		}
		if h[i].when <= h[m].when {
			break
		}
		th.swap(i, m)
		i = m
	}
	return i > start
}
