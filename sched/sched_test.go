//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package sched_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

func TestOrdering(t *testing.T) {
	tests := []struct {
		name string
		run  func(s *sched.Scheduler, log func(string))
		want []string
	}{
		{
			name: "spawned tasks run in order after the spawner blocks",
			run: func(s *sched.Scheduler, log func(string)) {
				s.Go(func() { log("a") })
				s.Go(func() { log("b") })
				log("main")
				sched.Yield()
				log("main again")
			},
			want: []string{"main", "a", "b", "main again"},
		},
		{
			name: "yield round robin",
			run: func(s *sched.Scheduler, log func(string)) {
				for _, name := range []string{"x", "y"} {
					s.Go(func() {
						for i := range 3 {
							log(fmt.Sprint(name, i))
							sched.Yield()
						}
					})
				}
			},
			want: []string{"x0", "y0", "x1", "y1", "x2", "y2"},
		},
		{
			name: "sleep wakes in deadline order",
			run: func(s *sched.Scheduler, log func(string)) {
				for _, d := range []int{30, 10, 20} {
					s.Go(func() {
						sched.Sleep(time.Duration(d) * time.Millisecond)
						log(fmt.Sprint(d))
					})
				}
			},
			want: []string{"10", "20", "30"},
		},
		{
			name: "wait joins",
			run: func(s *sched.Scheduler, log func(string)) {
				child := s.Go(func() {
					sched.Sleep(time.Millisecond)
					log("child")
				})
				if err := child.Wait(); err != nil {
					log("wait: " + err.Error())
				}
				log("parent")
				if err := child.Wait(); err != nil {
					log("second wait: " + err.Error())
				}
			},
			want: []string{"child", "parent"},
		},
		{
			name: "sleep zero yields",
			run: func(s *sched.Scheduler, log func(string)) {
				s.Go(func() { log("other") })
				sched.Sleep(0)
				log("main")
			},
			want: []string{"other", "main"},
		},
	}
	for _, tt := range tests {
		for _, mode := range []string{"real", "virtual"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				checkLeaks(t)
				var opts []sched.Option
				if mode == "virtual" {
					opts = append(opts, virtual())
				}
				var got []string
				runTasks(t, func(s *sched.Scheduler) {
					tt.run(s, func(e string) { got = append(got, e) })
				}, opts...)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("trace (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestCurrentAndNow(t *testing.T) {
	checkLeaks(t)
	if sched.Current() != nil {
		t.Fatal("Current outside a task is not nil")
	}
	var inTask, inChild *sched.Task
	var start, later time.Time
	s := sched.New(virtual())
	task := s.Go(func() {
		inTask = sched.Current()
		start = sched.Now()
		child := s.Go(func() { inChild = sched.Current() })
		child.Wait()
		if child == inTask {
			t.Error("child is the parent")
		}
		sched.Sleep(90 * time.Minute)
		later = sched.Now()
	})
	mustRun(t, s)
	if inTask != task || inChild == nil || inChild == task {
		t.Errorf("Current: in task %v (want %v), in child %v", inTask, task, inChild)
	}
	if !start.Equal(epoch) || later.Sub(start) != 90*time.Minute {
		t.Errorf("virtual clock: start %v, after sleep %v (want %v and +90m)", start, later, epoch)
	}
}

func TestManySleepersWakeInTimerOrder(t *testing.T) {
	checkLeaks(t)
	n := 100_000
	if raceEnabled || testing.Short() {
		n = 10_000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var order []time.Time // each task's deadline, in the order they woke
	// Virtual time makes the deadlines exact: on the wall clock a GC pause
	// between reading the clock and Sleep reading it again would blur them.
	s := sched.New(virtual())
	for range n {
		d := time.Duration(rng.IntN(50_000)) * time.Microsecond
		s.Go(func() {
			deadline := sched.Now().Add(d)
			if err := sched.Sleep(d); err != nil {
				t.Error(err)
			}
			order = append(order, deadline)
		})
	}
	mustRun(t, s)
	if len(order) != n {
		t.Fatalf("%d tasks woke, want %d", len(order), n)
	}
	for i := 1; i < len(order); i++ {
		if order[i].Before(order[i-1]) {
			t.Fatalf("wake %d had deadline %v before wake %d's", i, order[i-1].Sub(order[i]), i-1)
		}
	}
}

func TestGoFromManyGoroutines(t *testing.T) {
	checkLeaks(t)
	const goroutines, each = 8, 10_000
	s := sched.New(sched.WithKeepAlive())
	count := 0 // touched only by tasks of s: no lock
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				s.Go(func() { count++ })
			}
		})
	}
	go func() {
		wg.Wait()
		// Everything queued before this task is started before it runs.
		s.Go(func() { s.Stop() })
	}()
	mustRun(t, s)
	if count != goroutines*each {
		t.Errorf("%d tasks ran, want %d", count, goroutines*each)
	}
}

func TestGoBeforeAndAfterRun(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	ran := false
	early := s.Go(func() { ran = true })
	mustRun(t, s)
	if !ran {
		t.Error("task queued before Run did not run")
	}
	if err := early.Wait(); err != nil {
		t.Errorf("Wait after Run: %v", err)
	}
	late := s.Go(func() { t.Error("task queued after Run ran") })
	if err := late.Wait(); !errors.Is(err, sched.ErrStopped) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Wait on a task of a finished scheduler: %v, want ErrStopped", err)
	}
	if err := s.Run(); err == nil {
		t.Error("second Run returned nil")
	}
}

func TestWaitFromGoroutine(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	task := s.Go(func() { sched.Sleep(20 * time.Millisecond) })
	errc := make(chan error, 1)
	go func() { errc <- task.Wait() }()
	mustRun(t, s)
	if err := <-errc; err != nil {
		t.Errorf("Wait: %v", err)
	}
}

func TestInterrupt(t *testing.T) {
	tests := []struct {
		name  string
		block func(t *testing.T, s *sched.Scheduler) error
	}{
		{"sleep", func(t *testing.T, s *sched.Scheduler) error { return sched.Sleep(time.Hour) }},
		{"join", func(t *testing.T, s *sched.Scheduler) error {
			other := s.Go(func() { sched.Sleep(time.Hour) })
			defer other.Interrupt()
			return other.Wait()
		}},
		{"fd read", func(t *testing.T, s *sched.Scheduler) error {
			p := pipe(t)
			r, w := p[0], p[1]
			defer unix.Close(w)
			f, err := s.Register(r)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Read(make([]byte, 1))
			return err
		}},
		{"fd write", func(t *testing.T, s *sched.Scheduler) error {
			p := pipe(t)
			r, w := p[0], p[1]
			defer unix.Close(r)
			f, err := s.Register(w)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write(make([]byte, 4<<20)) // more than a pipe holds
			return err
		}},
	}
	for _, tt := range tests {
		for _, from := range []string{"task", "goroutine", "pending"} {
			t.Run(tt.name+"/from "+from, func(t *testing.T) {
				checkLeaks(t)
				var err error
				s := sched.New()
				victim := s.Go(func() {
					if from == "pending" {
						sched.Current().Interrupt() // before the call
					}
					err = tt.block(t, s)
				})
				switch from {
				case "task":
					s.Go(func() {
						sched.Sleep(5 * time.Millisecond)
						victim.Interrupt()
					})
				case "goroutine":
					go func() {
						time.Sleep(5 * time.Millisecond)
						victim.Interrupt()
					}()
				}
				mustRun(t, s)
				if !errors.Is(err, sched.ErrInterrupted) {
					t.Errorf("blocking call returned %v, want ErrInterrupted", err)
				}
			})
		}
	}
}

func TestInterruptIsReportedOnce(t *testing.T) {
	checkLeaks(t)
	var errs []error
	runTasks(t, func(s *sched.Scheduler) {
		sched.Current().Interrupt()
		errs = append(errs, sched.Sleep(time.Millisecond), sched.Sleep(time.Millisecond))
	})
	want := []error{sched.ErrInterrupted, nil}
	if diff := cmp.Diff(want, errs, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStop(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	var mu sync.Mutex
	var errs []error
	for range 10 {
		s.Go(func() {
			err := sched.Sleep(time.Hour)
			err2 := sched.Sleep(time.Hour) // after Stop, every blocking call fails
			mu.Lock()
			errs = append(errs, err, err2)
			mu.Unlock()
		})
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.Stop()
		s.Stop()
	}()
	start := time.Now()
	mustRun(t, s)
	if time.Since(start) > 10*time.Second {
		t.Error("Run did not return promptly after Stop")
	}
	if len(errs) != 20 {
		t.Fatalf("%d results, want 20", len(errs))
	}
	for _, err := range errs {
		if !errors.Is(err, sched.ErrInterrupted) {
			t.Fatalf("sleep after Stop returned %v", err)
		}
	}
}

func TestStopWithKeepAlive(t *testing.T) {
	checkLeaks(t)
	s := sched.New(sched.WithKeepAlive())
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.Stop()
	}()
	mustRun(t, s)
}

func TestPanicEndsRun(t *testing.T) {
	checkLeaks(t)
	var unwound atomic.Int32
	s := sched.New()
	for range 3 {
		s.Go(func() {
			defer unwound.Add(1)
			sched.Sleep(time.Hour)
		})
	}
	s.Go(func() {
		sched.Sleep(time.Millisecond)
		panicHere()
	})
	p := func() (p any) {
		defer func() { p = recover() }()
		s.Run()
		return nil
	}()
	pe, ok := p.(*sched.PanicError)
	if !ok {
		t.Fatalf("Run panicked with %T %v, want *sched.PanicError", p, p)
	}
	if pe.Value != "boom" || !strings.Contains(string(pe.Stack), "panicHere") {
		t.Errorf("PanicError value %v, stack:\n%s", pe.Value, pe.Stack)
	}
	if unwound.Load() != 3 {
		t.Errorf("%d sleeping tasks unwound, want 3", unwound.Load())
	}
}

//go:noinline
func panicHere() { panic("boom") }

func TestPanicHandler(t *testing.T) {
	checkLeaks(t)
	var handled []string
	s := sched.New(sched.WithPanicHandler(func(task *sched.Task, p *sched.PanicError) {
		handled = append(handled, fmt.Sprint(p.Value))
	}))
	var waitErr error
	s.Go(func() {
		bad := s.Go(func() { panic(errors.New("bad input")) })
		waitErr = bad.Wait()
	})
	mustRun(t, s)
	if diff := cmp.Diff([]string{"bad input"}, handled); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	var pe *sched.PanicError
	if !errors.As(waitErr, &pe) || pe.Unwrap() == nil || pe.Unwrap().Error() != "bad input" {
		t.Errorf("Wait returned %v, want the *PanicError", waitErr)
	}
}

// TestPanicHandlerWorkerGoesOn checks that, with a panic handler, the
// worker goroutine of a task that panicked ends that task and goes on to
// run the next ones: each task's panic is its own, reported once, and the
// tasks after it run and are joined.
func TestPanicHandlerWorkerGoesOn(t *testing.T) {
	checkLeaks(t)
	var handled []string
	s := sched.New(sched.WithPanicHandler(func(task *sched.Task, p *sched.PanicError) {
		handled = append(handled, fmt.Sprint(p.Value))
	}))
	var ran []int
	var workers int
	s.Go(func() {
		var wg sched.WaitGroup
		for round := range 3 {
			for i := range 4 {
				wg.Add(1)
				s.Spawn(func() {
					defer wg.Done()
					if i%2 == 0 {
						panic(fmt.Sprint("panic ", round, i))
					}
					ran = append(ran, 10*round+i)
				})
			}
			if err := wg.Wait(); err != nil {
				t.Errorf("Wait: %v", err)
			}
		}
		workers = s.Stats().Workers
	})
	mustRun(t, s)
	want := []string{"panic 0 0", "panic 0 2", "panic 1 0", "panic 1 2", "panic 2 0", "panic 2 2"}
	if diff := cmp.Diff(want, handled); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 3, 11, 13, 21, 23}, ran); diff != "" {
		t.Errorf("tasks that ran to their end (-want +got):\n%s", diff)
	}
	// The waiting task's worker and one that runs the four tasks of each
	// round in turn, panics or not.
	if workers != 2 {
		t.Errorf("%d worker goroutines, want 2: a worker whose task panicked was not reused", workers)
	}
}

func TestGoexitInTask(t *testing.T) {
	checkLeaks(t)
	var unwound atomic.Int32
	done := make(chan bool)
	go func() {
		returned := false
		defer func() { done <- returned }()
		s := sched.New()
		s.Go(func() {
			defer unwound.Add(1)
			sched.Sleep(time.Hour)
		})
		s.Go(func() {
			defer unwound.Add(1)
			runtime.Goexit()
		})
		s.Run()
		returned = true
	}()
	if <-done {
		t.Error("Run returned after a task called Goexit")
	}
	if unwound.Load() != 2 {
		t.Errorf("%d tasks unwound, want 2", unwound.Load())
	}
}

func TestDeadlock(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	var a, b *sched.Task
	a = s.Go(func() { sched.Yield(); b.Wait() })
	b = s.Go(func() { a.Wait() })
	err := s.Run()
	if !errors.Is(err, sched.ErrDeadlock) {
		t.Fatalf("Run returned %v, want ErrDeadlock", err)
	}
	var de *sched.DeadlockError
	if !errors.As(err, &de) || len(de.Tasks) != 2 {
		t.Fatalf("error %v does not list two tasks", err)
	}
	for _, line := range de.Tasks {
		if !strings.Contains(line, "join") {
			t.Errorf("task line %q does not say it waits on a join", line)
		}
	}
}

func TestNoDeadlockWhileWaitingForOutside(t *testing.T) {
	checkLeaks(t)
	// A task waiting for a descriptor is waiting for the outside world.
	p := pipe(t)
	defer unix.Close(p[1])
	s := sched.New()
	f, err := s.Register(p[0])
	if err != nil {
		t.Fatal(err)
	}
	var got string
	s.Go(func() {
		defer f.Close()
		buf := make([]byte, 8)
		n, err := f.Read(buf)
		if err != nil {
			t.Error(err)
		}
		got = string(buf[:n])
	})
	go func() {
		time.Sleep(20 * time.Millisecond)
		unix.Write(p[1], []byte("late"))
	}()
	mustRun(t, s)
	if got != "late" {
		t.Errorf("read %q", got)
	}
}

func TestOffload(t *testing.T) {
	checkLeaks(t)
	var ticks int
	var offloaded bool
	runTasks(t, func(s *sched.Scheduler) {
		ticker := s.Go(func() {
			for range 5 {
				sched.Sleep(5 * time.Millisecond)
				ticks++
			}
		})
		sched.Offload(func() {
			time.Sleep(100 * time.Millisecond) // blocks this goroutine, not the scheduler
			offloaded = true
		})
		ticker.Wait()
	})
	if !offloaded || ticks != 5 {
		t.Errorf("offloaded %v, ticks %d: other tasks must run during an offload", offloaded, ticks)
	}
}

func TestOffloadPanicPropagates(t *testing.T) {
	checkLeaks(t)
	var got any
	runTasks(t, func(s *sched.Scheduler) {
		defer func() { got = recover() }()
		sched.Offload(func() { panic("from offload") })
	})
	if got != "from offload" {
		t.Errorf("recovered %v, want the offloaded panic", got)
	}
}

func TestOffloadLimit(t *testing.T) {
	checkLeaks(t)
	var cur, peak atomic.Int32
	runTasks(t, func(s *sched.Scheduler) {
		var tasks []*sched.Task
		for range 20 {
			tasks = append(tasks, s.Go(func() {
				sched.Offload(func() {
					n := cur.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(5 * time.Millisecond)
					cur.Add(-1)
				})
			}))
		}
		for _, task := range tasks {
			task.Wait()
		}
	}, sched.WithOffloadLimit(3))
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrent offloads %d, want ≤ 3 (and some parallelism)", p)
	}
}

func TestVirtualDay(t *testing.T) {
	// A day of periodic jobs, simulated: instant and repeatable.
	simulate := func() []string {
		var trace []string
		s := sched.New(virtual())
		for i, every := range []time.Duration{7 * time.Minute, 13 * time.Minute, time.Hour, 5 * time.Second} {
			s.Go(func() {
				for sched.Now().Sub(epoch) < 24*time.Hour {
					sched.Sleep(every)
					trace = append(trace, fmt.Sprintf("%d@%v", i, sched.Now().Sub(epoch)))
				}
			})
		}
		mustRun(t, s)
		return trace
	}
	start := time.Now()
	a := simulate()
	elapsed := time.Since(start)
	b := simulate()
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("two runs differ (-first +second):\n%s", diff)
	}
	if want := 24*60/7 + 1 + 24*60/13 + 1 + 24 + 24*3600/5; len(a) < want-4 {
		t.Errorf("%d events, want about %d", len(a), want)
	}
	t.Logf("simulated 24h, %d events, in %v", len(a), elapsed)
}

func TestFDDeadlinesAndClose(t *testing.T) {
	checkLeaks(t)
	p := pipe(t)
	s := sched.New(virtual())
	r, err := s.Register(p[0])
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Register(p[1])
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	note := func(what string, err error) {
		switch {
		case err == nil:
			results = append(results, what+": ok")
		case errors.Is(err, os.ErrDeadlineExceeded):
			results = append(results, what+": deadline")
		case errors.Is(err, net.ErrClosed):
			results = append(results, what+": closed")
		default:
			results = append(results, what+": "+err.Error())
		}
	}
	s.Go(func() {
		buf := make([]byte, 16)
		r.SetReadDeadline(sched.Now().Add(time.Second))
		_, err := r.Read(buf)
		note("read with deadline", err)

		w.Write([]byte("x"))
		r.SetReadDeadline(sched.Now().Add(-time.Second)) // past: fails at once, data stays
		_, err = r.Read(buf)
		note("read past deadline", err)

		r.SetReadDeadline(time.Time{})
		n, err := r.Read(buf)
		note(fmt.Sprintf("read %q after clearing", buf[:n]), err)

		// A deadline extended while blocked holds.
		s.Go(func() {
			sched.Sleep(500 * time.Millisecond)
			r.SetReadDeadline(sched.Now().Add(time.Hour))
			sched.Sleep(time.Minute)
			w.Write([]byte("y"))
		})
		r.SetReadDeadline(sched.Now().Add(time.Second))
		n, err = r.Read(buf)
		note(fmt.Sprintf("read %q after extension", buf[:n]), err)

		// Close wakes a blocked reader.
		s.Go(func() {
			sched.Sleep(time.Second)
			r.Close()
		})
		_, err = r.Read(buf)
		note("read during close", err)
		note("second close", r.Close())
		note("close writer", w.Close())
	})
	mustRun(t, s)
	want := []string{
		"read with deadline: deadline",
		"read past deadline: deadline",
		`read "x" after clearing: ok`,
		`read "y" after extension: ok`,
		"read during close: closed",
		"second close: closed",
		"close writer: ok",
	}
	if diff := cmp.Diff(want, results); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFDFromGoroutine(t *testing.T) {
	checkLeaks(t)
	p := pipe(t)
	s := sched.New(sched.WithKeepAlive())
	r, err := s.Register(p[0])
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Register(p[1])
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer s.Stop()
		// Plain goroutines use the FD; the scheduler does the waiting.
		go func() {
			time.Sleep(10 * time.Millisecond)
			w.Write([]byte("from a goroutine"))
		}()
		buf := make([]byte, 64)
		n, err := r.Read(buf)
		if err != nil || string(buf[:n]) != "from a goroutine" {
			t.Errorf("Read: %q, %v", buf[:n], err)
		}
		// Close from a goroutine wakes a reader blocked in another.
		errc := make(chan error)
		go func() {
			_, err := r.Read(buf)
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond)
		r.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read during Close: %v, want net.ErrClosed", err)
		}
		w.Close()
	}()
	mustRun(t, s)
	// After Run, Read fails and Close still releases descriptors.
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Run: %v", err)
	}
}

func TestFDCloseAfterRun(t *testing.T) {
	checkLeaks(t)
	p := pipe(t)
	s := sched.New()
	r, _ := s.Register(p[0])
	w, _ := s.Register(p[1])
	mustRun(t, s)
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	if err := w.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

func TestIdleUsesNoCPU(t *testing.T) {
	checkLeaks(t)
	s := sched.New(sched.WithKeepAlive())
	s.Go(func() { sched.Sleep(time.Second) }) // a task waiting, and then none
	errc := make(chan error)
	go func() { errc <- s.Run() }()
	time.Sleep(50 * time.Millisecond) // let it settle
	before := cpuTime(t)
	time.Sleep(time.Second)
	used := cpuTime(t) - before
	s.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// A spinning scheduler would use the whole second.
	if used > 100*time.Millisecond {
		t.Errorf("an idle scheduler used %v of CPU in one second", used)
	}
	t.Logf("process CPU over an idle second: %v", used)
}

func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestStatsAndDump(t *testing.T) {
	checkLeaks(t)
	s := sched.New(sched.WithName("introspect"), sched.WithKeepAlive())
	s.Go(func() { sched.Sleep(time.Hour) })
	s.Go(func() { sched.Yield(); sched.Sleep(time.Hour) })
	errc := make(chan error)
	go func() { errc <- s.Run() }()
	// Both tasks have run up to their Sleep once Stats (from a plain
	// goroutine: handed to the thread) counts two blocked tasks and their
	// two timers: a fixed 20 ms wait for that is too short on a loaded
	// machine or under qemu.
	var st sched.Stats
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if st = s.Stats(); st.Blocked == 2 && st.Timers == 2 || time.Now().After(deadline) {
			break
		}
	}
	var dump bytes.Buffer
	s.Dump(&dump)
	s.Stop()
	<-errc
	if st.Tasks != 2 || st.Blocked != 2 || st.Timers != 2 || st.Switches < 2 || st.Workers != 2 {
		t.Errorf("Stats = %+v", st)
	}
	for _, want := range []string{"introspect: 2 tasks", "task 1: blocked on sleep", "task 2: blocked on sleep", "TestStatsAndDump"} {
		if !strings.Contains(dump.String(), want) {
			t.Errorf("Dump lacks %q:\n%s", want, dump.String())
		}
	}
}

func TestProfileLabels(t *testing.T) {
	checkLeaks(t)
	var prof bytes.Buffer
	runTasks(t, func(s *sched.Scheduler) {
		pprof.Lookup("goroutine").WriteTo(&prof, 1)
	}, sched.WithName("labelled"))
	if !strings.Contains(prof.String(), `"coop.sched":"labelled"`) {
		t.Errorf("goroutine profile has no coop.sched label:\n%.2000s", prof.String())
	}
}

// TestGroupSchedulers: Schedulers lists Scheduler(0..Len-1) in order, in
// a slice of the caller's own.
func TestGroupSchedulers(t *testing.T) {
	g := sched.NewGroup(3)
	got := g.Schedulers()
	if len(got) != g.Len() {
		t.Fatalf("Schedulers() has %d, want Len() = %d", len(got), g.Len())
	}
	for i, s := range got {
		if s != g.Scheduler(i) {
			t.Errorf("Schedulers()[%d] is not Scheduler(%d)", i, i)
		}
	}
	got[0] = nil
	if g.Schedulers()[0] != g.Scheduler(0) || g.Scheduler(0) == nil {
		t.Error("writing the returned slice changed the group")
	}
}

func TestGroupCrossGo(t *testing.T) {
	checkLeaks(t)
	g := sched.NewGroup(2)
	var onSecond atomic.Int32
	g.Scheduler(0).Go(func() {
		var tasks []*sched.Task
		for range 100 {
			tasks = append(tasks, g.Scheduler(1).Go(func() {
				if sched.Current().Scheduler() == g.Scheduler(1) {
					onSecond.Add(1)
				}
				sched.Sleep(time.Millisecond)
			}))
		}
		for _, task := range tasks {
			if err := task.Wait(); err != nil { // joins across schedulers
				t.Error(err)
			}
		}
	})
	if err := g.Run(); err != nil {
		t.Fatal(err)
	}
	if onSecond.Load() != 100 {
		t.Errorf("%d tasks ran on the second scheduler, want 100", onSecond.Load())
	}
}

func TestGroupPanic(t *testing.T) {
	checkLeaks(t)
	g := sched.NewGroup(2)
	g.Scheduler(0).Go(func() { sched.Sleep(time.Hour) })
	g.Scheduler(1).Go(func() { panic("in group") })
	p := func() (p any) {
		defer func() { p = recover() }()
		g.Run()
		return nil
	}()
	if pe, ok := p.(*sched.PanicError); !ok || pe.Value != "in group" {
		t.Errorf("Group.Run panicked with %v", p)
	}
}

// pipe returns a non-blocking pipe, read end first.
func pipe(t *testing.T) [2]int {
	t.Helper()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestGroupExchangesAMillionMessages(t *testing.T) {
	checkLeaks(t)
	n := 1_000_000
	if raceEnabled || testing.Short() {
		n = 100_000
	}
	const window = 1024 // messages in flight, so neither queue grows without bound
	g := sched.NewGroup(2)
	s0, s1 := g.Scheduler(0), g.Scheduler(1)
	to1 := sched.NewInbox[int](s1, 0)
	to0 := sched.NewInbox[int](s0, 0)
	var sum, got int
	s1.Go(func() { // echoes every message back, doubled
		for {
			v, err := to1.Recv()
			if err != nil {
				return // closed: done
			}
			if err := to0.Send(2 * v); err != nil {
				t.Error(err)
				return
			}
		}
	})
	s0.Go(func() {
		defer to1.Close()
		sent := 0
		for ; sent < window && sent < n; sent++ {
			to1.Send(sent)
		}
		for got < n {
			v, err := to0.Recv()
			if err != nil {
				t.Error(err)
				return
			}
			sum += v
			got++
			if sent < n {
				to1.Send(sent)
				sent++
			}
		}
	})
	start := time.Now()
	if err := g.Run(); err != nil {
		t.Fatal(err)
	}
	if want := n * (n - 1); got != n || sum != want {
		t.Errorf("received %d messages summing to %d, want %d summing to %d", got, sum, n, want)
	}
	t.Logf("%d round trips between two schedulers in %v", n, time.Since(start))
}

func TestSpawn(t *testing.T) {
	checkLeaks(t)
	var ran, fromOutside atomic.Int32
	s := sched.New()
	var wg sched.WaitGroup
	s.Go(func() {
		body := func() {
			ran.Add(1)
			sched.Yield()
			wg.Done()
		}
		for range 1000 {
			wg.Add(1)
			s.Spawn(body)
		}
		wg.Wait()
		// Ended Spawn tasks are reused: a steady stream allocates nothing.
		allocs := testing.AllocsPerRun(100, func() {
			wg.Add(1)
			s.Spawn(body)
			wg.Wait()
		})
		if allocs != 0 {
			t.Errorf("Spawn+run+exit allocates %v times, want 0", allocs)
		}
	})
	s.Spawn(func() { fromOutside.Add(1) }) // before Run: queued through the inbox
	mustRun(t, s)
	if ran.Load() != 1101 || fromOutside.Load() != 1 {
		t.Errorf("ran %d tasks from a task (want 1101) and %d from a goroutine (want 1)", ran.Load(), fromOutside.Load())
	}
}

func TestFDHooks(t *testing.T) {
	checkLeaks(t)
	p := pipe(t)
	s := sched.New()
	r, err := s.Register(p[0])
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Register(p[1])
	if err != nil {
		t.Fatal(err)
	}
	events := sched.NewChan[string](4)
	var got []string
	s.Go(func() {
		// Hooks run on the host loop; they signal a task through the
		// channel's non-blocking calls.
		w.SetWriteHook(func(err error) { events.TrySend(fmt.Sprint("writable ", err)) })
		r.SetReadHook(func(err error) { events.TrySend(fmt.Sprint("readable ", err)) })
		for range 2 {
			e, _ := events.Recv()
			got = append(got, e)
			switch e {
			case "writable <nil>":
				w.Write([]byte("x"))
			case "readable <nil>":
				r.Read(make([]byte, 8))
				r.ClearReadable() // a short read drained the pipe: the next hook waits
			}
		}
		r.SetReadHook(func(err error) { events.TrySend(fmt.Sprint("read hook ", err)) })
		r.Close() // an armed hook hears of the close
		e, _ := events.Recv()
		got = append(got, e)
		w.Close()
	})
	mustRun(t, s)
	want := []string{"writable <nil>", "readable <nil>", "read hook " + sched.ErrClosed.Error()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
