//go:build linux

package sched_test

import (
	"fmt"
	"log"

	"github.com/coopgo/coop/sched"
)

// A group of two schedulers, each pinned to a CPU of its own: scheduler 0
// on the first CPU the process may use, scheduler 1 on the second (or, on
// a machine with one CPU, on the first again), as nginx's
// "worker_cpu_affinity auto" places its workers.
func ExampleWithCPUPerScheduler() {
	g := sched.NewGroup(2, sched.WithCPUPerScheduler())
	for i := range g.Len() {
		g.Scheduler(i).Go(func() { fmt.Println("scheduler", i, "runs pinned") })
	}
	if err := g.Run(); err != nil {
		log.Fatal(err) // a *sched.CPUError if a thread could not be pinned
	}
}
