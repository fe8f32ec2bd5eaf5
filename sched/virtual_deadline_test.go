//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// Under virtual time, a deadline computed from time.Now() — as all
// third-party net.Conn code computes them — is that far from now on the
// virtual clock, whatever the virtual start; a deadline without a
// monotonic reading (sched.Now, time.Date) is a point on the virtual
// clock. Before, time.Now()-based deadlines fired at once (a virtual
// start after today) or months late (a start before).
func TestVirtualTimeDeadlines(t *testing.T) {
	starts := map[string]time.Time{
		"start in the past":   time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC),
		"start in the future": time.Date(2101, 1, 1, 0, 0, 0, 0, time.UTC),
		"start now":           time.Now(),
	}
	deadlines := map[string]func() time.Time{
		"time.Now()+5s":  func() time.Time { return time.Now().Add(5 * time.Second) },
		"sched.Now()+5s": func() time.Time { return sched.Now().Add(5 * time.Second) },
		"a point 5s on":  func() time.Time { return sched.Now().Round(0).Add(5 * time.Second) },
	}
	for sname, start := range starts {
		for dname, deadline := range deadlines {
			t.Run(sname+"/"+dname, func(t *testing.T) {
				checkLeaks(t)
				p := pipe(t)
				defer unix.Close(p[1])
				var waited time.Duration
				var err error
				runTasks(t, func(s *sched.Scheduler) {
					f, rerr := s.Register(p[0])
					if rerr != nil {
						t.Error(rerr)
						return
					}
					defer f.Close()
					begin := sched.Now()
					f.SetReadDeadline(deadline())
					err = f.WaitRead()
					waited = sched.Now().Sub(begin)
				}, sched.WithVirtualTime(start))
				if !errors.Is(err, os.ErrDeadlineExceeded) || waited != 5*time.Second {
					t.Errorf("WaitRead returned %v after %v of virtual time, want a deadline error after 5s", err, waited)
				}
			})
		}
	}
}
