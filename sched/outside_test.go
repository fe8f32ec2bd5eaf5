//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	ucontext "github.com/coopgo/coop/context"
	"github.com/coopgo/coop/sched"
)

// The sync.WaitGroup habit — Add, then start the task — works before Run,
// from the goroutine that sets the scheduler up.
func TestWaitGroupAddBeforeRun(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	var wg sched.WaitGroup
	done := 0
	for i := range 3 {
		wg.Add(1)
		s.Go(func() {
			defer wg.Done()
			sched.Sleep(time.Duration(i) * time.Millisecond)
			done++
		})
	}
	var got int
	s.Go(func() {
		if err := wg.Wait(); err != nil {
			t.Error(err)
		}
		got = done
	})
	mustRun(t, s)
	if got != 3 {
		t.Errorf("Wait returned after %d of 3 tasks", got)
	}
}

// The other calls that never wait work before Run as well: a buffered
// Chan filled by the setup code, a Mutex locked for the first task.
func TestNonWaitingCallsBeforeRun(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	c := sched.NewChan[int](2)
	if err := c.TrySend(1); err != nil {
		t.Fatal(err)
	}
	if err := c.TrySend(2); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var mu sched.Mutex
	if !mu.TryLock() {
		t.Fatal("TryLock of a new Mutex failed")
	}
	var got []int
	s.Go(func() {
		mu.Unlock()
		for {
			v, err := c.Recv()
			if err != nil {
				break
			}
			got = append(got, v)
		}
	})
	mustRun(t, s)
	if fmt.Sprint(got) != "[1 2]" {
		t.Errorf("received %v, want [1 2]", got)
	}
	// After Run, nothing runs: the setup rule applies again.
	var wg sched.WaitGroup
	s2 := sched.New()
	s2.Go(func() { wg.Add(1); wg.Done() }) // binds wg to s2
	mustRun(t, s2)
	wg.Add(1)
	wg.Done()
}

// While its scheduler runs, a primitive's calls that never wait panic
// from a goroutine of its own, naming the call and the scheduler: only the
// scheduler's thread may touch the primitive then.
func TestNonWaitingCallsWhileRunningPanic(t *testing.T) {
	checkLeaks(t)
	s := sched.New(sched.WithName("busy"))
	var (
		mu   sched.Mutex
		cond = sched.NewCond(&mu)
		wg   sched.WaitGroup
		c    sched.Chan[int]
	)
	in := sched.NewInbox[int](s, 0)
	var tm *sched.Timer
	var tk *sched.Ticker
	bound := make(chan struct{})
	release := make(chan struct{})
	s.Go(func() {
		// Bind each primitive to s, and leave it in a state where the
		// calls below would succeed.
		mu.Lock()
		mu.Unlock()
		cond.Signal()
		wg.Add(1)
		c.TrySend(0)
		in.TryRecv()
		tm = s.NewTimer(time.Hour)
		tk = s.NewTicker(time.Hour)
		close(bound)
		sched.Offload(func() { <-release })
		wg.Done()
	})
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	<-bound
	calls := []struct {
		call string
		fn   func()
	}{
		{"Mutex.TryLock", func() { mu.TryLock() }},
		{"Mutex.Unlock", mu.Unlock},
		{"Cond.Signal", cond.Signal},
		{"Cond.Broadcast", cond.Broadcast},
		{"WaitGroup.Add", func() { wg.Add(1) }},
		{"WaitGroup.Done", wg.Done},
		{"Chan.TrySend", func() { c.TrySend(1) }},
		{"Chan.TryRecv", func() { c.TryRecv() }},
		{"Chan.Close", func() { c.Close() }},
		{"Inbox.TryRecv", func() { in.TryRecv() }},
		{"Timer.Stop", func() { tm.Stop() }},
		{"Timer.Reset", func() { tm.Reset(time.Second) }},
		{"Ticker.Stop", tk.Stop},
		{"Ticker.Reset", func() { tk.Reset(time.Second) }},
		{"Scheduler.NewTimer", func() { s.NewTimer(time.Second) }},
		{"Scheduler.AfterFunc", func() { s.AfterFunc(time.Second, func() {}) }},
		{"Scheduler.NewTicker", func() { s.NewTicker(time.Second) }},
	}
	got := make([]string, len(calls))
	for i, tt := range calls {
		got[i] = panicValue(tt.fn)
	}
	close(release)
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	for i, tt := range calls {
		want := "sched: " + tt.call + " called from outside busy while it runs"
		if !strings.HasPrefix(got[i], want) {
			t.Errorf("panic %q, want %q...", got[i], want)
		}
	}
}

// A ucontext context hosted by a task runs on the scheduler's thread but
// is not a task: the calls that would park a task would block the thread
// (and so every task of the scheduler) instead, so they panic, saying so.
// Before, Sleep and Offload blocked the thread without a word.
func TestWaitingCallsInUcontextOfTaskPanic(t *testing.T) {
	calls := map[string]func(){
		"Sleep":   func() { sched.Sleep(50 * time.Millisecond) },
		"Yield":   func() { sched.Yield() },
		"Offload": func() { sched.Offload(func() { time.Sleep(50 * time.Millisecond) }) },
		"Do":      nil, // filled in with the scheduler below
		"Wait":    nil,
	}
	for name := range calls {
		t.Run(name, func(t *testing.T) {
			checkLeaks(t)
			s := sched.New(sched.WithName("host"))
			other := s.Go(func() { sched.Sleep(time.Hour) })
			fn := calls[name]
			switch name {
			case "Do":
				fn = func() { s.Do(func() {}) }
			case "Wait":
				fn = func() { other.Wait() }
			}
			var msg string
			ticks := 0
			s.Go(func() {
				for range 5 {
					sched.Sleep(time.Millisecond)
					ticks++
				}
			})
			s.Go(func() {
				defer other.Interrupt()
				ucontext.Run(func() { msg = panicValue(fn) })
			})
			done := make(chan error, 1)
			go func() { done <- s.Run() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s in a ucontext context blocked the scheduler's thread", name)
			}
			for _, want := range []string{name, "thread of host", "ucontext context hosted by task"} {
				if !strings.Contains(msg, want) {
					t.Errorf("panic %q does not say %q", msg, want)
				}
			}
			if ticks != 5 {
				t.Errorf("the other task ticked %d times of 5", ticks)
			}
		})
	}
}

// A descriptor hook runs on the scheduler's host loop: waiting there would
// block every task, and Do would wait for a task that cannot run (it hung
// before), so both panic.
func TestWaitingCallsInHookPanic(t *testing.T) {
	for _, name := range []string{"Sleep", "Do"} {
		t.Run(name, func(t *testing.T) {
			checkLeaks(t)
			p := pipe(t)
			defer unix.Close(p[1])
			s := sched.New(sched.WithName("hooked"))
			f, err := s.Register(p[0])
			if err != nil {
				t.Fatal(err)
			}
			var msg string
			s.Go(func() {
				f.SetReadHook(func(error) {
					defer f.Close()
					switch name {
					case "Sleep":
						msg = panicValue(func() { sched.Sleep(time.Millisecond) })
					case "Do":
						msg = panicValue(func() { s.Do(func() {}) })
					}
				})
			})
			unix.Write(p[1], []byte("x"))
			done := make(chan error, 1)
			go func() { done <- s.Run() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s in a hook hung the scheduler", name)
			}
			for _, want := range []string{name, "thread of hooked", "host loop"} {
				if !strings.Contains(msg, want) {
					t.Errorf("panic %q does not say %q", msg, want)
				}
			}
		})
	}
}

// In a goroutine of its own the calls with no scheduler object keep their
// goroutine meaning, as the package documents: Sleep sleeps, Yield is
// runtime.Gosched, Offload calls its function.
func TestWaitingCallsInGoroutine(t *testing.T) {
	start := time.Now()
	if err := sched.Sleep(10 * time.Millisecond); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Errorf("Sleep(10ms) outside a task returned after %v", d)
	}
	sched.Yield()
	called := false
	sched.Offload(func() { called = true })
	if !called {
		t.Error("Offload outside a task did not call its function")
	}
}

// On a scheduler's thread outside a task, Now is the scheduler's clock,
// virtual or not, as it is in the task.
func TestNowInUcontextOfTask(t *testing.T) {
	var inTask, inContext time.Time
	runTasks(t, func(s *sched.Scheduler) {
		sched.Sleep(time.Hour)
		inTask = sched.Now()
		ucontext.Run(func() { inContext = sched.Now() })
	}, virtual())
	if want := epoch.Add(time.Hour); !inTask.Equal(want) || !inContext.Equal(want) {
		t.Errorf("Now in the task %v, in its ucontext %v; want %v", inTask, inContext, want)
	}
}
