package prefork

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The ondemand pool (MinWorkers 0) idles at zero workers, as PHP-FPM's
// pm = ondemand does. Slot 0 then stays, parked: its sockets (ReusePort)
// or the shared socket keep listening, owned by the master, and the
// master watches them for a pending connection. It never accepts one: the
// connection stays in the accept queue, where the worker it starts takes
// it, as it would take any other (PHP-FPM's master does the same). The
// watch is one-shot: once it fires the master stops watching until the
// slot is parked again, so a readable socket whose worker is starting —
// or crash-looping at start, with its back-off — cannot make it spin.
// Workers idle (no connection in flight, none accepted) for IdleTimeout
// are retired one slot at a time down to slot 0, which is parked last.

// A listenWatch waits, on a goroutine of its own, for a connection to be
// queued on any of a set of listening sockets, with an epoll instance of
// its own and EPOLLONESHOT registrations: a firing disarms it.
type listenWatch struct {
	epfd, evfd int
	mu         sync.Mutex
	armed      []int // descriptors registered, until disarm
	done       chan struct{}
}

// newListenWatch starts a watch that sends an evPending event to events
// each time it fires.
func newListenWatch(events chan<- event) (*listenWatch, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	lw := &listenWatch{epfd: epfd, evfd: evfd, done: make(chan struct{})}
	go lw.run(events)
	return lw, nil
}

// run waits in epoll_wait (a thread of its own while it blocks) until
// close: it costs the master nothing while nothing arrives, and nothing
// under load, when no socket is registered.
func (lw *listenWatch) run(events chan<- event) {
	defer close(lw.done)
	evs := make([]unix.EpollEvent, 8)
	for {
		n, err := unix.EpollWait(lw.epfd, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			events <- event{kind: evPending, err: os.NewSyscallError("epoll_wait", err)}
			return
		}
		pending := false
		for _, ev := range evs[:n] {
			if int(ev.Fd) == lw.evfd {
				return
			}
			pending = true
		}
		if pending {
			events <- event{kind: evPending}
		}
	}
}

// arm registers fds for one readiness report: a socket with a connection
// queued already reports at once.
func (lw *listenWatch) arm(fds []int) error {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.disarmLocked()
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}
		if err := unix.EpollCtl(lw.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			lw.disarmLocked()
			return os.NewSyscallError("epoll_ctl", err)
		}
		lw.armed = append(lw.armed, fd)
	}
	return nil
}

// disarm removes every registration: the master holds the sockets, but
// must not be told of their connections, nor keep a registration of a
// descriptor it closes.
func (lw *listenWatch) disarm() {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.disarmLocked()
}

func (lw *listenWatch) disarmLocked() {
	for _, fd := range lw.armed {
		unix.EpollCtl(lw.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	lw.armed = lw.armed[:0]
}

// close stops the goroutine and closes the epoll instance.
func (lw *listenWatch) close() {
	lw.disarm()
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(lw.evfd, one[:])
	<-lw.done
	unix.Close(lw.epfd)
	unix.Close(lw.evfd)
}

// updateWatch arms the watch when the pool idles at zero — slot 0 parked
// with no worker, and the worker it parked has closed its listeners (a
// connection it might still take is no reason to start another) — and
// disarms it otherwise.
func (m *master) updateWatch() {
	if m.lwatch == nil {
		return
	}
	want := !m.stopping && !m.handedOver && len(m.slots) > 0 && m.slots[0].parked &&
		m.slots[0].cur == nil && m.slots[0].next == nil && m.parkedFrom == nil
	if want == m.watching {
		return
	}
	m.watching = want
	if !want {
		m.lwatch.disarm()
		return
	}
	var fds []int
	for _, byListen := range m.ls.slotFDs(0) {
		fds = append(fds, byListen...)
	}
	if err := m.lwatch.arm(fds); err != nil {
		// Without the watch, a parked pool would not serve: run a worker.
		m.logf("prefork: ondemand: cannot watch the listeners (%v); starting a worker instead", err)
		m.watching = false
		m.scale(1, "ondemand: no watch")
		return
	}
	m.logf("prefork: ondemand: no worker; watching the listeners for the next connection")
}

// pending handles the watch's report of a queued connection.
func (m *master) pending(err error) {
	if err != nil {
		m.logf("prefork: ondemand: the watch of the listeners failed (%v); starting a worker", err)
		m.lwatch.close()
		m.lwatch = nil
		m.watching = false
		m.scale(max(m.target, 1), "ondemand: no watch")
		return
	}
	if !m.watching {
		return // disarmed meanwhile: a scale up or a stop got there first
	}
	m.watching = false // the registration fired: it is one-shot
	m.scale(1, "ondemand: a connection is waiting")
}

// park empties slot 0 (the pool goes to zero): its worker, if any, empties
// the accept queues, drains and exits, and the slot's sockets stay, for
// the watch and the next worker.
func (m *master) park(sl *slot) {
	sl.parked = true
	sl.restartAt, sl.retryAt = time.Time{}, time.Time{}
	sl.replace, sl.reload = "", false
	if w := sl.next; w != nil {
		sl.next = nil
		m.retire(w, false)
	}
	if w := sl.cur; w != nil {
		sl.cur = nil
		m.retire(w, true)
		if w.state != stopping {
			m.parkedFrom = w
		}
	}
}

// idleCheck follows each ready worker's connections: one accepted or in
// flight restarts its idle time.
func (m *master) idleCheck(w *wproc, now time.Time) {
	if w.page == nil || w.state != ready {
		return
	}
	acc, act := w.page.accepted.Load(), w.page.active.Load()
	if acc != w.idleAcc || act > 0 || w.idleSince.IsZero() {
		w.idleAcc, w.idleSince = acc, now
	}
}

// retireIdle retires, in an ondemand pool, the slots whose workers have
// been idle for IdleTimeout, as long as the spare capacity left stays at
// least MinSpare — an idle worker of a pool short of capacity (its
// connections all queued on another) stays, or the adaptive rule would
// start it again at once — and all of them when every worker is idle:
// slot 0 then parks, and the pool is at zero. It reports whether it
// retired any.
func (m *master) retireIdle(now time.Time, spare float64) bool {
	active := m.activeSlots()
	var idle []*slot
	for _, sl := range active {
		w := sl.cur
		if w == nil || w.state != ready || w.hung || sl.next != nil || sl.replace != "" ||
			now.Sub(w.idleSince) < m.cfg.IdleTimeout {
			continue
		}
		idle = append(idle, sl)
	}
	if len(idle) < len(active) {
		// Some serve: slot 0 stays, and the highest idle slots go while
		// the spare capacity allows.
		if len(idle) > 0 && idle[0].index == 0 {
			idle = idle[1:]
		}
		budget := int(math.Floor(spare - m.cfg.MinSpare))
		idle = idle[len(idle)-max(min(budget, len(idle)), 0):]
	}
	if len(idle) == 0 {
		return false
	}
	for _, sl := range idle {
		m.logf("prefork: ondemand: worker %d (slot %d) idle for %v: retiring it", sl.cur.pid, sl.index, now.Sub(sl.cur.idleSince).Round(time.Millisecond))
		if sl.index == 0 {
			m.park(sl)
			continue
		}
		sl.retiring, sl.retireAt = true, now.Add(time.Second)
	}
	m.target = len(m.activeSlots())
	m.steerDirty = true
	return true
}

// statusLine is the pool's one-line state, for sd_notify's STATUS.
func (m *master) statusLine() string {
	n := 0
	for _, sl := range m.slots {
		if !sl.retiring && sl.cur != nil && sl.cur.state == ready && !sl.cur.hung {
			n++
		}
	}
	if !m.cfg.ondemand() {
		return fmt.Sprintf("%d of %d workers ready", n, len(m.activeSlots()))
	}
	if m.watching {
		return "ondemand: no worker; waiting for a connection"
	}
	return fmt.Sprintf("ondemand: %d of %d workers ready (at most %d)", n, len(m.activeSlots()), m.cfg.MaxWorkers)
}
