//go:build !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package sched

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// The fallback poller (windows, plan9, js and wasip1, solaris, illumos,
// aix, ...) waits for timers and wake-ups only. Solaris and illumos have
// event ports, and aix has pollset: backends for them are out of scope
// for now. Windows would need IOCP, whose completion model does not fit a
// readiness contract.
type poller struct {
	wakeCh chan struct{} // capacity 1: a pending wake-up
	timer  *time.Timer
}

var errNoDescriptors = fmt.Errorf("sched: descriptors are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func (p *poller) init() error {
	p.wakeCh = make(chan struct{}, 1)
	// Since Go 1.23, Reset and Stop discard a stale expiry, so one timer
	// serves every wait.
	p.timer = time.NewTimer(time.Hour)
	p.timer.Stop()
	return nil
}

func (p *poller) close() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

func (p *poller) add(fd int, seq uint32) error { return errNoDescriptors }

func (p *poller) addExclusive(fd int, seq uint32) error { return errNoDescriptors }

func (p *poller) del(fd int) error { return errNoDescriptors }

// eventsPerFD: no descriptors here.
const eventsPerFD = 1

// wait has no descriptors to look at: the timers follow the clock
// (Scheduler.timerNow), and what it says it has seen does not matter.
func (p *poller) wait(s *Scheduler, timeout int64) (seen, error) {
	switch {
	case timeout == 0:
		select {
		case <-p.wakeCh:
		default:
		}
	case timeout < 0:
		<-p.wakeCh
	default:
		p.timer.Reset(time.Duration(timeout))
		select {
		case <-p.wakeCh:
		case <-p.timer.C:
		}
		p.timer.Stop()
	}
	return seenAtStart, nil
}

// wake never blocks: a full channel already holds a pending wake-up,
// which the next wait consumes.
func (p *poller) wake() bool {
	select {
	case p.wakeCh <- struct{}{}:
		return true
	default:
		return false
	}
}
