package sched_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coopgo/coop/sched"
)

// A scheduler runs its tasks on one thread; they switch only where one
// blocks, here in Sleep, so the order is fixed.
func Example() {
	s := sched.New()
	for _, name := range []string{"a", "b"} {
		s.Go(func() {
			for i := range 2 {
				fmt.Println(name, i)
				sched.Sleep(time.Millisecond) // parks this task; the other runs
			}
		})
	}
	if err := s.Run(); err != nil { // returns when every task has finished
		fmt.Println(err)
	}
	// Output:
	// a 0
	// b 0
	// a 1
	// b 1
}

// Offload runs blocking code (file I/O, cgo, a database driver) on a pool
// goroutine while the task parks, so that the scheduler's other tasks go
// on.
func ExampleOffload() {
	s := sched.New()
	s.Go(func() {
		var data []byte
		var err error
		sched.Offload(func() { data, err = os.ReadFile("testdata/hello.txt") })
		fmt.Printf("%q %v\n", data, err)
	})
	s.Go(func() { fmt.Println("runs while the file is read") })
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Unordered output:
	// runs while the file is read
	// "hello\n" <nil>
}

// A Group runs a scheduler per core. Tasks of different schedulers run in
// parallel, so what they share is shared as between goroutines: here a
// sync.Mutex held for a few instructions, never across a blocking call.
func ExampleGroup() {
	g := sched.NewGroup(2)
	var mu sync.Mutex
	total := 0
	for i := range 10 {
		g.Go(func() { // round robin over the schedulers
			sched.Yield()
			mu.Lock()
			total += i
			mu.Unlock()
		})
	}
	if err := g.Run(); err != nil { // returns when every task of every scheduler has ended
		fmt.Println(err)
	}
	fmt.Println(total)
	// Output: 45
}

// Scheduler.Group gives a scheduler's index in its group: partitioned
// state, one part per scheduler, needs no lock.
func ExampleScheduler_Group() {
	g := sched.NewGroup(3)
	counts := make([]int, g.Len()) // counts[i] belongs to scheduler i's thread
	for range 9 {
		g.Go(func() {
			_, i := sched.Current().Scheduler().Group()
			counts[i]++
		})
	}
	if err := g.Run(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(counts)
	_, i := sched.New().Group()
	fmt.Println(i) // not in a group
	// Output:
	// [3 3 3]
	// -1
}

// Do is how a goroutine uses what belongs to a scheduler — here a Chan —
// blocking-style: fn runs in a task of s, and Do returns when it has.
func ExampleScheduler_Do() {
	s := sched.New(sched.WithKeepAlive())
	done := make(chan error)
	go func() { done <- s.Run() }()

	jobs := sched.NewChan[string](10) // its tasks' channel
	s.Go(func() {
		for {
			job, err := jobs.Recv()
			if err != nil {
				return // closed
			}
			fmt.Println("did", job)
		}
	})
	for _, job := range []string{"one", "two"} {
		s.Do(func() { jobs.Send(job) })
	}
	s.Do(func() { jobs.Close() })
	s.Stop()
	fmt.Println(<-done)
	// Output:
	// did one
	// did two
	// <nil>
}

// On virtual time the clock jumps to the next timer whenever every task
// is blocked: an hour of timeouts runs at once, and always the same way.
func ExampleWithVirtualTime() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := sched.New(sched.WithVirtualTime(start))
	s.Go(func() {
		ticks := 0
		for sched.Now().Sub(start) < time.Hour {
			sched.Sleep(10 * time.Minute)
			ticks++
		}
		fmt.Println(ticks, sched.Now().Format(time.TimeOnly))
	})
	began := time.Now()
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(time.Since(began) < time.Minute)
	// Output:
	// 6 01:00:00
	// true
}

// lockedBuffer is a bytes.Buffer safe to write from the watchdog's goroutine
// and read from a task.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The watchdog reports a task that holds the thread — computes without
// blocking — longer than its threshold, with its stack; a task parked in
// Sleep or Offload holds nothing and is not reported.
func ExampleWithWatchdog() {
	var log lockedBuffer
	s := sched.New(sched.WithName("example"), sched.WithWatchdog(20*time.Millisecond, &log))
	s.Go(func() {
		sched.Sleep(100 * time.Millisecond) // parked: not reported
		fmt.Println("after sleeping:", log.String() == "")
		for !strings.Contains(log.String(), "has held the thread") {
			// Computing without blocking, until the watchdog reports it.
		}
		first, _, _ := strings.Cut(log.String(), " for ")
		fmt.Println(first)
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// after sleeping: true
	// sched: watchdog: example: task 1 [github.com/coopgo/coop/sched_test.ExampleWithWatchdog.func1] has held the thread
}
