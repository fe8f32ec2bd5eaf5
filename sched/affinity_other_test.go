//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"errors"
	"testing"

	"github.com/coopgo/coop/sched"
)

// Where a thread cannot be pinned, asking for it is an error that says
// so, and no task runs on a scheduler the caller wanted somewhere else.
func TestWithCPUsUnsupported(t *testing.T) {
	checkLeaks(t)
	for _, opt := range []sched.Option{sched.WithCPUs(0), sched.WithCPUPerScheduler()} {
		s := sched.New(opt)
		ran := false
		s.Go(func() { ran = true })
		err := s.Run()
		var ce *sched.CPUError
		if !errors.As(err, &ce) || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Run: %v, want a *sched.CPUError matching errors.ErrUnsupported", err)
		}
		if ran {
			t.Error("a task ran on a scheduler whose thread could not be pinned")
		}
	}
}
