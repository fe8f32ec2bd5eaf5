//go:build !linux

package sched

import (
	"errors"
	"fmt"
	"runtime"
)

// errNoAffinity is the cause of every CPUError here: the BSDs' cpuset
// calls and darwin's affinity tags (hints, which Apple silicon ignores)
// are not wired in, so a thread cannot be pinned.
var errNoAffinity = fmt.Errorf("pinning a thread to CPUs on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func threadCPUs() ([]int, error) { return nil, errNoAffinity }

func setThreadCPUs([]int) error { return errNoAffinity }
