//go:build linux

package sched

import (
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/asm"
)

type poller struct {
	epfd   int
	evfd   int // eventfd: cross-thread wake-up
	events [eventBatch]unix.EpollEvent
	woken  atomic.Bool // a wake-up is written and not yet read back
	ms     bool        // the kernel lacks epoll_pwait2: timeouts in ms
}

// eventsPerFD is how many entries of epoll's ready list a descriptor
// can hold at once: one (see seenPartly).
const eventsPerFD = 1

// evfdTag marks the eventfd's events (descriptor numbers are < 2^31).
const evfdTag = -1

func (p *poller) init() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return wrapSyscall("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return wrapSyscall("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: evfdTag}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return wrapSyscall("epoll_ctl", err)
	}
	p.epfd, p.evfd = epfd, evfd
	return nil
}

func (p *poller) close() {
	if p.epfd > 0 {
		unix.Close(p.evfd)
		unix.Close(p.epfd)
		p.epfd, p.evfd = 0, 0
	}
}

func (p *poller) add(fd int, seq uint32) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     int32(fd),
		Pad:    int32(seq),
	}
	return wrapSyscall("epoll_ctl", rawEpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev))
}

// addExclusive registers fd with EPOLLEXCLUSIVE: of all the epoll
// instances (schedulers, processes) that wait on one shared descriptor,
// an event wakes one rather than all. The kernel refuses EPOLLRDHUP with
// it; the descriptors it is for, listening sockets, have no hang-up.
func (p *poller) addExclusive(fd int, seq uint32) error {
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLET | unix.EPOLLEXCLUSIVE,
		Fd:     int32(fd),
		Pad:    int32(seq),
	}
	return wrapSyscall("epoll_ctl", rawEpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev))
}

func (p *poller) del(fd int) error {
	var ev unix.EpollEvent
	return wrapSyscall("epoll_ctl", rawEpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, &ev))
}

// rawEpollCtl never blocks, so it skips the runtime's syscall bookkeeping.
func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func (p *poller) wait(s *Scheduler, timeout int64) (seen, error) {
	var n uintptr
	var e syscall.Errno
	evp := uintptr(unsafe.Pointer(&p.events[0]))
	switch {
	case timeout == 0:
		n, _, e = unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), evp, eventBatch, 0, 0, 0)
	case !p.ms:
		// epoll_pwait2 takes a timespec: sleeps to the next timer are
		// exact, not rounded up to milliseconds.
		var tsp uintptr
		var ts unix.Timespec
		if raw := s.rawSleep(); raw > 0 {
			// The first rawSleepMax of the sleep, where most sleeps of
			// a server end, out of the runtime's sight (see rawSleep).
			if timeout >= 0 && timeout < raw {
				raw = timeout
			}
			ts = unix.NsecToTimespec(raw)
			n, _, e = unix.RawSyscall6(unix.SYS_EPOLL_PWAIT2, uintptr(p.epfd), evp, eventBatch, uintptr(unsafe.Pointer(&ts)), 0, 0)
			if n != 0 || e != 0 || raw == timeout {
				if e == unix.ENOSYS {
					p.ms = true
					return p.wait(s, timeout)
				}
				if n == 0 && e == 0 {
					return seenAtEnd, nil // slept the whole timeout
				}
				break
			}
			// Nothing came: the rest in the runtime's syscall path.
			// The rest by the clock would be shorter by the timer
			// slack the raw sleep overslept, which epoll's own
			// slack covers.
			if timeout > 0 {
				timeout -= raw
			}
		}
		if timeout > 0 {
			ts = unix.NsecToTimespec(timeout)
			tsp = uintptr(unsafe.Pointer(&ts))
		}
		n, _, e = unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(p.epfd), evp, eventBatch, tsp, 0, 0)
		if e == unix.ENOSYS {
			p.ms = true
			return p.wait(s, timeout)
		}
		if n == 0 && e == 0 && timeout > 0 {
			return seenAtEnd, nil
		}
	default:
		ms := int64(-1)
		if timeout > 0 {
			ms = (timeout + 999_999) / 1_000_000
		}
		n, _, e = unix.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), evp, eventBatch, uintptr(ms), 0, 0)
		if n == 0 && e == 0 && timeout > 0 {
			return seenAtEnd, nil
		}
	}
	if e != 0 {
		if e == unix.EINTR {
			return seenAtStart, nil // a signal, perhaps a stop: see poll.go
		}
		if timeout != 0 && !p.ms {
			return seenAtStart, wrapSyscall("epoll_pwait2", e) // the timed waits, where the kernel has it
		}
		return seenAtStart, wrapSyscall("epoll_pwait", e)
	}
	ahead, gap := s.nFDs >= prefetchTasks, 0
	if ahead {
		gap = s.eventGap()
		s.prefetchFirstEvents(p.events[:n], gap)
	}
	for i := range int(n) {
		if ahead {
			s.prefetchEvents(p.events[i+1:n], gap)
		}
		ev := &p.events[i]
		if ev.Fd == evfdTag {
			// Drain, then clear (the runtime's order). Clearing first
			// could lose every later wake-up: a racing wake() would see
			// the flag clear and write, this read would consume that
			// write, and the flag would stay set with nothing pending. A
			// wake-up that races in between drain and clear finds the flag
			// set and writes nothing; the scheduler is awake anyway and
			// sees what was posted when it checks the inbox next.
			var buf [8]byte
			unix.RawSyscall(unix.SYS_READ, uintptr(p.evfd), uintptr(unsafe.Pointer(&buf[0])), 8)
			p.woken.Store(false)
			continue
		}
		read := ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
		write := ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0
		hup := ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
		s.event(ev.Fd, uint32(ev.Pad), read, write, hup)
	}
	if n == eventBatch {
		return seenPartly, nil
	}
	return seenAtStart, nil
}

func (p *poller) wake() bool {
	if p.woken.Swap(true) {
		return false // a wake-up is already pending
	}
	one := uint64(1)
	unix.RawSyscall(unix.SYS_WRITE, uintptr(p.evfd), uintptr(unsafe.Pointer(&one)), 8)
	return true
}

// eventGap is how many events apart the stages of the prefetch over an
// event batch run (prefetchEvents): while the poller handles one event,
// it asks for the slot of s.fds of the event 3*gap events on, the FD of
// the one 2*gap on (its slot asked for gap events earlier), and what the
// read of the one gap on touches behind its FD (asked for gap events
// earlier). Handling a ready-mode event (a hook that queues its
// connection and spawns a task) takes about as long as one miss to the
// L3: with stages one event apart, a profile at 10,000 connections found
// prefetchEvents itself waiting for the FD asked for one event earlier
// (about 85 ns a request) and for the slot of s.fds (30 ns), which was
// not asked for. Where the events run read hooks (a ready-mode server's
// idle connections), stages four apart measured 4% less server CPU per
// request than two apart in random order at 10,000 connections, the same
// in rotation, and three apart no better than two (bench/cmd/pairs); a
// task-mode server, whose events only queue the waiting task, measured
// 2-4% more with four apart, so it keeps two.
func (s *Scheduler) eventGap() int {
	if s.nHooks >= prefetchTasks {
		return 4
	}
	return 2
}

// prefetchFirstEvents starts the stages for the first events of a batch
// (events), gap apart (eventGap): the FDs of the first 2*gap, whose slots
// it loads at once (independent loads, which the CPU overlaps), and the
// slots of the ones up to 3*gap.
func (s *Scheduler) prefetchFirstEvents(events []unix.EpollEvent, gap int) {
	fdAhead, slotAhead := 2*gap, 3*gap
	for i := range min(len(events), slotAhead) {
		fd := events[i].Fd
		if fd < 0 || int(fd) >= len(s.fds) {
			continue
		}
		if i < fdAhead {
			if f := s.fds[fd]; f != nil {
				asm.Prefetch(uintptr(unsafe.Pointer(f)), 1)
			}
		} else {
			asm.Prefetch(uintptr(unsafe.Pointer(&s.fds[fd])), 1)
		}
	}
}

// prefetchEvents asks, while the poller handles one event, for what the
// next ones will touch (see asm.Prefetch), next being the events after
// it: in stages gap events apart (eventGap), the slot of s.fds
// that holds an event's FD, the FD, and behind it the task waiting to
// read it or the read hook's closure. At thousands of descriptors each is
// a cold line that the event's handling would otherwise wait for.
func (s *Scheduler) prefetchEvents(next []unix.EpollEvent, gap int) {
	hookAhead, fdAhead, slotAhead := gap, 2*gap, 3*gap
	if len(next) >= hookAhead {
		if f := s.fdOf(next[hookAhead-1].Fd); f != nil {
			if t := f.rd.waiters.head; t != nil {
				asm.Prefetch(uintptr(unsafe.Pointer(t)), 1)
			} else if h := f.rd.hook; h != nil {
				asm.Prefetch(*(*uintptr)(unsafe.Pointer(&h)), 1)
			}
		}
	}
	if len(next) >= fdAhead {
		if f := s.fdOf(next[fdAhead-1].Fd); f != nil {
			asm.Prefetch(uintptr(unsafe.Pointer(f)), 1)
		}
	}
	if len(next) >= slotAhead {
		if fd := next[slotAhead-1].Fd; fd >= 0 && int(fd) < len(s.fds) {
			asm.Prefetch(uintptr(unsafe.Pointer(&s.fds[fd])), 1)
		}
	}
}
