package sched_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coopgo/coop/sched"
)

// TestGoKeepsEachSendersOrder has goroutines start tasks on a scheduler
// with Go, far more than its inbox ring holds, while the scheduler is
// busy (so that the ring fills and the rest overflows), and checks that
// the tasks of each goroutine start in the order it made them.
func TestGoKeepsEachSendersOrder(t *testing.T) {
	checkLeaks(t)
	const senders, each = 4, 5000
	s := sched.New(sched.WithKeepAlive())
	errc := make(chan error, 1)
	go func() { errc <- s.Run() }()
	next := make([]int, senders) // on s's thread only
	var bad []string
	busy := make(chan struct{})
	s.Go(func() { <-busy }) // blocks the thread: nothing is drained meanwhile
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				s.Go(func() {
					if i != next[g] && len(bad) < 5 {
						bad = append(bad, fmt.Sprintf("sender %d: task %d ran after %d", g, i, next[g]-1))
					}
					next[g] = i + 1
				})
				if i == each/2 && g == 0 {
					close(busy)
				}
			}
		})
	}
	wg.Wait()
	var done []int
	for deadline := time.Now().Add(10 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatalf("tasks started per sender after 10 s: %v, want %d each", done, each)
		}
		if err := s.Do(func() { done = append(done[:0], next...) }); err != nil {
			t.Fatal(err)
		}
		if sum(done) == senders*each {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// million is the message count of the long exchange tests: a million,
// or a tenth of it under -race (each message costs ~20x more there).
func million() int {
	if raceEnabled {
		return 100_000
	}
	return 1_000_000
}

// msg is a message of the exchange tests: who sent it and its number
// among that sender's messages.
type msg struct{ from, i int }

// orderCheck counts messages and checks that each sender's arrive in
// order, once each: with every number of a sender greater than the one
// before, a count equal to what was sent means none lost and none
// duplicated. For one receiver at a time.
type orderCheck struct {
	next []int
	n    int
	bad  []string
}

func newOrderCheck(senders int) *orderCheck { return &orderCheck{next: make([]int, senders)} }

func (o *orderCheck) see(m msg) {
	o.n++
	if m.i < o.next[m.from] && len(o.bad) < 5 {
		o.bad = append(o.bad, fmt.Sprintf("sender %d: %d after %d", m.from, m.i, o.next[m.from]-1))
	}
	o.next[m.from] = m.i + 1
}

func (o *orderCheck) report(t *testing.T, who string, want int) {
	t.Helper()
	if o.n != want {
		t.Errorf("%s received %d messages, want %d", who, o.n, want)
	}
	for _, b := range o.bad {
		t.Errorf("%s: out of order: %s", who, b)
	}
}

// TestInboxAMillionEachWay hands a million messages each way between the
// two schedulers of a Group (a task of each sends to the other's Inbox),
// and a million from a plain goroutine to the first, all at once; it
// checks that every receiver gets every message of every sender once, in
// order.
func TestInboxAMillionEachWay(t *testing.T) {
	checkLeaks(t)
	n := million()
	g := sched.NewGroup(2)
	in := [2]*sched.Inbox[msg]{sched.NewInbox[msg](g.Scheduler(0), 0), sched.NewInbox[msg](g.Scheduler(1), 0)}
	// Senders: 0 and 1 the tasks of schedulers 0 and 1, 2 the goroutine.
	checks := [2]*orderCheck{newOrderCheck(3), newOrderCheck(3)}
	want := [2]int{2 * n, n}
	for i := range 2 {
		s := g.Scheduler(i)
		s.Go(func() { // sends to the other
			for k := range n {
				if err := in[1-i].Send(msg{i, k}); err != nil {
					t.Error(err)
					return
				}
			}
		})
		s.Go(func() { // receives
			for range want[i] {
				m, err := in[i].Recv()
				if err != nil {
					t.Error(err)
					return
				}
				checks[i].see(m)
			}
		})
	}
	errc := make(chan error, 1)
	go func() { errc <- g.Run() }()
	for k := range n {
		if err := in[0].Send(msg{2, k}); err != nil {
			t.Error(err)
			g.Stop() // the receivers wait for the rest
			break
		}
	}
	start := time.Now()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	checks[0].report(t, "scheduler 0", 2*n)
	checks[1].report(t, "scheduler 1", n)
	t.Logf("finished %v after the goroutine's last send", time.Since(start))
}
