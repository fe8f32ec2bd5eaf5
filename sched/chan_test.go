package sched_test

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/sched"
)

// TestChanRendezvous checks the hand-off order of an unbuffered Chan: a
// Send returns only once a receiver has the value, and a sender that
// finds a receiver waiting hands over and goes on without a switch.
func TestChanRendezvous(t *testing.T) {
	checkLeaks(t)
	var got []string
	runTasks(t, func(s *sched.Scheduler) {
		var c sched.Chan[int] // the zero value is unbuffered
		s.Go(func() {
			for i := 1; i <= 3; i++ {
				got = append(got, fmt.Sprint("send ", i))
				if err := c.Send(i); err != nil {
					t.Error(err)
				}
				got = append(got, fmt.Sprint("sent ", i))
			}
		})
		s.Go(func() {
			for range 3 {
				v, err := c.Recv()
				if err != nil {
					t.Error(err)
				}
				got = append(got, fmt.Sprint("recv ", v))
			}
		})
	})
	want := []string{
		"send 1", "recv 1", // the sender blocks; the receiver takes 1 and blocks again
		"sent 1", "send 2", "sent 2", // 2 goes straight to the waiting receiver
		"send 3", "recv 2", "recv 3", // the receiver, not waiting yet, finds the sender
		"sent 3",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestChanBuffered(t *testing.T) {
	checkLeaks(t)
	var got []string
	note := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	runTasks(t, func(s *sched.Scheduler) {
		c := sched.NewChan[int](3)
		note("len %d cap %d", c.Len(), c.Cap())
		for i := range 4 {
			note("TrySend %d: %v", i, c.TrySend(i))
		}
		note("len %d", c.Len())
		// Around the ring a few times, FIFO throughout.
		for i := 4; i < 10; i++ {
			v, err := c.TryRecv()
			note("TryRecv %d %v, TrySend %d: %v", v, err, i, c.TrySend(i))
		}
		// A blocked sender moves into the buffer as soon as there is room.
		sender := s.Go(func() { note("Send 10: %v", c.Send(10)) })
		sched.Yield()
		v, err := c.Recv()
		note("Recv %d %v, len %d", v, err, c.Len())
		sender.Wait()
		for c.Len() > 0 {
			v, _ := c.Recv()
			note("Recv %d", v)
		}
		_, err = c.TryRecv()
		note("TryRecv empty: %v", err)
	})
	want := []string{
		"len 0 cap 3",
		"TrySend 0: <nil>", "TrySend 1: <nil>", "TrySend 2: <nil>",
		"TrySend 3: sched: operation would block",
		"len 3",
		"TryRecv 0 <nil>, TrySend 4: <nil>",
		"TryRecv 1 <nil>, TrySend 5: <nil>",
		"TryRecv 2 <nil>, TrySend 6: <nil>",
		"TryRecv 4 <nil>, TrySend 7: <nil>",
		"TryRecv 5 <nil>, TrySend 8: <nil>",
		"TryRecv 6 <nil>, TrySend 9: <nil>",
		"Recv 7 <nil>, len 3",
		"Send 10: <nil>",
		"Recv 8", "Recv 9", "Recv 10",
		"TryRecv empty: sched: operation would block",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestChanTry(t *testing.T) {
	tests := []struct {
		name string
		cap  int
		peer string // a task blocked on the Chan before the Try call: "", "sender", "receiver"
		op   string // "TrySend" or "TryRecv"
		want error
	}{
		{"unbuffered send, no receiver", 0, "", "TrySend", sched.ErrWouldBlock},
		{"unbuffered send, receiver waiting", 0, "receiver", "TrySend", nil},
		{"unbuffered recv, no sender", 0, "", "TryRecv", sched.ErrWouldBlock},
		{"unbuffered recv, sender waiting", 0, "sender", "TryRecv", nil},
		{"buffered send, room", 2, "", "TrySend", nil},
		{"buffered recv, empty", 2, "", "TryRecv", sched.ErrWouldBlock},
		{"buffered send, receiver waiting", 2, "receiver", "TrySend", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			var got error
			var peerGot int
			runTasks(t, func(s *sched.Scheduler) {
				c := sched.NewChan[int](tt.cap)
				var peer *sched.Task
				switch tt.peer {
				case "sender":
					peer = s.Go(func() { c.Send(42) })
				case "receiver":
					peer = s.Go(func() { peerGot, _ = c.Recv() })
				}
				sched.Yield()
				if tt.op == "TrySend" {
					got = c.TrySend(42)
				} else {
					var v int
					v, got = c.TryRecv()
					if got == nil && v != 42 {
						t.Errorf("TryRecv = %d, want 42", v)
					}
				}
				if peer != nil {
					peer.Wait()
				}
			})
			if !errors.Is(got, tt.want) || (tt.want == nil && got != nil) {
				t.Errorf("%s = %v, want %v", tt.op, got, tt.want)
			}
			if tt.peer == "receiver" && peerGot != 42 {
				t.Errorf("receiver got %d, want 42", peerGot)
			}
		})
	}
}

func TestChanClose(t *testing.T) {
	checkLeaks(t)
	var got []string
	note := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	runTasks(t, func(s *sched.Scheduler) {
		// Blocked receivers and senders wake with ErrClosed.
		var u sched.Chan[int]
		var ws sched.WaitGroup
		for i := range 2 {
			ws.Go(func() { v, err := u.Recv(); note("receiver %d: %d, %v", i, v, err) })
		}
		sched.Yield()
		note("Close: %v", u.Close())
		ws.Wait()
		note("Close again: %v", u.Close())

		full := sched.NewChan[int](1)
		full.Send(1)
		ws.Go(func() { note("blocked sender: %v", full.Send(2)) })
		sched.Yield()
		full.Close()
		ws.Wait()

		// A closed Chan drains, then reports ErrClosed; sends fail.
		c := sched.NewChan[string](4)
		c.Send("a")
		c.Send("b")
		c.Close()
		note("Send: %v, TrySend: %v, Len %d", c.Send("c"), c.TrySend("c"), c.Len())
		for range 3 {
			v, err := c.Recv()
			note("Recv %q, %v", v, err)
		}
		_, err := c.TryRecv()
		note("TryRecv: %v", err)
		v, err := full.Recv()
		note("full: Recv %d, %v", v, err)
	})
	want := []string{
		"Close: <nil>",
		"receiver 0: 0, sched: closed",
		"receiver 1: 0, sched: closed",
		"Close again: sched: closed",
		"blocked sender: sched: closed",
		"Send: sched: closed, TrySend: sched: closed, Len 2",
		`Recv "a", <nil>`,
		`Recv "b", <nil>`,
		`Recv "", sched: closed`,
		"TryRecv: sched: closed",
		"full: Recv 1, <nil>",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestChanProducersConsumers runs many producers and consumers over one
// Chan and checks that every value arrives exactly once, and each
// producer's values in order at each consumer.
func TestChanProducersConsumers(t *testing.T) {
	const producers, consumers, each = 40, 15, 250
	for _, capacity := range []int{0, 1, 16} {
		t.Run(fmt.Sprint("cap ", capacity), func(t *testing.T) {
			checkLeaks(t)
			count := make([]int, producers)
			var sum, outOfOrder int
			runTasks(t, func(s *sched.Scheduler) {
				c := sched.NewChan[[2]int](capacity)
				var prod, cons sched.WaitGroup
				for p := range producers {
					prod.Go(func() {
						for i := range each {
							if err := c.Send([2]int{p, i}); err != nil {
								t.Error(err)
							}
							if i%7 == p%7 {
								sched.Yield()
							}
						}
					})
				}
				for range consumers {
					cons.Go(func() {
						last := make([]int, producers)
						for i := range last {
							last[i] = -1
						}
						for {
							v, err := c.Recv()
							if err != nil {
								if !errors.Is(err, sched.ErrClosed) {
									t.Error(err)
								}
								return
							}
							p, i := v[0], v[1]
							if i <= last[p] {
								outOfOrder++
							}
							last[p] = i
							count[p]++
							sum += i
						}
					})
				}
				prod.Wait()
				c.Close()
				cons.Wait()
			})
			for p, n := range count {
				if n != each {
					t.Errorf("producer %d: %d values received, want %d", p, n, each)
				}
			}
			if want := producers * each * (each - 1) / 2; sum != want {
				t.Errorf("sum %d, want %d", sum, want)
			}
			if outOfOrder != 0 {
				t.Errorf("%d values out of their producer's order", outOfOrder)
			}
		})
	}
}

func TestSelectReady(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(a, b *sched.Chan[int]) // a unbuffered, b capacity 1
		cases   func(a, b *sched.Chan[int], dst *int) []sched.Case
		want    int
		wantErr error
		wantDst int
	}{
		{"recv buffered", func(a, b *sched.Chan[int]) { b.TrySend(7) },
			func(a, b *sched.Chan[int], dst *int) []sched.Case {
				return []sched.Case{a.RecvCase(dst), b.RecvCase(dst)}
			}, 1, nil, 7},
		{"send to room", nil,
			func(a, b *sched.Chan[int], dst *int) []sched.Case {
				return []sched.Case{a.RecvCase(dst), a.SendCase(1), b.SendCase(2)}
			}, 2, nil, -1},
		{"recv from closed", func(a, b *sched.Chan[int]) { a.Close() },
			func(a, b *sched.Chan[int], dst *int) []sched.Case {
				return []sched.Case{b.RecvCase(dst), a.RecvCase(dst)}
			}, 1, sched.ErrClosed, 0},
		{"send to closed", func(a, b *sched.Chan[int]) { a.Close() },
			func(a, b *sched.Chan[int], dst *int) []sched.Case {
				return []sched.Case{b.RecvCase(dst), a.SendCase(3)}
			}, 1, sched.ErrClosed, -1},
		{"nil chan and zero case never ready", func(a, b *sched.Chan[int]) { b.TrySend(5) },
			func(a, b *sched.Chan[int], dst *int) []sched.Case {
				var none *sched.Chan[int]
				return []sched.Case{none.RecvCase(dst), none.SendCase(1), {}, b.RecvCase(dst)}
			}, 3, nil, 5},
		{"recv with nil destination", func(a, b *sched.Chan[int]) { b.TrySend(5) },
			func(a, b *sched.Chan[int], dst *int) []sched.Case {
				return []sched.Case{b.RecvCase(nil)}
			}, 0, nil, -1},
		{"nothing ready", nil,
			func(a, b *sched.Chan[int], dst *int) []sched.Case {
				return []sched.Case{a.RecvCase(dst), a.SendCase(1)}
			}, -1, sched.ErrWouldBlock, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			var got, dst int
			var err error
			runTasks(t, func(s *sched.Scheduler) {
				a, b := sched.NewChan[int](0), sched.NewChan[int](1)
				if tt.prepare != nil {
					tt.prepare(a, b)
				}
				dst = -1
				got, err = sched.SelectTimeout(0, tt.cases(a, b, &dst)...)
			})
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || dst != tt.wantDst {
				t.Errorf("SelectTimeout(0) = %d, %v, dst %d; want %d, %v, dst %d", got, err, dst, tt.want, tt.wantErr, tt.wantDst)
			}
		})
	}
}

// TestSelectBlocks checks a Select that waits: the first case to become
// ready wins, and the Select's other cases are withdrawn at once.
func TestSelectBlocks(t *testing.T) {
	checkLeaks(t)
	var got []string
	note := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	runTasks(t, func(s *sched.Scheduler) {
		var a, b, out sched.Chan[int]
		var x, y int
		sel := s.Go(func() {
			i, err := sched.Select(a.RecvCase(&x), b.RecvCase(&y), out.SendCase(99))
			note("select: case %d, %v, x=%d y=%d", i, err, x, y)
			i, err = sched.Select(a.RecvCase(&x), b.RecvCase(&y), out.SendCase(99))
			note("select: case %d, %v", i, err)
			i, err = sched.Select(a.RecvCase(&x), b.RecvCase(&y))
			note("select: case %d, %v", i, err)
		})
		sched.Yield()
		note("send b: %v", b.Send(5))
		note("TrySend a: %v", a.TrySend(1)) // a's case was withdrawn
		sched.Yield()
		v, err := out.Recv() // the second Select's send case
		note("recv out: %d, %v", v, err)
		sched.Yield()
		a.Close()
		sel.Wait()
	})
	want := []string{
		"send b: <nil>",
		"TrySend a: sched: operation would block",
		"select: case 1, <nil>, x=0 y=5",
		"recv out: 99, <nil>",
		"select: case 2, <nil>",
		"select: case 0, sched: closed",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSelectFair checks that when both cases are always ready each is
// chosen about half the time, and that the choices repeat exactly from one
// run to the next.
func TestSelectFair(t *testing.T) {
	checkLeaks(t)
	const rounds = 2000
	run := func() (counts [2]int, picks []int) {
		runTasks(t, func(s *sched.Scheduler) {
			a, b := sched.NewChan[int](1), sched.NewChan[int](1)
			for range rounds {
				a.TrySend(1)
				b.TrySend(2)
				i, err := sched.Select(a.RecvCase(nil), b.RecvCase(nil))
				if err != nil {
					t.Fatal(err)
				}
				counts[i]++
				picks = append(picks, i)
			}
		}, virtual())
		return
	}
	counts, first := run()
	if counts[0] < rounds*4/10 || counts[1] < rounds*4/10 {
		t.Errorf("case counts %v out of %d rounds: not fair", counts, rounds)
	}
	if _, second := run(); !cmp.Equal(first, second) {
		t.Errorf("two runs chose differently")
	}
}

func TestSelectTimeout(t *testing.T) {
	checkLeaks(t)
	var got []string
	note := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	runTasks(t, func(s *sched.Scheduler) {
		start := sched.Now()
		since := func() time.Duration { return sched.Now().Sub(start) }
		var c sched.Chan[string]
		var v string
		i, err := sched.SelectTimeout(3*time.Second, c.RecvCase(&v))
		note("%v: %d, deadline exceeded %v", since(), i, errors.Is(err, os.ErrDeadlineExceeded))

		s.Go(func() { sched.Sleep(time.Second); c.Send("hi") })
		i, err = sched.SelectTimeout(5*time.Second, c.RecvCase(&v))
		note("%v: %d, %v, %q", since(), i, err, v)
		sched.Sleep(10 * time.Second) // a stale timeout would cut this short
		note("%v", since())

		i, err = sched.SelectTimeout(2 * time.Second) // no case: a sleep
		note("%v: %d, deadline exceeded %v", since(), i, errors.Is(err, os.ErrDeadlineExceeded))
		i, err = sched.SelectTimeout(-1, c.RecvCase(&v))
		note("%v: %d, %v", since(), i, err)
	}, virtual())
	want := []string{
		"3s: -1, deadline exceeded true",
		`4s: 0, <nil>, "hi"`,
		"14s",
		"16s: -1, deadline exceeded true",
		"16s: -1, sched: operation would block",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestNoAllocs checks that the paths that do not block allocate nothing,
// and neither does a blocking ping-pong once the free lists are warm.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tests := []struct {
		name string
		fn   func(s *sched.Scheduler) func()
	}{
		{"Mutex", func(s *sched.Scheduler) func() {
			var mu sched.Mutex
			return func() { mu.Lock(); mu.Unlock() }
		}},
		{"buffered Chan", func(s *sched.Scheduler) func() {
			c := sched.NewChan[string](4)
			return func() { c.Send("x"); c.Recv() }
		}},
		{"Select not blocking", func(s *sched.Scheduler) func() {
			a, b := sched.NewChan[int](1), sched.NewChan[string](1)
			return func() {
				var x int
				var y string
				a.TrySend(1000)
				sched.Select(a.RecvCase(&x), b.RecvCase(&y), b.SendCase("z"))
				sched.Select(a.RecvCase(&x), b.RecvCase(&y))
			}
		}},
		{"Chan ping-pong", func(s *sched.Scheduler) func() {
			var ping, pong sched.Chan[int]
			s.Go(func() {
				for {
					v, err := ping.Recv()
					if err != nil {
						return
					}
					pong.Send(v)
				}
			})
			return func() { ping.Send(1000); pong.Recv() }
		}},
		{"Select ping-pong", func(s *sched.Scheduler) func() {
			var ping, pong sched.Chan[int]
			var quit sched.Chan[bool]
			s.Go(func() {
				for {
					var v int
					if i, _ := sched.Select(ping.RecvCase(&v), quit.RecvCase(nil)); i != 0 {
						return
					}
					sched.Select(pong.SendCase(v), quit.RecvCase(nil))
				}
			})
			return func() { ping.Send(1000); pong.Recv() }
		}},
		{"Inbox", func(s *sched.Scheduler) func() {
			in := sched.NewInbox[int](s, 0)
			return func() { in.Send(1000); in.Recv() }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sched.New()
			s.Go(func() {
				fn := tt.fn(s)
				fn() // warm up
				if n := testing.AllocsPerRun(100, fn); n != 0 {
					t.Errorf("%v allocations per run, want 0", n)
				}
			})
			if err := s.Run(); err != nil && !errors.Is(err, sched.ErrDeadlock) {
				t.Fatal(err)
			}
		})
	}
}

// BenchmarkChanPingPong bounces a value between two tasks over two
// unbuffered Chans; ns/msg is the cost of one hand-off, switch included.
func BenchmarkChanPingPong(b *testing.B) {
	b.ReportAllocs()
	s := sched.New()
	var ping, pong sched.Chan[int]
	s.Go(func() {
		for {
			v, err := ping.Recv()
			if err != nil {
				return
			}
			pong.Send(v + 1)
		}
	})
	s.Go(func() {
		n := 0
		for b.Loop() {
			ping.Send(n)
			n, _ = pong.Recv()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/msg")
		ping.Close()
	})
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMutexUncontended is one Lock and Unlock of a free Mutex.
func BenchmarkMutexUncontended(b *testing.B) {
	b.ReportAllocs()
	s := sched.New()
	s.Go(func() {
		var mu sched.Mutex
		for b.Loop() {
			mu.Lock()
			mu.Unlock()
		}
	})
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
}
