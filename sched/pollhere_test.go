package sched_test

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/sched"
)

// pingPong runs two tasks that hand a byte back and forth over two pipes
// until stop returns true: each parks in WaitRead with nothing else
// runnable, so the poll that finds the other's byte is made by the
// parking task and the switch goes straight to the other (pollHere). It
// returns the rounds played.
func pingPong(t *testing.T, s *sched.Scheduler, stop func() bool) *int {
	t.Helper()
	a, b := pipe(t), pipe(t)
	rounds := new(int)
	player := func(in, out int, serve bool) {
		f, err := s.Register(in)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		defer unix.Close(out)
		var buf [1]byte
		if serve {
			unix.Write(out, buf[:])
		}
		for {
			if err := f.WaitRead(); err != nil {
				t.Error(err)
				return
			}
			if n, _ := unix.Read(in, buf[:]); n == 0 {
				return // the other player is done
			}
			// The pipe is drained: the other's next byte, written
			// after ours, raises a new edge.
			f.ClearReadable()
			if serve {
				*rounds++
				if stop() {
					return
				}
			}
			unix.Write(out, buf[:])
		}
	}
	s.Go(func() { player(a[0], b[1], true) })
	s.Go(func() { player(b[0], a[1], false) })
	return rounds
}

// While tasks hand off to each other directly, polling themselves, the
// host loop's work still gets done: timers fire, work posted from other
// goroutines runs, and the hand-offs go on (they do not nest: thousands
// of them would otherwise overflow a stack).
func TestDirectHandOffKeepsHostWork(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	slept, posted := 0, false
	rounds := pingPong(t, s, func() bool { return slept == 5 && posted })
	s.Go(func() {
		for range 5 {
			if err := sched.Sleep(time.Millisecond); err != nil {
				t.Error(err)
			}
			slept++
		}
	})
	go func() {
		time.Sleep(2 * time.Millisecond)
		s.Go(func() { posted = true })
	}()
	// Run does not return if the timers or the posted task starve
	// while the two tasks hand off directly.
	runWithin(t, s, 20*time.Second)
	if *rounds < 10 {
		t.Errorf("%d rounds of ping-pong, want many during 5 sleeps of 1ms", *rounds)
	}
}

// Tasks woken by one poll run in the order of its events, and a task
// that yields runs among them: the direct hand-offs take the run queue
// as the host loop does.
func TestDirectHandOffFIFO(t *testing.T) {
	checkLeaks(t)
	const n = 4
	var pipes [n][2]int
	for i := range pipes {
		pipes[i] = pipe(t)
	}
	var got []string
	runTasks(t, func(s *sched.Scheduler) {
		var fds [n]*sched.FD
		for i := range pipes {
			f, err := s.Register(pipes[i][0])
			if err != nil {
				t.Error(err)
				return
			}
			fds[i] = f
		}
		for i := range n {
			s.Go(func() {
				defer fds[i].Close()
				defer unix.Close(pipes[i][1])
				if err := fds[i].WaitRead(); err != nil {
					t.Error(err)
				}
				got = append(got, fmt.Sprint("reader ", i))
			})
		}
		sched.Yield() // every reader parks
		for i := range n {
			unix.Write(pipes[i][1], []byte{1})
		}
		s.Go(func() { got = append(got, "spawned") })
		// This task parks with the spawned task runnable: it runs
		// first, then the readers, woken by one poll in the order
		// their writes came.
		sched.Sleep(time.Millisecond)
		got = append(got, "sleeper")
	})
	want := []string{"spawned", "reader 0", "reader 1", "reader 2", "reader 3", "sleeper"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

// A task whose own descriptor became ready before it parked finds its
// wake-up in the poll it makes while parking, and runs on without a
// switch.
//
// pollHere polls only within goschedEvery (2 ms) of the scheduler's last
// Gosched; past that the wait goes through the host loop, as it should. A
// loaded machine can take longer than that between two steps of the task
// (under -race beside the other packages, and in 122 of 2000 runs beside
// 8 CPU spinners: 1 switch and 2 polls), so the test tries up to ten times
// and fails if no try ran on without a switch.
func TestBlockWokenByOwnPoll(t *testing.T) {
	checkLeaks(t)
	p := pipe(t)
	defer unix.Close(p[1])
	const tries = 10
	var seen []string
	ranOn := false
	runTasks(t, func(s *sched.Scheduler) {
		f, err := s.Register(p[0])
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for range tries {
			unix.Write(p[1], []byte("x"))
			before := s.Stats()
			if err := f.WaitRead(); err != nil {
				t.Error(err)
				return
			}
			after := s.Stats()
			if after.Switches == before.Switches && after.Polls == before.Polls+1 {
				ranOn = true
				return
			}
			seen = append(seen, fmt.Sprintf("%d switches and %d polls", after.Switches-before.Switches, after.Polls-before.Polls))
			// Drained: the next write makes a new edge.
			if n, err := unix.Read(p[0], make([]byte, 1)); n != 1 || err != nil {
				t.Errorf("read back: %d, %v", n, err)
				return
			}
			f.ClearReadable()
		}
	})
	if !ranOn && !t.Failed() {
		t.Errorf("WaitRead on input that was there, %d tries: %q; want 0 switches and 1 poll at least once", tries, seen)
	}
}

// A descriptor hook run by the poll of a worker whose task has ended
// panics out of Run with its own value, as one run by the host loop.
func TestHookPanicInWorkerPoll(t *testing.T) {
	checkLeaks(t)
	p := pipe(t)
	defer unix.Close(p[1])
	s := sched.New()
	var polls uint64
	s.Go(func() {
		f, err := s.Register(p[0])
		if err != nil {
			t.Error(err)
			return
		}
		f.SetReadHook(func(error) {
			f.Close()
			polls = s.Stats().Polls
			panic("hook's own panic")
		})
		unix.Write(p[1], []byte("x"))
		// The task ends here: its worker polls and runs the hook.
	})
	var got any
	func() {
		defer func() { got = recover() }()
		s.Run()
	}()
	if got != "hook's own panic" {
		t.Errorf("Run panicked with %v, want the hook's panic", got)
	}
	if polls != 1 {
		t.Errorf("the hook ran after %d polls, want 1: the worker's, before any of the host loop's", polls)
	}
}

// Task numbers stay unique when tasks started on the scheduler thread
// (numbered from blocks the thread takes) and tasks posted by other
// goroutines (numbered one at a time) mix.
func TestTaskNumbersUnique(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	seen := map[string]bool{}
	dup := ""
	record := func() {
		name := sched.Current().String()
		if seen[name] {
			dup = name
		}
		seen[name] = true
	}
	go func() {
		for range 300 {
			s.Go(record)
		}
	}()
	s.Go(func() {
		for range 300 {
			s.Spawn(record)
			if len(seen)%7 == 0 {
				sched.Yield()
			}
		}
		// Wait for the posted tasks, which keep coming from the
		// goroutine while the thread numbers its own.
		for i := 0; len(seen) < 600 && i < 5000; i++ {
			sched.Sleep(time.Millisecond)
		}
	})
	mustRun(t, s)
	if dup != "" || len(seen) != 600 {
		t.Errorf("%d distinct task numbers of 600 tasks (a duplicate: %q)", len(seen), dup)
	}
}
