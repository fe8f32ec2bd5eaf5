package prefork

import (
	"fmt"
	"math"
	"time"
)

// scale sets the number of slots: new slots (and, in ReusePort mode,
// their sockets) start workers at once; surplus slots, the last ones
// first, are retired — first steered away from (no new connection is
// queued for them), then, a second later, their workers empty the
// sockets' queues, drain and exit, and the sockets are closed. In an
// ondemand pool n may be 0: slot 0 is then parked (its worker drains, its
// sockets stay and are watched), and it is the first to come back.
//
// It returns an error, which it has logged, if the sockets of a new slot
// cannot be opened: the pool then stays at the slots it has. The control
// command answers with it.
func (m *master) scale(n int, why string) error {
	if m.stopping || m.handedOver {
		return errStopping
	}
	lo := 1
	if m.cfg.ondemand() {
		lo = 0 // slot 0 parks
	}
	n = min(max(n, lo), maxSlots)
	active := len(m.activeSlots())
	if n == active {
		return nil
	}
	m.logf("prefork: %s: %d → %d workers", why, active, n)
	m.target = n
	// A parked slot 0 first, then slots being retired, before new ones.
	if sl := m.slots[0]; active < n && sl.parked {
		sl.parked = false
		active++
		if sl.cur == nil && sl.next == nil {
			m.start(sl, false)
		}
	}
	for _, sl := range m.slots {
		if active >= n {
			break
		}
		if sl.retiring {
			sl.retiring = false
			active++
			if w := sl.cur; w != nil && w.asked {
				// Its worker drains already: let it, and start another.
				sl.cur = nil
				m.start(sl, false)
			}
		}
	}
	for active < n {
		i := len(m.slots)
		if err := m.ls.ensure(i + 1); err != nil {
			m.logf("prefork: scale: %v; staying at %d workers", err, active)
			m.target = active // not n: a later step counts from what there is
			m.steerDirty = true
			return fmt.Errorf("scale: %w", err)
		}
		sl := &slot{index: i}
		m.slots = append(m.slots, sl)
		m.start(sl, false)
		active++
	}
	for i := len(m.slots) - 1; i >= 0 && active > n; i-- {
		sl := m.slots[i]
		switch {
		case sl.retiring || sl.parked:
			continue
		case i == 0:
			m.park(sl) // ondemand: the sockets stay, watched
		default:
			sl.retiring, sl.retireAt = true, time.Now().Add(time.Second)
			if sl.next != nil {
				m.retire(sl.next, false)
			}
		}
		active--
	}
	m.steerDirty = true
	return nil
}

// dropSlot removes a retired slot whose workers are gone, if it is the
// last one: slots are numbered densely, and so are the sockets of a
// reuseport group.
func (m *master) dropSlot(sl *slot) {
	if sl.index != len(m.slots)-1 {
		return
	}
	m.ls.dropSlot(sl.index)
	m.slots = m.slots[:sl.index]
	m.servingPrev = nil
	m.steerDirty = true
}

// adapt sizes an adaptive pool on its measured load, every
// ScaleInterval: the load of a worker is the busy share of its
// schedulers' threads (LoadBusy) or its connections in flight over
// ConnsPerWorker (LoadConns); the spare capacity is the number of
// workers minus their total load. Below MinSpare the pool grows by what
// is missing at once; above MaxSpare for five intervals in a row, it
// retires one worker. An ondemand pool also retires the workers idle for
// IdleTimeout, down to zero (retireIdle).
func (m *master) adapt(now time.Time) {
	ondemand := m.cfg.ondemand()
	for w := range m.workers {
		m.sampleBusy(w, now)
		if ondemand {
			m.idleCheck(w, now)
		}
	}
	if m.cfg.MaxWorkers == m.cfg.MinWorkers {
		return
	}
	// Idle workers are looked for at least four times per IdleTimeout,
	// so that one goes within a quarter of it after its time is up.
	due := now.Sub(m.lastScale) >= m.cfg.ScaleInterval
	idleDue := ondemand && now.Sub(m.lastIdle) >= min(m.cfg.ScaleInterval, m.cfg.IdleTimeout/4)
	if !due && !idleDue {
		return
	}
	if idleDue {
		m.lastIdle = now
	}
	var load float64
	n := 0
	for _, sl := range m.activeSlots() {
		w := sl.cur
		if w == nil || w.state != ready {
			n++ // starting: counts as capacity soon, with no load yet
			continue
		}
		n++
		switch m.cfg.Load {
		case LoadConns:
			load += float64(w.page.active.Load()) / float64(m.cfg.ConnsPerWorker)
		default:
			load += w.busy
		}
	}
	spare := float64(n) - load
	if idleDue && m.retireIdle(now, spare) {
		m.overSpare = 0
		return
	}
	if !due {
		return
	}
	m.lastScale = now
	switch {
	case n == 0:
		// An ondemand pool at zero grows when a connection comes (the
		// watch), not on a spare capacity of nothing.
	case spare < m.cfg.MinSpare && n < m.cfg.MaxWorkers:
		m.overSpare = 0
		add := int(math.Ceil(m.cfg.MinSpare - spare))
		m.scale(min(n+max(add, 1), m.cfg.MaxWorkers), "adaptive: load "+ftoa(load)+" on "+itoa(n))
	case spare > m.cfg.MaxSpare && n > max(m.cfg.MinWorkers, 1):
		// Only IdleTimeout takes an ondemand pool's last worker.
		m.overSpare++
		if m.overSpare >= 5 {
			m.overSpare = 0
			m.scale(n-1, "adaptive: load "+ftoa(load)+" on "+itoa(n))
		}
	default:
		m.overSpare = 0
	}
}

// sampleBusy updates w.busy from its schedulers' CPU time.
func (m *master) sampleBusy(w *wproc, now time.Time) {
	if w.page == nil || w.state != ready {
		return
	}
	var cpu uint64
	for c := range m.cfg.Cores {
		cpu += w.page.beats[c].cpuNs.Load()
	}
	if w.cpuAt.IsZero() {
		w.cpu, w.cpuAt = cpu, now
		return
	}
	if dt := now.Sub(w.cpuAt); dt >= 250*time.Millisecond {
		w.busy = float64(cpu-w.cpu) / float64(dt.Nanoseconds()) / float64(m.cfg.Cores)
		w.cpu, w.cpuAt = cpu, now
	}
}
