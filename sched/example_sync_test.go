package sched_test

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/coopgo/coop/sched"
)

// A Mutex is needed only around code that blocks while shared state is
// inconsistent: here each task reads the balance, waits, and writes it.
func ExampleMutex() {
	s := sched.New()
	var mu sched.Mutex
	balance := 0
	for range 3 {
		s.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			b := balance
			sched.Yield() // without mu, the other tasks would read the old balance
			balance = b + 10
		})
	}
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(balance)
	// Output: 30
}

func ExampleChan() {
	s := sched.New()
	c := sched.NewChan[string](2)
	s.Go(func() {
		for _, w := range []string{"one", "two", "three"} {
			c.Send(w)
		}
		c.Close()
	})
	s.Go(func() {
		for {
			w, err := c.Recv()
			if errors.Is(err, sched.ErrClosed) {
				return
			}
			fmt.Println(w)
		}
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// one
	// two
	// three
}

// SelectTimeout waits for the first of several channels, or for a
// timeout; on a virtual clock the wait takes no real time.
func ExampleSelectTimeout() {
	s := sched.New(sched.WithVirtualTime(time.Unix(0, 0)))
	results := sched.NewChan[string](1)
	var quit sched.Chan[struct{}]
	s.Go(func() {
		sched.Sleep(2500 * time.Millisecond)
		results.Send("slow answer")
	})
	s.Go(func() {
		start := sched.Now()
		for {
			var r string
			i, err := sched.SelectTimeout(time.Second, results.RecvCase(&r), quit.RecvCase(nil))
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				fmt.Println(sched.Now().Sub(start), "still waiting")
			case i == 0:
				fmt.Println(sched.Now().Sub(start), r)
				return
			}
		}
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1s still waiting
	// 2s still waiting
	// 2.5s slow answer
}

func ExampleWaitGroup() {
	s := sched.New(sched.WithVirtualTime(time.Unix(0, 0)))
	s.Go(func() {
		var wg sched.WaitGroup
		for i := 1; i <= 3; i++ {
			wg.Go(func() { sched.Sleep(time.Duration(i) * time.Minute) })
		}
		start := sched.Now()
		wg.Wait()
		fmt.Println("all done after", sched.Now().Sub(start))
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output: all done after 3m0s
}

func ExampleCond() {
	s := sched.New()
	var mu sched.Mutex
	ready := sched.NewCond(&mu)
	queue := []string{}
	s.Go(func() {
		mu.Lock()
		defer mu.Unlock()
		for len(queue) == 0 {
			ready.Wait()
		}
		fmt.Println("got", queue[0])
	})
	s.Go(func() {
		mu.Lock()
		queue = append(queue, "job")
		mu.Unlock()
		ready.Signal()
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output: got job
}

// An Inbox brings work from ordinary goroutines into a scheduler.
func ExampleInbox() {
	s := sched.New()
	in := sched.NewInbox[int](s, 0)
	var producers sync.WaitGroup
	for p := range 4 {
		producers.Go(func() {
			for i := range 25 {
				in.Send(p*100 + i)
			}
		})
	}
	go func() {
		producers.Wait()
		in.Close() // the receiver drains what is queued, then gets ErrClosed
	}()
	s.Go(func() {
		n := 0
		for {
			if _, err := in.Recv(); err != nil {
				fmt.Println(n, "values, then", err)
				return
			}
			n++
		}
	})
	if err := s.Run(); err != nil {
		fmt.Println(err)
	}
	// Output: 100 values, then sched: closed
}
