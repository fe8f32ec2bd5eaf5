package sched_test

import (
	"errors"
	"fmt"

	"github.com/coopgo/coop/sched"
)

// Two schedulers of a Group own one shard each; a plain goroutine asks
// them questions over one XChan and reads the answers from another: the
// way out of a scheduler, back to ordinary goroutines, is an XChan too.
// A task waiting on an XChan parks (its scheduler runs its other tasks);
// the goroutine blocks.
func ExampleXChan() {
	g := sched.NewGroup(2)
	type answer struct {
		shard, square int
	}
	questions := sched.NewXChan[int](8)
	answers := sched.NewXChan[answer](8)
	for i := range 2 {
		g.Scheduler(i).Go(func() {
			for {
				q, err := questions.Recv()
				if errors.Is(err, sched.ErrClosed) {
					return
				}
				answers.Send(answer{i, q * q})
			}
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Run() }()

	sum := 0
	for q := 1; q <= 4; q++ {
		questions.Send(q)
	}
	for range 4 {
		a, _ := answers.Recv()
		sum += a.square // which shard answered varies
	}
	questions.Close() // the tasks end, and so does Run
	if err := <-errc; err != nil {
		fmt.Println(err)
	}
	fmt.Println(sum)

	// Select waits on several XChans, in a task or a goroutine.
	a, b := sched.NewXChan[string](1), sched.NewXChan[string](1)
	b.Send("from b")
	var got string
	i, err := sched.Select(a.RecvCase(&got), b.RecvCase(&got))
	fmt.Println(i, got, err)
	// Output:
	// 30
	// 1 from b <nil>
}
