package sched

import "fmt"

// RegisterExclusive is Register for a descriptor that several schedulers
// or processes wait on at once — typically one listening socket shared
// by the workers of a process pool. On Linux it registers with
// EPOLLEXCLUSIVE, so that an incoming connection wakes one waiting
// scheduler instead of all of them (the thundering herd); elsewhere it is
// Register. The FD reports readability and writability but not hang-up:
// the kernel refuses EPOLLRDHUP with EPOLLEXCLUSIVE, and a listening
// socket has none to report.
//
// The wake-up goes to the waiter that waited last, so under light load one
// scheduler takes most connections; per-scheduler SO_REUSEPORT sockets
// spread them evenly instead.
func (s *Scheduler) RegisterExclusive(fd int) (*FD, error) {
	if fd < 0 {
		return nil, fmt.Errorf("sched: RegisterExclusive: bad descriptor %d", fd)
	}
	var f *FD
	var err error
	if xerr := s.exec("Scheduler.RegisterExclusive", func() { f, err = s.register(fd, true) }); xerr != nil {
		return nil, xerr
	}
	return f, err
}
