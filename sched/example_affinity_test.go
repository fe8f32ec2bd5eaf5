//go:build linux

package sched_test

import (
	"fmt"
	"log"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// A group of two schedulers, each pinned to a CPU of its own: scheduler 0
// on the first CPU the process may use, scheduler 1 on the second (or, on
// a machine with one CPU, on the first again), as nginx's
// "worker_cpu_affinity auto" places its workers. Each scheduler's task
// reads the CPUs of the thread it runs on (sched_getaffinity): the
// scheduler's own thread, pinned before any task runs.
func ExampleWithCPUPerScheduler() {
	var process unix.CPUSet
	if err := unix.SchedGetaffinity(0, &process); err != nil {
		log.Fatal(err)
	}
	var cpus []int // the CPUs the process may use, in increasing order
	for c := 0; len(cpus) < process.Count(); c++ {
		if process.IsSet(c) {
			cpus = append(cpus, c)
		}
	}

	g := sched.NewGroup(2, sched.WithCPUPerScheduler())
	on := make([]unix.CPUSet, g.Len())
	for i := range g.Len() {
		g.Scheduler(i).Go(func() {
			if err := unix.SchedGetaffinity(0, &on[i]); err != nil {
				log.Fatal(err)
			}
		})
	}
	if err := g.Run(); err != nil {
		log.Fatal(err) // a *sched.CPUError if a thread could not be pinned
	}
	// Printed after Run, in a fixed order: the schedulers' threads ran
	// side by side.
	for i := range on {
		want := cpus[i%len(cpus)]
		fmt.Printf("scheduler %d pinned to its CPU: %v\n", i, on[i].Count() == 1 && on[i].IsSet(want))
	}
	// Output:
	// scheduler 0 pinned to its CPU: true
	// scheduler 1 pinned to its CPU: true
}
