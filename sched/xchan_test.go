package sched_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/sched"
)

// TestXChanAMillionEachWayBetweenSchedulers has a task of each scheduler
// of a Group send a million messages to the other over buffered XChans,
// both ways at once, and checks that none is lost and each arrives in
// order.
func TestXChanAMillionEachWayBetweenSchedulers(t *testing.T) {
	checkLeaks(t)
	n := million()
	g := sched.NewGroup(2)
	to := [2]*sched.XChan[msg]{sched.NewXChan[msg](64), sched.NewXChan[msg](64)}
	checks := [2]*orderCheck{newOrderCheck(2), newOrderCheck(2)}
	for i := range 2 {
		s := g.Scheduler(i)
		s.Go(func() { // sends to the other
			for k := range n {
				if err := to[1-i].Send(msg{i, k}); err != nil {
					t.Error(err)
					return
				}
			}
			to[1-i].Close()
		})
		s.Go(func() { // receives from the other
			for {
				m, err := to[i].Recv()
				if errors.Is(err, sched.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				checks[i].see(m)
			}
		})
	}
	start := time.Now()
	if err := g.Run(); err != nil {
		t.Fatal(err)
	}
	checks[0].report(t, "scheduler 0", n)
	checks[1].report(t, "scheduler 1", n)
	t.Logf("%d messages each way in %v", n, time.Since(start))
}

// TestXChanAMillionEachWayWithGoroutines does the same between a plain
// goroutine and a task.
func TestXChanAMillionEachWayWithGoroutines(t *testing.T) {
	checkLeaks(t)
	n := million()
	s := sched.New()
	in, out := sched.NewXChan[msg](64), sched.NewXChan[msg](64)
	taskGot, goGot := newOrderCheck(1), newOrderCheck(1)
	s.Go(func() {
		for k := range n {
			if err := out.Send(msg{0, k}); err != nil {
				t.Error(err)
				return
			}
		}
		out.Close()
	})
	s.Go(func() {
		for {
			m, err := in.Recv()
			if err != nil {
				if !errors.Is(err, sched.ErrClosed) {
					t.Error(err)
				}
				return
			}
			taskGot.see(m)
		}
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		for k := range n {
			if err := in.Send(msg{0, k}); err != nil {
				t.Error(err)
				return
			}
		}
		in.Close()
	})
	wg.Go(func() {
		for {
			m, err := out.Recv()
			if err != nil {
				if !errors.Is(err, sched.ErrClosed) {
					t.Error(err)
				}
				return
			}
			goGot.see(m)
		}
	})
	mustRun(t, s)
	wg.Wait()
	taskGot.report(t, "the task", n)
	goGot.report(t, "the goroutine", n)
}

// TestXChanManySendersAndReceivers mixes tasks of two schedulers and
// goroutines on both sides of one XChan, for each kind of XChan, and
// checks that every message arrives once and each receiver sees each
// sender's messages in order.
func TestXChanManySendersAndReceivers(t *testing.T) {
	for _, capacity := range []int{0, 1, 7, 64} {
		t.Run(fmt.Sprint("capacity ", capacity), func(t *testing.T) {
			checkLeaks(t)
			const senders, each = 6, 5000
			g := sched.NewGroup(2)
			c := sched.NewXChan[msg](capacity)
			var sent sync.WaitGroup
			send := func(from int) {
				defer sent.Done()
				for k := range each {
					if err := c.Send(msg{from, k}); err != nil {
						t.Error(err)
						return
					}
				}
			}
			sent.Add(senders)
			g.Scheduler(0).Go(func() { send(0) })
			g.Scheduler(0).Go(func() { send(1) })
			g.Scheduler(1).Go(func() { send(2) })
			g.Scheduler(1).Go(func() { send(3) })
			go send(4)
			go send(5)
			var mu sync.Mutex
			total := 0
			var bad []string
			receive := func() {
				o := newOrderCheck(senders)
				for {
					m, err := c.Recv()
					if err != nil {
						if !errors.Is(err, sched.ErrClosed) {
							t.Error(err)
						}
						break
					}
					o.see(m)
				}
				mu.Lock()
				total += o.n
				bad = append(bad, o.bad...)
				mu.Unlock()
			}
			var recvd sync.WaitGroup
			recvd.Add(2)
			go func() { defer recvd.Done(); receive() }()
			go func() { defer recvd.Done(); receive() }()
			g.Scheduler(0).Go(receive)
			g.Scheduler(1).Go(receive)
			go func() {
				sent.Wait()
				c.Close()
			}()
			if err := g.Run(); err != nil {
				t.Fatal(err)
			}
			recvd.Wait()
			if total != senders*each {
				t.Errorf("received %d messages, want %d", total, senders*each)
			}
			for _, b := range bad {
				t.Errorf("out of order: %s", b)
			}
		})
	}
}

// TestXChanClose checks Close's contract: waiting receivers and senders
// (tasks and goroutines) wake with ErrClosed, buffered values are still
// received, and sends after the close fail.
func TestXChanClose(t *testing.T) {
	for _, capacity := range []int{0, 4} {
		t.Run(fmt.Sprint("capacity ", capacity), func(t *testing.T) {
			checkLeaks(t)
			s := sched.New()
			c := sched.NewXChan[int](capacity)
			var mu sync.Mutex
			var got []string
			note := func(who string, err error) {
				mu.Lock()
				got = append(got, fmt.Sprintf("%s: %v", who, err))
				mu.Unlock()
			}
			var wg sync.WaitGroup
			for range 2 {
				s.Go(func() { _, err := c.Recv(); note("task recv", err) })
				wg.Go(func() { _, err := c.Recv(); note("goroutine recv", err) })
			}
			errc := make(chan error, 1)
			go func() { errc <- s.Run() }()
			// Let all four wait, then close.
			for s.Stats().Blocked < 2 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			want := []string{"goroutine recv: " + sched.ErrClosed.Error(), "goroutine recv: " + sched.ErrClosed.Error(),
				"task recv: " + sched.ErrClosed.Error(), "task recv: " + sched.ErrClosed.Error()}
			if diff := cmp.Diff(want, sorted(got)); diff != "" {
				t.Errorf("waiters after Close (-want +got):\n%s", diff)
			}
			if err := c.Close(); !errors.Is(err, sched.ErrClosed) {
				t.Errorf("second Close: %v, want ErrClosed", err)
			}
			if err := c.Send(1); !errors.Is(err, sched.ErrClosed) {
				t.Errorf("Send after Close: %v, want ErrClosed", err)
			}
			if err := c.TrySend(1); !errors.Is(err, sched.ErrClosed) {
				t.Errorf("TrySend after Close: %v, want ErrClosed", err)
			}
		})
	}
	t.Run("buffered values drain first", func(t *testing.T) {
		c := sched.NewXChan[int](4)
		for i := range 3 {
			if err := c.Send(i); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		var got []int
		for {
			v, err := c.Recv()
			if err != nil {
				if !errors.Is(err, sched.ErrClosed) {
					t.Fatal(err)
				}
				break
			}
			got = append(got, v)
		}
		if diff := cmp.Diff([]int{0, 1, 2}, got); diff != "" {
			t.Errorf("values after Close (-want +got):\n%s", diff)
		}
	})
	t.Run("waiting senders", func(t *testing.T) {
		checkLeaks(t)
		s := sched.New()
		c := sched.NewXChan[int](1)
		c.Send(0) // full
		errs := make(chan error, 2)
		s.Go(func() { errs <- c.Send(1) })
		go func() { errs <- c.Send(2) }()
		time.Sleep(20 * time.Millisecond)
		c.Close()
		mustRun(t, s)
		for range 2 {
			if err := <-errs; !errors.Is(err, sched.ErrClosed) {
				t.Errorf("waiting Send after Close: %v, want ErrClosed", err)
			}
		}
		if v, err := c.Recv(); v != 0 || err != nil {
			t.Errorf("Recv = %d, %v; want the value sent before the close", v, err)
		}
		if _, err := c.Recv(); !errors.Is(err, sched.ErrClosed) {
			t.Errorf("Recv of a closed, drained XChan: %v, want ErrClosed", err)
		}
	})
}

func sorted(ss []string) []string {
	out := append([]string(nil), ss...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestXChanInterrupt interrupts a task that receives from an XChan, over
// and over at random moments, while two goroutines send to it, and checks
// that no value is lost or received twice: an interrupt that races with
// a value's arrival either wins (the wait returns ErrInterrupted and the
// value goes to the next wait) or loses (the wait returns the value and
// the interrupt comes with the next call).
func TestXChanInterrupt(t *testing.T) {
	for _, capacity := range []int{0, 1} {
		t.Run(fmt.Sprint("capacity ", capacity), func(t *testing.T) {
			checkLeaks(t)
			each := 3000
			if raceEnabled {
				each = 1000
			}
			// A round in which no interrupt met a wait (on a loaded
			// machine, under -race, the interrupting goroutine may not
			// run at all while the values go through) exercised nothing:
			// it is run again, five times at most. Every round must
			// deliver every value, once.
			for round := 1; ; round++ {
				interrupted := xchanInterruptRound(t, capacity, each)
				if interrupted > 0 {
					break
				}
				if round == 5 {
					t.Fatalf("no wait was interrupted in %d rounds: the race was not exercised", round)
				}
				t.Logf("round %d: no wait was interrupted; again", round)
			}
		})
	}
}

// xchanInterruptRound runs one round of TestXChanInterrupt: a task
// receives 2*each values from two senders over an XChan of capacity
// while another goroutine interrupts it every 10 to 60 µs; it checks
// that every value arrived once and returns how many waits were
// interrupted.
func xchanInterruptRound(t *testing.T, capacity, each int) (interrupted int) {
	t.Helper()
	s := sched.New()
	c := sched.NewXChan[int](capacity)
	var received int
	var sum int64
	r := s.Go(func() {
		for {
			v, err := c.Recv()
			switch {
			case err == nil:
				received++
				sum += int64(v)
			case errors.Is(err, sched.ErrInterrupted):
				interrupted++
			case errors.Is(err, sched.ErrClosed):
				return
			default:
				t.Error(err)
				return
			}
		}
	})
	var senders sync.WaitGroup
	for range 2 {
		senders.Go(func() {
			for i := 1; i <= each; i++ {
				if err := c.Send(i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() {
		for k := 0; ; k++ {
			select {
			case <-done:
				return
			default:
			}
			r.Interrupt()
			// Wait 10 to 60 µs, leaving the processor to the
			// senders.
			d := time.Duration(10+k%50) * time.Microsecond
			for start := time.Now(); time.Since(start) < d; {
				runtime.Gosched()
			}
		}
	}()
	go func() {
		senders.Wait()
		close(done)
		c.Close()
	}()
	mustRun(t, s)
	if received != 2*each {
		t.Errorf("received %d values, want %d", received, 2*each)
	}
	if want := int64(each * (each + 1)); sum != want {
		t.Errorf("values sum to %d, want %d", sum, want)
	}
	t.Logf("%d waits interrupted, %d values received", interrupted, received)
	return interrupted
}

// TestXChanSelect checks Select with XChan cases: mixed with a Chan in a
// task, alone in a goroutine, with timeouts and closed channels.
func TestXChanSelect(t *testing.T) {
	checkLeaks(t)
	t.Run("task, mixed", func(t *testing.T) {
		s := sched.New()
		local := sched.NewChan[string](0)
		x := sched.NewXChan[string](0)
		var got []string
		s.Go(func() {
			for range 4 {
				var v string
				i, err := sched.Select(local.RecvCase(&v), x.RecvCase(&v))
				got = append(got, fmt.Sprintf("%d%s %v", i, v, err))
			}
			i, err := sched.SelectTimeout(10*time.Millisecond, local.RecvCase(nil), x.RecvCase(nil))
			got = append(got, fmt.Sprintf("%d %v", i, errors.Is(err, os.ErrDeadlineExceeded)))
			x.Close()
			var v string
			i, err = sched.Select(local.RecvCase(&v), x.RecvCase(&v))
			got = append(got, fmt.Sprintf("%d%s %v", i, v, errors.Is(err, sched.ErrClosed)))
		})
		s.Go(func() {
			local.Send("a")
			sched.Sleep(time.Millisecond)
			local.Send("b")
		})
		go func() {
			x.Send("x")
			x.Send("y")
		}()
		mustRun(t, s)
		want := map[string]int{"0a <nil>": 1, "0b <nil>": 1, "1x <nil>": 1, "1y <nil>": 1, "-1 true": 1, "1 true": 1}
		for _, g := range got {
			want[g]--
		}
		for k, n := range want {
			if n != 0 {
				t.Errorf("case %q seen %d times too few: got %q", k, n, got)
			}
		}
	})
	t.Run("goroutine", func(t *testing.T) {
		a, b := sched.NewXChan[int](0), sched.NewXChan[int](3)
		s := sched.New()
		s.Go(func() {
			a.Send(1)
			b.Send(2)
		})
		errc := make(chan error, 1)
		go func() { errc <- s.Run() }()
		var got []int
		for range 2 {
			var v int
			i, err := sched.Select(a.RecvCase(&v), b.RecvCase(&v))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, i*10+v)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int{1, 12}, got); diff != "" {
			t.Errorf("goroutine Select (-want +got):\n%s", diff)
		}
		i, err := sched.SelectTimeout(5*time.Millisecond, a.RecvCase(nil), b.RecvCase(nil))
		if i != -1 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("SelectTimeout with nothing ready = %d, %v", i, err)
		}
		i, err = sched.SelectTimeout(0, a.SendCase(1), b.SendCase(5))
		if i != 1 || err != nil || b.Len() != 1 {
			t.Errorf("polling SelectTimeout = %d, %v (Len %d); want the buffered send", i, err, b.Len())
		}
	})
	t.Run("many selects, one value each", func(t *testing.T) {
		// Selecting tasks on two schedulers and goroutines compete for
		// values on two XChans: each value must be taken once.
		const n = 20000
		g := sched.NewGroup(2)
		a, b := sched.NewXChan[int](0), sched.NewXChan[int](2)
		var taken atomic.Int64
		var sum atomic.Int64
		done := sched.NewXChan[struct{}](0)
		recv := func() {
			for {
				var v int
				i, err := sched.Select(a.RecvCase(&v), b.RecvCase(&v), done.RecvCase(nil))
				if i == 2 || err != nil {
					return
				}
				taken.Add(1)
				sum.Add(int64(v))
			}
		}
		g.Scheduler(0).Go(recv)
		g.Scheduler(1).Go(recv)
		var wg sync.WaitGroup
		wg.Go(recv)
		g.Scheduler(0).Go(func() {
			for i := 1; i <= n; i++ {
				if i%2 == 0 {
					a.Send(i)
				} else {
					b.Send(i)
				}
			}
			for taken.Load() < n {
				sched.Sleep(time.Millisecond)
			}
			done.Close()
		})
		if err := g.Run(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if taken.Load() != n || sum.Load() != n*(n+1)/2 {
			t.Errorf("took %d values summing to %d, want %d summing to %d", taken.Load(), sum.Load(), n, n*(n+1)/2)
		}
	})
}

// TestXChanWaitIsNotADeadlock: a task that waits on an XChan can be woken
// from outside, so a scheduler whose tasks all wait on one is not
// deadlocked.
func TestXChanWaitIsNotADeadlock(t *testing.T) {
	checkLeaks(t)
	s := sched.New()
	c := sched.NewXChan[int](0)
	s.Go(func() {
		if v, err := c.Recv(); v != 7 || err != nil {
			t.Errorf("Recv = %d, %v", v, err)
		}
	})
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Send(7)
	}()
	mustRun(t, s)
}

// TestXChanStopWithMessagesInFlight stops a Group while its tasks and
// goroutines exchange messages, and checks that nothing is lost: every
// message whose Send succeeded was received or is still buffered, and
// nothing is received after the XChan is closed and drained.
func TestXChanStopWithMessagesInFlight(t *testing.T) {
	checkLeaks(t)
	g := sched.NewGroup(2, sched.WithKeepAlive())
	c := sched.NewXChan[int](16)
	var sent, received atomic.Int64
	for i := range 2 {
		s := g.Scheduler(i)
		for range 4 {
			s.Go(func() {
				for k := 1; ; k++ {
					if err := c.Send(k); err != nil {
						return // interrupted (Stop) or closed
					}
					sent.Add(1)
				}
			})
			s.Go(func() {
				for {
					if _, err := c.Recv(); err != nil {
						return
					}
					received.Add(1)
				}
			})
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.Send(1); err != nil {
					return
				}
				sent.Add(1)
			}
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Run() }()
	time.Sleep(50 * time.Millisecond)
	g.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	close(stop)
	// The goroutine senders may wait on a full XChan: closing wakes them.
	c.Close()
	wg.Wait()
	var left int64
	for {
		_, err := c.Recv()
		if errors.Is(err, sched.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		left++
	}
	if received.Load()+left != sent.Load() {
		t.Errorf("sent %d, received %d, %d left: %d lost", sent.Load(), received.Load(), left, sent.Load()-received.Load()-left)
	}
	if _, err := c.TryRecv(); !errors.Is(err, sched.ErrClosed) {
		t.Errorf("TryRecv after the drain: %v, want ErrClosed", err)
	}
	t.Logf("sent %d, received %d in tasks, %d left at the stop", sent.Load(), received.Load(), left)
}

// TestXChanAtGOMAXPROCS1: with one processor nothing spins (the other
// side could not run meanwhile), and hand-offs still complete.
func TestXChanAtGOMAXPROCS1(t *testing.T) {
	checkLeaks(t)
	defer sched.SetGOMAXPROCS(sched.SetGOMAXPROCS(1))
	g := sched.NewGroup(2)
	a, b := sched.NewXChan[int](1), sched.NewXChan[int](0)
	const n = 2000
	g.Scheduler(0).Go(func() {
		for i := range n {
			a.Send(i)
			if v, err := b.Recv(); v != i || err != nil {
				t.Errorf("round %d: %d, %v", i, v, err)
				return
			}
		}
		a.Close()
	})
	g.Scheduler(1).Go(func() {
		for {
			v, err := a.Recv()
			if err != nil {
				return
			}
			b.Send(v)
		}
	})
	if err := g.Run(); err != nil {
		t.Fatal(err)
	}
}
