package sched_test

import (
	"fmt"
	"time"

	"github.com/coopgo/coop/sched"
)

// A timer bounds a wait: a Select between the reply and the timer's C.
// On virtual time the example runs at once and its times are exact.
func ExampleNewTimer() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := sched.New(sched.WithVirtualTime(start))
	replies := sched.NewChan[string](1)
	s.Go(func() {
		sched.Sleep(3 * time.Second) // a slow server
		replies.TrySend("late reply")
	})
	s.Go(func() {
		timeout := sched.NewTimer(2 * time.Second)
		defer timeout.Stop()
		var reply string
		switch i, _ := sched.Select(replies.RecvCase(&reply), timeout.C.RecvCase(nil)); i {
		case 0:
			fmt.Println(reply)
		case 1:
			fmt.Println("timed out after", sched.Now().Sub(start))
		}
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// timed out after 2s
}

// AfterFunc starts a function in a new task after a delay on the
// scheduler's clock; Stop cancels it. Run waits for the calls still
// pending, as it waits for tasks.
func ExampleAfterFunc() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := sched.New(sched.WithVirtualTime(start))
	s.Go(func() {
		sched.AfterFunc(time.Minute, func() {
			fmt.Println("reminder at", sched.Now().Format(time.TimeOnly))
		})
		cancelled := sched.AfterFunc(time.Hour, func() { fmt.Println("never printed") })
		fmt.Println("stopped:", cancelled.Stop())
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// stopped: true
	// reminder at 00:01:00
}

// A Ticker sends the time on its C every period. A receiver too slow for
// it drops ticks rather than queueing them: here the 00:30 and 00:45 ticks
// are dropped while the task sleeps, and the 00:15 one waited in C.
func ExampleNewTicker() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := sched.New(sched.WithVirtualTime(start))
	s.Go(func() {
		tk := sched.NewTicker(15 * time.Minute)
		defer tk.Stop()
		sched.Sleep(50 * time.Minute)
		for range 3 {
			t, _ := tk.C.Recv()
			fmt.Println("tick", t.Format("15:04"), "received", sched.Now().Format("15:04"))
		}
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// tick 00:15 received 00:50
	// tick 01:00 received 01:00
	// tick 01:15 received 01:15
}
