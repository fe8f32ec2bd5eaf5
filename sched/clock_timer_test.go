package sched_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/sched"
)

// since is the virtual time elapsed since epoch, for readable diffs.
func since(t time.Time) time.Duration { return t.Sub(epoch) }

// recvAt receives from c and returns the virtual time of the value and of
// the receive.
func recvAt(t *testing.T, c *sched.Chan[time.Time]) (value, at time.Duration) {
	t.Helper()
	v, err := c.Recv()
	if err != nil {
		t.Errorf("Recv: %v", err)
	}
	return since(v), since(sched.Now())
}

func TestTimerFiresOnSchedulerClock(t *testing.T) {
	checkLeaks(t)
	var v, at time.Duration
	runTasks(t, func(s *sched.Scheduler) {
		tm := sched.NewTimer(5 * time.Second)
		v, at = recvAt(t, tm.C)
	}, virtual())
	if v != 5*time.Second || at != 5*time.Second {
		t.Errorf("value at %v, received at %v; want 5s, 5s", v, at)
	}
}

// Stop and Reset report whether the timer was active as the time package
// does since Go 1.23: a time that fired but was not received counts as
// active, and is discarded, so no stale value is received after them.
func TestTimerStopReset(t *testing.T) {
	checkLeaks(t)
	type result struct {
		Stop1, Stop2 bool
		Pending      string // what C holds after the calls
	}
	tests := []struct {
		name string
		do   func(tm *sched.Timer) result
		want result
	}{
		{"stop pending", func(tm *sched.Timer) result {
			r := result{Stop1: tm.Stop(), Stop2: tm.Stop()}
			sched.Sleep(10 * time.Second) // past when it would have fired
			r.Pending = pending(tm.C)
			return r
		}, result{Stop1: true, Stop2: false, Pending: "empty"}},
		{"stop fired, not received", func(tm *sched.Timer) result {
			sched.Sleep(2 * time.Second)
			return result{Stop1: tm.Stop(), Stop2: tm.Stop(), Pending: pending(tm.C)}
		}, result{Stop1: true, Stop2: false, Pending: "empty"}},
		{"stop fired, received", func(tm *sched.Timer) result {
			tm.C.Recv()
			return result{Stop1: tm.Stop(), Pending: pending(tm.C)}
		}, result{Stop1: false, Pending: "empty"}},
		{"reset pending", func(tm *sched.Timer) result {
			r := result{Stop1: tm.Reset(3 * time.Second)}
			sched.Sleep(2 * time.Second) // the old time passes
			r.Pending = pending(tm.C)
			v, at := recvAt(t, tm.C)
			r.Pending += " then " + v.String() + "@" + at.String()
			return r
		}, result{Stop1: true, Pending: "empty then 3s@3s"}},
		{"reset fired, not received", func(tm *sched.Timer) result {
			sched.Sleep(2 * time.Second)
			r := result{Stop1: tm.Reset(time.Second)}
			v, at := recvAt(t, tm.C) // the new time, not the stale one
			r.Pending = v.String() + "@" + at.String()
			return r
		}, result{Stop1: true, Pending: "3s@3s"}},
		{"reset after stop", func(tm *sched.Timer) result {
			r := result{Stop1: tm.Stop(), Stop2: tm.Reset(4 * time.Second)}
			v, at := recvAt(t, tm.C)
			r.Pending = v.String() + "@" + at.String()
			return r
		}, result{Stop1: true, Stop2: false, Pending: "4s@4s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got result
			runTasks(t, func(s *sched.Scheduler) {
				got = tt.do(sched.NewTimer(time.Second))
			}, virtual())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// pending says whether c holds a value, without waiting.
func pending(c *sched.Chan[time.Time]) string {
	v, err := c.TryRecv()
	if err != nil {
		return "empty"
	}
	return "holds " + since(v).String()
}

// One task stops a timer another waits on: the waiter stays waiting (it
// is woken here by another case of its Select), and no tick arrives.
func TestTimerStopFromAnotherTask(t *testing.T) {
	checkLeaks(t)
	var stopped bool
	var idx int
	var at time.Duration
	runTasks(t, func(s *sched.Scheduler) {
		tm := sched.NewTimer(5 * time.Second)
		var wake sched.Chan[int]
		s.Go(func() {
			sched.Sleep(time.Second)
			stopped = tm.Stop()
			sched.Sleep(9 * time.Second)
			wake.Send(1)
		})
		idx, _ = sched.Select(tm.C.RecvCase(nil), wake.RecvCase(nil))
		at = since(sched.Now())
	}, virtual())
	if !stopped || idx != 1 || at != 10*time.Second {
		t.Errorf("Stop %v, Select case %d at %v; want true, case 1 at 10s", stopped, idx, at)
	}
}

func TestAfterFunc(t *testing.T) {
	checkLeaks(t)
	var log []string
	add := func(what string) { log = append(log, since(sched.Now()).String()+" "+what) }
	s := sched.New(virtual())
	s.Go(func() {
		// f runs in a task of its own, which may block.
		sched.AfterFunc(2*time.Second, func() {
			add("f1 starts")
			sched.Sleep(time.Second)
			add("f1 ends")
		})
		stopped := sched.AfterFunc(time.Second, func() { add("f2: wrong") })
		if !stopped.Stop() {
			t.Error("Stop of a pending AfterFunc returned false")
		}
		again := sched.AfterFunc(time.Second, func() { add("f3") })
		sched.Sleep(1500 * time.Millisecond)
		if again.Stop() {
			t.Error("Stop of an AfterFunc that started returned true")
		}
		if again.Reset(time.Hour) {
			t.Error("Reset of an AfterFunc that started returned true")
		}
		add("first task ends")
		// Run goes on until the pending AfterFunc has run.
	})
	mustRun(t, s)
	want := []string{"1s f3", "1.5s first task ends", "2s f1 starts", "3s f1 ends", "1h0m1.5s f3"}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Stop drops the AfterFuncs still pending: their f never starts, Run
// returns, and nothing is left behind.
func TestAfterFuncDroppedByStop(t *testing.T) {
	for _, opt := range []struct {
		name string
		opts []sched.Option
	}{{"virtual", []sched.Option{virtual()}}, {"real", nil}} {
		t.Run(opt.name, func(t *testing.T) {
			checkLeaks(t)
			s := sched.New(opt.opts...)
			ran := false
			var tm *sched.Timer
			s.Go(func() {
				tm = sched.AfterFunc(time.Hour, func() { ran = true })
				s.Stop()
			})
			mustRun(t, s)
			if ran {
				t.Error("an AfterFunc pending at Stop ran")
			}
			if !tm.Stop() {
				t.Error("Stop after Run, of an AfterFunc that never ran, returned false")
			}
		})
	}
}

func TestTicker(t *testing.T) {
	checkLeaks(t)
	var got []string
	runTasks(t, func(s *sched.Scheduler) {
		tk := sched.NewTicker(time.Second)
		rec := func(note string) {
			v, at := recvAt(t, tk.C)
			got = append(got, v.String()+"@"+at.String()+note)
		}
		rec("")
		rec("")
		// A slow receiver: the 3s tick waits in C, 4s and 5s are dropped.
		sched.Sleep(3500 * time.Millisecond)
		rec(" (kept)")
		rec("")
		// Reset: the next tick comes a new period from now.
		tk.Reset(10 * time.Second)
		rec(" (after Reset)")
		// Stop discards a tick not received; Reset restarts.
		sched.Sleep(15 * time.Second)
		tk.Stop()
		got = append(got, "after Stop: "+pending(tk.C))
		sched.Sleep(time.Minute)
		got = append(got, "a minute later: "+pending(tk.C))
		tk.Reset(time.Second)
		rec(" (restarted)")
		tk.Stop()
	}, virtual())
	want := []string{
		"1s@1s", "2s@2s",
		"3s@5.5s (kept)", "6s@6s",
		"16s@16s (after Reset)",
		"after Stop: empty", "a minute later: empty",
		"1m32s@1m32s (restarted)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// On the real clock, ticks that fall due while the receiver is busy are
// dropped, not queued: C holds one.
func TestTickerDropsTicksRealTime(t *testing.T) {
	checkLeaks(t)
	var got []error
	var first time.Time
	start := time.Now()
	runTasks(t, func(s *sched.Scheduler) {
		tk := sched.NewTicker(time.Millisecond)
		defer tk.Stop()
		v, err := tk.C.Recv()
		first = v
		got = append(got, err)
		sched.Sleep(30 * time.Millisecond) // thirty periods
		_, err = tk.C.TryRecv()
		got = append(got, err)
		_, err = tk.C.TryRecv()
		got = append(got, err)
	})
	want := []error{nil, nil, sched.ErrWouldBlock}
	for i := range want {
		if !errors.Is(got[i], want[i]) {
			t.Errorf("receive %d: %v, want %v", i, got[i], want[i])
		}
	}
	if d := first.Sub(start); d < time.Millisecond {
		t.Errorf("first tick %v after the start, want at least the period", d)
	}
}

func TestTimerRealTime(t *testing.T) {
	checkLeaks(t)
	var waited, funcAt time.Duration
	start := time.Now()
	s := sched.New()
	s.Go(func() {
		sched.AfterFunc(15*time.Millisecond, func() { funcAt = time.Since(start) })
		tm := sched.NewTimer(10 * time.Millisecond)
		tm.C.Recv()
		waited = time.Since(start)
	})
	mustRun(t, s)
	if waited < 10*time.Millisecond || funcAt < 15*time.Millisecond {
		t.Errorf("timer received after %v (want >= 10ms), AfterFunc ran after %v (want >= 15ms)", waited, funcAt)
	}
}

// Set up before Run by the goroutine that makes the scheduler, as the
// calls that never wait may be.
func TestTimerBeforeRun(t *testing.T) {
	checkLeaks(t)
	s := sched.New(virtual())
	tm := s.NewTimer(time.Minute)
	var v, at time.Duration
	ran := false
	s.AfterFunc(time.Hour, func() { ran = true })
	s.Go(func() { v, at = recvAt(t, tm.C) })
	mustRun(t, s)
	if v != time.Minute || at != time.Minute || !ran {
		t.Errorf("value %v at %v, AfterFunc ran %v; want 1m0s at 1m0s, true", v, at, ran)
	}
}

// A task waiting for a pending timer is not deadlocked, on either clock;
// one waiting on a stopped timer is, and is reported at once.
func TestTimerDeadlock(t *testing.T) {
	for _, opt := range []struct {
		name string
		opts []sched.Option
	}{{"virtual", []sched.Option{virtual()}}, {"real", nil}} {
		t.Run(opt.name+"/pending", func(t *testing.T) {
			checkLeaks(t)
			runTasks(t, func(s *sched.Scheduler) {
				tm := sched.NewTimer(10 * time.Millisecond)
				if _, err := tm.C.Recv(); err != nil {
					t.Error(err)
				}
			}, opt.opts...)
		})
		t.Run(opt.name+"/stopped", func(t *testing.T) {
			checkLeaks(t)
			s := sched.New(opt.opts...)
			s.Go(func() {
				tm := sched.NewTimer(time.Hour)
				tm.Stop()
				tm.C.Recv()
			})
			mustDeadlock(t, s, "chan receive")
		})
	}
}

// A running Ticker that no task waits on hides no deadlock: a task
// blocked for good beside it is reported in bounded time, on either
// clock. (Before, any pending timer held the report back, and a ticker
// is pending for ever.)
func TestTickerDoesNotHideDeadlock(t *testing.T) {
	for _, opt := range []struct {
		name string
		opts []sched.Option
	}{{"virtual", []sched.Option{virtual()}}, {"real", nil}} {
		t.Run(opt.name, func(t *testing.T) {
			checkLeaks(t)
			s := sched.New(opt.opts...)
			s.Go(func() {
				tk := sched.NewTicker(time.Millisecond)
				defer tk.Stop()
				var never sched.Chan[int]
				never.Recv()
			})
			mustDeadlock(t, s, "chan receive")
		})
	}
}

// A task that waits on a Ticker among other cases is not deadlocked: the
// ticks wake it.
func TestTickerWakesSelect(t *testing.T) {
	checkLeaks(t)
	ticks := 0
	runTasks(t, func(s *sched.Scheduler) {
		tk := sched.NewTicker(time.Second)
		defer tk.Stop()
		var other sched.Chan[int]
		for ticks < 5 {
			if i, _ := sched.Select(other.RecvCase(nil), tk.C.RecvCase(nil)); i == 1 {
				ticks++
			}
		}
	}, virtual())
	if ticks != 5 {
		t.Errorf("%d ticks, want 5", ticks)
	}
}

// With virtual time, a ticker nobody waits on does not make the clock
// jump while a task waits for the outside world: the scheduler sleeps
// until the outside wakes it, instead of spinning from tick to tick.
func TestTickerNobodyWaitsOnDoesNotSpinVirtualClock(t *testing.T) {
	checkLeaks(t)
	s := sched.New(virtual())
	in := sched.NewInbox[int](s, 1)
	var at time.Duration
	s.Go(func() {
		tk := sched.NewTicker(time.Millisecond)
		defer tk.Stop()
		in.Recv()
		at = since(sched.Now())
	})
	go func() {
		time.Sleep(50 * time.Millisecond)
		in.Send(1)
	}()
	mustRun(t, s)
	if st := s.Stats(); st.Polls > 20 || at != 0 {
		t.Errorf("%d polls, virtual clock at %v when the outside woke the task; want a few, 0s", st.Polls, at)
	}
}

// mustDeadlock runs s and fails unless Run reports a deadlock naming
// what, within a few seconds.
func mustDeadlock(t *testing.T, s *sched.Scheduler, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	select {
	case err := <-done:
		if !errors.Is(err, sched.ErrDeadlock) || !strings.Contains(err.Error(), what) {
			t.Errorf("Run: %v; want a deadlock on %s", err, what)
		}
	case <-time.After(10 * time.Second):
		s.Stop()
		<-done
		t.Errorf("no deadlock report after 10s")
	}
}

// Outside a task the package-level constructors have no scheduler to
// use: they panic, saying what to call instead.
func TestTimerOutsideTaskPanics(t *testing.T) {
	for name, fn := range map[string]func(){
		"NewTimer":  func() { sched.NewTimer(time.Second) },
		"AfterFunc": func() { sched.AfterFunc(time.Second, func() {}) },
		"NewTicker": func() { sched.NewTicker(time.Second) },
	} {
		msg := panicValue(fn)
		if !strings.Contains(msg, name+" called outside a task") || !strings.Contains(msg, "Scheduler."+name) {
			t.Errorf("%s outside a task: panic %q", name, msg)
		}
	}
	if msg := panicValue(func() { sched.New().NewTicker(0) }); !strings.Contains(msg, "non-positive interval") {
		t.Errorf("NewTicker(0): panic %q", msg)
	}
}

// Stop interrupts a task waiting on a Ticker as it does any wait, and Run
// returns with the ticker still set: it holds no task or goroutine.
func TestTickerWaiterInterruptedByStop(t *testing.T) {
	checkLeaks(t)
	var err error
	s := sched.New()
	s.Go(func() {
		tk := sched.NewTicker(time.Hour)
		s.Go(func() {
			sched.Sleep(time.Millisecond)
			s.Stop()
		})
		_, err = tk.C.Recv()
	})
	mustRun(t, s)
	if !errors.Is(err, sched.ErrInterrupted) {
		t.Errorf("Recv on the ticker: %v, want ErrInterrupted", err)
	}
}

// A period near the largest Duration saturates at the end of the clock
// instead of wrapping round to a time in the past, and the ticker then
// stops: before, its next tick was always due, and the loop fired it for
// ever without returning to the tasks.
func TestTickerHugePeriod(t *testing.T) {
	checkLeaks(t)
	var got []string
	runTasks(t, func(s *sched.Scheduler) {
		const p = math.MaxInt64 - 1
		tk := sched.NewTicker(p)
		defer tk.Stop()
		v, at := recvAt(t, tk.C) // the virtual clock jumps 292 years
		got = append(got, fmt.Sprint(v == p, at == p))
		sched.Sleep(1) // to the end of the clock: the next tick saturates there
		got = append(got, pending(tk.C))
		sched.Sleep(time.Hour) // the clock stands at its end: no tick after
		got = append(got, pending(tk.C))
	}, virtual())
	want := []string{"true true", "holds " + time.Duration(math.MaxInt64).String(), "empty"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A zero Timer or Ticker (not made by NewTimer, AfterFunc or NewTicker)
// panics at Stop and Reset, saying what to call, as the time package's
// does. Before, its zero heap index read as pending at index 0: Stop took
// whatever timer stood first in the heap out of it (here the sleeper's,
// which then never woke), and Reset put an entry with no owner in it.
func TestZeroTimerPanics(t *testing.T) {
	checkLeaks(t)
	msgs := map[string]string{}
	slept := false
	s := sched.New()
	s.Go(func() {
		s.Go(func() {
			sched.Sleep(time.Millisecond) // a timer at the top of the heap
			slept = true
		})
		sched.Yield()
		var tm sched.Timer
		var tk sched.Ticker
		msgs["Timer.Stop"] = panicValue(func() { tm.Stop() })
		msgs["Timer.Reset"] = panicValue(func() { tm.Reset(time.Hour) })
		msgs["Ticker.Stop"] = panicValue(func() { tk.Stop() })
		msgs["Ticker.Reset"] = panicValue(func() { tk.Reset(time.Hour) })
	})
	if err := runBounded(t, s, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for what, msg := range msgs {
		want := "sched: " + what + " on a zero " + strings.Split(what, ".")[0]
		if !strings.HasPrefix(msg, want) || !strings.Contains(msg, "New") {
			t.Errorf("%s: panic %q, want one beginning %q and naming the constructor", what, msg, want)
		}
	}
	if !slept {
		t.Error("the sleeping task did not wake: its timer left the heap")
	}
}
