package ucontext_test

import (
	"fmt"

	ucontext "github.com/coopgo/coop/context"
)

// A generator: the producer context runs until it has a value, then
// swaps back to the consumer, which resumes it for the next.
func Example() {
	ucontext.Run(func() {
		main := ucontext.Current()
		var v int
		var done bool
		gen := ucontext.Make(func() {
			for i := 1; i <= 3; i++ {
				v = i * i
				ucontext.Swap(main) // hand the value over; resume here
			}
			done = true
		}, main) // when the generator returns, control passes to main
		for {
			ucontext.Swap(gen)
			if done {
				break
			}
			fmt.Println(v)
		}
	})
	// Output:
	// 1
	// 4
	// 9
}

// Set ends the running context — its deferred calls run — and continues
// in another; nothing returns to the context that called it.
func ExampleSet() {
	ucontext.Run(func() {
		main := ucontext.Current()
		worker := ucontext.Make(func() {
			defer fmt.Println("worker: deferred call runs")
			fmt.Println("worker: giving up")
			ucontext.Set(main)
			fmt.Println("never printed")
		}, nil)
		ucontext.Swap(worker)
		fmt.Println("main: back")
	})
	// Output:
	// worker: giving up
	// worker: deferred call runs
	// main: back
}

// When Run returns, the contexts that have not finished are unwound:
// their deferred calls run, and no goroutine is left behind.
func ExampleRun() {
	ucontext.Run(func() {
		main := ucontext.Current()
		for _, name := range []string{"a", "b"} {
			c := ucontext.Make(func() {
				defer fmt.Println(name, "unwound")
				ucontext.Swap(main) // suspended for good
			}, nil)
			ucontext.Swap(c)
		}
		fmt.Println("main returns")
	})
	fmt.Println("Run returned")
	// Unordered output:
	// main returns
	// a unwound
	// b unwound
	// Run returned
}

// Seq turns a generator running in a context of its own into an iterator
// for a range loop. Breaking out of the loop releases the generator: its
// yield returns false and it returns, running its deferred calls.
func ExampleSeq() {
	squares := ucontext.Seq(func(yield func(int) bool) {
		defer fmt.Println("generator done")
		for i := 1; ; i++ {
			if !yield(i * i) {
				return
			}
		}
	})
	for v := range squares {
		if v > 10 {
			break
		}
		fmt.Println(v)
	}
	fmt.Println("after the loop")
	// Output:
	// 1
	// 4
	// 9
	// generator done
	// after the loop
}

// The example of the makecontext(3) manual page: func2's link is func1,
// and func1's is main. Make reads the link when it is called, so the
// chain is made back to front: func1 before func2.
func ExampleMake() {
	ucontext.Run(func() {
		main := ucontext.Current()
		var func2 *ucontext.Context
		func1 := ucontext.Make(func() {
			fmt.Println("func1: started")
			ucontext.Swap(func2)
			fmt.Println("func1: returning")
		}, main)
		func2 = ucontext.Make(func() {
			fmt.Println("func2: started")
			ucontext.Swap(func1)
			fmt.Println("func2: returning")
		}, func1)
		ucontext.Swap(func2)
		fmt.Println("main: exiting")
	})
	// Output:
	// func2: started
	// func1: started
	// func2: returning
	// func1: returning
	// main: exiting
}
