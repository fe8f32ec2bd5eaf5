package ucontext_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	ucontext "github.com/coopgo/coop/context"
)

// checkNoLeak fails the test if goroutines started during it are still
// alive when it ends, and returns how many there were before. Contexts
// exit synchronously when Run returns, so no waiting is needed: a leak is
// a leak.
func checkNoLeak(t *testing.T) int {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		if after := runtime.NumGoroutine(); after > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines: %d before, %d after Run; stacks:\n%s", before, after, buf)
		}
	})
	return before
}

// awaitExit waits, for 5 s at most, until no more than n goroutines are
// alive. A goroutine the test started announces its end (a deferred close,
// WaitGroup.Done) before it has exited; under -race and under qemu one was
// seen still in goexit when checkNoLeak counted. Contexts end before Run
// returns, so this covers only the test's own goroutine: a goroutine left
// behind stays past the wait, and checkNoLeak still reports it.
func awaitExit(n int) {
	for end := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > n && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
}

// tracer records events from contexts; contexts of one Run never run at
// once, so it needs no lock.
type tracer []string

func (tr *tracer) add(format string, args ...any) { *tr = append(*tr, fmt.Sprintf(format, args...)) }

func TestOrdering(t *testing.T) {
	tests := []struct {
		name string
		run  func(tr *tracer)
		want []string
	}{
		{
			name: "single context returns",
			run:  func(tr *tracer) { tr.add("main") },
			want: []string{"main"},
		},
		{
			name: "swap there and back",
			run: func(tr *tracer) {
				main := ucontext.Current()
				a := ucontext.Make(func() {
					tr.add("a1")
					ucontext.Swap(main)
					tr.add("a2")
					ucontext.Swap(main)
					tr.add("a3 never")
				}, nil)
				tr.add("m1")
				ucontext.Swap(a)
				tr.add("m2")
				ucontext.Swap(a)
				tr.add("m3")
			},
			want: []string{"m1", "a1", "m2", "a2", "m3"},
		},
		{
			name: "link chain",
			run: func(tr *tracer) {
				main := ucontext.Current()
				c := ucontext.Make(func() { tr.add("c") }, main)
				b := ucontext.Make(func() { tr.add("b") }, c)
				a := ucontext.Make(func() { tr.add("a") }, b)
				ucontext.Swap(a)
				tr.add("main again")
			},
			want: []string{"a", "b", "c", "main again"},
		},
		{
			name: "nil link ends Run",
			run: func(tr *tracer) {
				a := ucontext.Make(func() { tr.add("a ends Run") }, nil)
				ucontext.Swap(a)
				tr.add("main never resumes")
			},
			want: []string{"a ends Run"},
		},
		{
			name: "set runs defers then switches",
			run: func(tr *tracer) {
				main := ucontext.Current()
				b := ucontext.Make(func() {
					tr.add("b")
					ucontext.Swap(main)
				}, nil)
				a := ucontext.Make(func() {
					defer tr.add("a defer")
					tr.add("a")
					ucontext.Set(b)
					tr.add("a after Set never")
				}, main)
				ucontext.Swap(a)
				tr.add("main")
			},
			want: []string{"a", "a defer", "b", "main"},
		},
		{
			name: "three-way rotation",
			run: func(tr *tracer) {
				main := ucontext.Current()
				var a, b, c *ucontext.Context
				a = ucontext.Make(func() {
					for i := 0; i < 2; i++ {
						tr.add("a%d", i)
						ucontext.Swap(b)
					}
				}, main)
				b = ucontext.Make(func() {
					for i := 0; ; i++ {
						tr.add("b%d", i)
						ucontext.Swap(c)
					}
				}, nil)
				c = ucontext.Make(func() {
					for i := 0; ; i++ {
						tr.add("c%d", i)
						ucontext.Swap(a)
					}
				}, nil)
				ucontext.Swap(a)
				tr.add("main")
			},
			want: []string{"a0", "b0", "c0", "a1", "b1", "c1", "main"},
		},
		{
			name: "link to a context that is suspended",
			run: func(tr *tracer) {
				main := ucontext.Current()
				var a *ucontext.Context
				b := ucontext.Make(func() { tr.add("b returns to a") }, nil)
				a = ucontext.Make(func() {
					tr.add("a1")
					ucontext.Swap(b)
					tr.add("a2")
				}, main)
				// b's link is set after a exists: remake b linked to a.
				b = ucontext.Make(func() { tr.add("b returns to a") }, a)
				ucontext.Swap(a)
				tr.add("main")
			},
			want: []string{"a1", "b returns to a", "a2", "main"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			var tr tracer
			ucontext.Run(func() { tt.run(&tr) })
			if diff := cmp.Diff(tt.want, []string(tr)); diff != "" {
				t.Errorf("trace mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRing(t *testing.T) {
	checkNoLeak(t)
	const n, laps = 10000, 3
	visits := make([]int, n)
	ucontext.Run(func() {
		main := ucontext.Current()
		ring := make([]*ucontext.Context, n)
		for i := range ring {
			ring[i] = ucontext.Make(func() {
				for lap := 0; ; lap++ {
					visits[i]++
					if i == n-1 && lap == laps-1 {
						ucontext.Swap(main)
					}
					ucontext.Swap(ring[(i+1)%n])
				}
			}, nil)
		}
		ucontext.Swap(ring[0])
		// Every context is suspended here; Run unwinds them all.
	})
	for i, v := range visits {
		if v != laps {
			t.Fatalf("context %d ran %d laps, want %d", i, v, laps)
		}
	}
}

func TestUnwindOnRunEnd(t *testing.T) {
	checkNoLeak(t)
	var tr tracer
	ucontext.Run(func() {
		main := ucontext.Current()
		for _, name := range []string{"a", "b", "c"} {
			c := ucontext.Make(func() {
				defer tr.add("%s outer defer", name)
				func() {
					defer tr.add("%s inner defer", name)
					ucontext.Swap(main)
					tr.add("%s resumed never", name)
				}()
			}, main)
			ucontext.Swap(c)
		}
		never := ucontext.Make(func() { tr.add("never ran") }, nil)
		_ = never
	})
	// Order of unwinding between contexts is unspecified; within one
	// context the defers run innermost first.
	got := map[string][]string{}
	for _, e := range tr {
		got[e[:1]] = append(got[e[:1]], e)
	}
	want := map[string][]string{
		"a": {"a inner defer", "a outer defer"},
		"b": {"b inner defer", "b outer defer"},
		"c": {"c inner defer", "c outer defer"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unwinding (-want +got):\n%s", diff)
	}
}

func TestUnwindDeferThatSwitches(t *testing.T) {
	checkNoLeak(t)
	var got []string
	ucontext.Run(func() {
		main := ucontext.Current()
		other := ucontext.Make(func() { ucontext.Swap(main) }, nil)
		a := ucontext.Make(func() {
			defer func() {
				// Switching while being unwound is not possible; the
				// attempt unwinds further and the next defer still runs.
				defer func() { got = append(got, "inner defer ran") }()
				ucontext.Swap(other)
				got = append(got, "never")
			}()
			ucontext.Swap(other)
		}, nil)
		ucontext.Swap(a)
	})
	if diff := cmp.Diff([]string{"inner defer ran"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

type panicValue struct{ N int }

func TestPanicPropagates(t *testing.T) {
	tests := []struct {
		name  string
		depth int // contexts between main and the panicking one
	}{
		{"first context", -1},
		{"made context", 0},
		{"deep context", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			var unwound []string
			got := func() (p any) {
				defer func() { p = recover() }()
				ucontext.Run(func() {
					if tt.depth < 0 {
						defer func() { unwound = append(unwound, "main") }()
						panic(panicValue{42})
					}
					main := ucontext.Current()
					defer func() { unwound = append(unwound, "main") }()
					var chain []*ucontext.Context
					for i := 0; i <= tt.depth; i++ {
						chain = append(chain, ucontext.Make(func() {
							defer func() { unwound = append(unwound, fmt.Sprint(i)) }()
							if i == tt.depth {
								panic(panicValue{42})
							}
							ucontext.Swap(chain[i+1])
						}, main))
					}
					ucontext.Swap(chain[0])
				})
				return nil
			}()
			if diff := cmp.Diff(any(panicValue{42}), got); diff != "" {
				t.Errorf("panic value (-want +got):\n%s", diff)
			}
			if want := tt.depth + 2; len(unwound) != want {
				t.Errorf("unwound %v, want %d contexts' defers", unwound, want)
			}
		})
	}
}

func TestPanicDuringUnwindIsReported(t *testing.T) {
	checkNoLeak(t)
	got := func() (p any) {
		defer func() { p = recover() }()
		ucontext.Run(func() {
			main := ucontext.Current()
			a := ucontext.Make(func() {
				defer func() { panic("from a defer") }()
				ucontext.Swap(main)
			}, nil)
			ucontext.Swap(a)
		})
		return nil
	}()
	if got != "from a defer" {
		t.Errorf("Run panicked with %v, want the deferred panic", got)
	}
}

func TestGoexitEndsHost(t *testing.T) {
	before := checkNoLeak(t)
	var unwound []string
	hostDeferRan := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { hostDeferRan <- true }()
		ucontext.Run(func() {
			main := ucontext.Current()
			a := ucontext.Make(func() {
				defer func() { unwound = append(unwound, "a") }()
				ucontext.Swap(main)
			}, nil)
			ucontext.Swap(a)
			b := ucontext.Make(func() {
				defer func() { unwound = append(unwound, "b") }()
				runtime.Goexit()
			}, nil)
			ucontext.Swap(b)
			unwound = append(unwound, "main continued: wrong")
		})
		unwound = append(unwound, "Run returned: wrong")
	}()
	<-done
	awaitExit(before)
	if !<-hostDeferRan {
		t.Fatal("host defers did not run")
	}
	// Either order is right. Sorted here rather than with a cmp.Transformer:
	// cmp runs transformers on a goroutine of its own now and then, which
	// checkNoLeak would see still exiting.
	slices.Sort(unwound)
	if diff := cmp.Diff([]string{"a", "b"}, unwound); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCurrent(t *testing.T) {
	checkNoLeak(t)
	if c := ucontext.Current(); c != nil {
		t.Fatalf("Current outside Run = %v, want nil", c)
	}
	ucontext.Run(func() {
		main := ucontext.Current()
		if main == nil {
			t.Error("Current in the first context is nil")
		}
		var inA *ucontext.Context
		var a *ucontext.Context
		a = ucontext.Make(func() {
			inA = ucontext.Current()
			ucontext.Swap(main)
		}, nil)
		ucontext.Swap(a)
		if inA != a {
			t.Errorf("Current in a = %v, want %v", inA, a)
		}
		if ucontext.Current() != main {
			t.Errorf("Current back in main = %v, want %v", ucontext.Current(), main)
		}
	})
}

func TestManyRunsAtOnce(t *testing.T) {
	before := checkNoLeak(t)
	const runs, rounds = 8, 2000
	var wg sync.WaitGroup
	errs := make(chan error, runs)
	for r := range runs {
		wg.Go(func() {
			ucontext.Run(func() {
				main := ucontext.Current()
				count := 0
				var a, b *ucontext.Context
				a = ucontext.Make(func() {
					for {
						if ucontext.Current() != a {
							errs <- fmt.Errorf("run %d: Current in a is %v", r, ucontext.Current())
						}
						count++
						ucontext.Swap(b)
					}
				}, nil)
				b = ucontext.Make(func() {
					for i := 0; ; i++ {
						if i == rounds {
							ucontext.Swap(main)
						}
						ucontext.Swap(a)
					}
				}, nil)
				ucontext.Swap(a)
				if count != rounds+1 {
					errs <- fmt.Errorf("run %d: a ran %d times, want %d", r, count, rounds+1)
				}
			})
		})
	}
	wg.Wait()
	awaitExit(before)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNestedRun(t *testing.T) {
	checkNoLeak(t)
	var tr tracer
	ucontext.Run(func() {
		outer := ucontext.Current()
		ucontext.Run(func() {
			inner := ucontext.Current()
			if inner == outer {
				tr.add("inner Run shares the outer context")
			}
			x := ucontext.Make(func() { tr.add("x") }, inner)
			ucontext.Swap(x)
			tr.add("inner done")
		})
		if ucontext.Current() != outer {
			tr.add("outer Current wrong after inner Run")
		}
		tr.add("outer done")
	})
	if diff := cmp.Diff([]string{"x", "inner done", "outer done"}, []string(tr)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// mustPanic runs f and returns the message it panicked with.
func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		p := recover()
		if p == nil {
			t.Fatal("no panic")
		}
		msg = fmt.Sprint(p)
	}()
	f()
	return ""
}

func TestMisuse(t *testing.T) {
	// A context from a Run that has ended, for the outside-Run cases.
	var stale, finished *ucontext.Context
	ucontext.Run(func() {
		stale = ucontext.Current()
		finished = ucontext.Make(func() {}, stale)
		ucontext.Swap(finished)
	})
	tests := []struct {
		name string
		f    func()
		want string
	}{
		{"Run nil", func() { ucontext.Run(nil) }, "Run with nil fn"},
		{"Make nil", func() { ucontext.Run(func() { ucontext.Make(nil, nil) }) }, "Make with nil fn"},
		{"Make outside Run", func() { ucontext.Make(func() {}, nil) }, "Make called outside Run"},
		{"Swap outside Run", func() { ucontext.Swap(stale) }, "Swap called outside Run"},
		{"Set outside Run", func() { ucontext.Set(stale) }, "Set called outside Run"},
		{"Swap nil", func() { ucontext.Run(func() { ucontext.Swap(nil) }) }, "Swap to a nil context"},
		{"Set nil", func() { ucontext.Run(func() { ucontext.Set(nil) }) }, "Set to a nil context"},
		{"Swap to self", func() { ucontext.Run(func() { ucontext.Swap(ucontext.Current()) }) }, "Swap to the running context"},
		{"Set to self", func() { ucontext.Run(func() { ucontext.Set(ucontext.Current()) }) }, "Set to the running context"},
		{"Swap to finished", func() {
			ucontext.Run(func() {
				main := ucontext.Current()
				a := ucontext.Make(func() {}, main)
				ucontext.Swap(a)
				ucontext.Swap(a)
			})
		}, "Swap to finished context"},
		{"Set to finished", func() {
			ucontext.Run(func() {
				main := ucontext.Current()
				a := ucontext.Make(func() {}, main)
				ucontext.Swap(a)
				ucontext.Set(a)
			})
		}, "Set to finished context"},
		{"Swap to another Run", func() { ucontext.Run(func() { ucontext.Swap(stale) }) }, "of another Run"},
		{"Set to another Run", func() { ucontext.Run(func() { ucontext.Set(finished) }) }, "of another Run"},
		{"Swap zero", func() { ucontext.Run(func() { ucontext.Swap(&ucontext.Context{}) }) }, "Swap to a Context not made by Make"},
		{"Set zero", func() { ucontext.Run(func() { ucontext.Set(&ucontext.Context{}) }) }, "Set to a Context not made by Make"},
		{"Swap zero outside Run", func() { ucontext.Swap(new(ucontext.Context)) }, "Swap to a Context not made by Make"},
		{"Make zero link", func() { ucontext.Run(func() { ucontext.Make(func() {}, &ucontext.Context{}) }) }, "Make with a link not made by Make"},
		{"Make link of another Run", func() { ucontext.Run(func() { ucontext.Make(func() {}, stale) }) }, "Make with link"},
		{"link to finished", func() {
			ucontext.Run(func() {
				main := ucontext.Current()
				a := ucontext.Make(func() {}, main)
				ucontext.Swap(a)
				b := ucontext.Make(func() {}, a)
				ucontext.Swap(b)
			})
		}, "passed control to finished"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeak(t)
			msg := mustPanic(t, tt.f)
			if !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "ucontext: ") {
				t.Errorf("panic %q, want a ucontext message containing %q", msg, tt.want)
			}
		})
	}
}

func TestSwapFromAnotherGoroutineOfRun(t *testing.T) {
	// A plain goroutine started by a context is not a context: Swap from
	// it is "outside Run" even though its parent runs.
	before := checkNoLeak(t)
	var msg string
	ucontext.Run(func() {
		main := ucontext.Current()
		a := ucontext.Make(func() { ucontext.Swap(main) }, nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { msg = fmt.Sprint(recover()) }()
			ucontext.Swap(a)
		}()
		<-done
	})
	awaitExit(before)
	if !strings.Contains(msg, "Swap called outside Run") {
		t.Errorf("panic %q, want Swap called outside Run", msg)
	}
}

func TestRecoveredExitSignalIsAnError(t *testing.T) {
	// User code that recovers everything sees a self-describing error.
	checkNoLeak(t)
	var seen error
	ucontext.Run(func() {
		main := ucontext.Current()
		b := ucontext.Make(func() { ucontext.Swap(main) }, nil)
		a := ucontext.Make(func() {
			defer func() {
				p := recover()
				seen, _ = p.(error)
				panic(p)
			}()
			ucontext.Set(b)
		}, nil)
		ucontext.Swap(a)
	})
	if seen == nil || !strings.Contains(seen.Error(), "ended by Set") {
		t.Errorf("recovered %v, want the Set signal as an error", seen)
	}
	var target interface{ Error() string }
	if !errors.As(seen, &target) {
		t.Error("not an error")
	}
}
