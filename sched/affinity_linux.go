package sched

import (
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// threadCPUs returns the CPUs the calling thread may run on, in
// increasing order (sched_getaffinity). The kernel refuses a mask smaller
// than its count of possible CPUs, so the mask grows until it fits.
func threadCPUs() ([]int, error) {
	for n := 1024; ; n *= 2 {
		set := unix.NewCPUSet(n)
		err := unix.SchedGetaffinityDynamic(0, set)
		if err == unix.EINVAL && n < maxCPUs {
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("sched_getaffinity", err)
		}
		cpus := make([]int, 0, set.Count())
		for c := 0; c < n; c++ {
			if set.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
		return cpus, nil
	}
}

// setThreadCPUs pins the calling thread to cpus (sched_setaffinity), each
// 0 ≤ c < maxCPUs.
func setThreadCPUs(cpus []int) error {
	set := unix.NewCPUSet(max(1024, slices.Max(cpus)+1))
	for _, c := range cpus {
		set.Set(c)
	}
	if err := unix.SchedSetaffinityDynamic(0, set); err != nil {
		return os.NewSyscallError("sched_setaffinity", err)
	}
	return nil
}
