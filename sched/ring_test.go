package sched

import (
	"runtime"
	"sync"
	"testing"
)

// TestRingLimits checks a ring's edges on one goroutine: the limit, not
// the power of two, bounds it; it stays FIFO across many laps; flags stop
// pushes and pops only where asked.
func TestRingLimits(t *testing.T) {
	var r ring[int]
	r.init(5) // 8 slots, 5 values
	for i := range 5 {
		if ok, _ := r.push(i, ringClosed); !ok {
			t.Fatalf("push %d of 5 failed", i)
		}
	}
	if ok, _ := r.push(5, ringClosed); ok {
		t.Fatal("a sixth push into a ring of 5 succeeded")
	}
	if r.roomy() {
		t.Error("roomy on a full ring")
	}
	next := 0
	for lap := range 1000 {
		v, ok := r.pop(0)
		if !ok || v != next {
			t.Fatalf("lap %d: pop = %d, %v; want %d, true", lap, v, ok, next)
		}
		next++
		if ok, _ := r.push(next+4, ringClosed); !ok {
			t.Fatalf("lap %d: push after a pop failed", lap)
		}
	}
	if !r.ready() || r.drained() {
		t.Error("a ring holding values reports it is not ready, or drained")
	}
	setFlag(&r.deq, ringWaiters)
	if _, ok := r.pop(ringWaiters); ok {
		t.Error("pop succeeded past the waiters flag it was told to stop at")
	}
	if _, ok := r.pop(0); !ok {
		t.Error("pop that ignores the flag failed")
	}
	clearFlag(&r.deq, ringWaiters)
	setFlag(&r.enq, ringClosed)
	if ok, e := r.push(1, ringClosed); ok || e&ringClosed == 0 {
		t.Errorf("push into a closed ring = %v, flags %#x", ok, e&^ringPos)
	}
	for {
		if _, ok := r.pop(0); !ok {
			break
		}
	}
	if !r.drained() || r.ready() {
		t.Error("an emptied ring is not drained")
	}
}

// TestRingOfOne checks the smallest ring: one value at a time, for many
// laps.
func TestRingOfOne(t *testing.T) {
	var r ring[int]
	r.init(1)
	for i := range 100 {
		if ok, _ := r.push(i, 0); !ok {
			t.Fatalf("push %d into an empty ring of one failed", i)
		}
		if ok, _ := r.push(-1, 0); ok {
			t.Fatalf("second push into a ring of one succeeded")
		}
		if v, ok := r.pop(0); !ok || v != i {
			t.Fatalf("pop = %d, %v; want %d", v, ok, i)
		}
		if _, ok := r.pop(0); ok {
			t.Fatalf("pop from an empty ring of one succeeded")
		}
	}
}

// TestRingConcurrent has 4 producers and 4 consumers share a small ring,
// and checks that every value arrives exactly once and that each consumer
// sees each producer's values in order.
func TestRingConcurrent(t *testing.T) {
	const producers, consumers = 4, 4
	each := 200_000
	if raceOn {
		each = 20_000
	}
	var r ring[[2]int]
	r.init(16)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				for {
					if ok, _ := r.push([2]int{p, i}, ringClosed); ok {
						break
					}
					runtime.Gosched()
				}
			}
		})
	}
	seen := make([][]int, consumers) // per consumer: count per producer
	bad := make([]string, consumers)
	var got sync.WaitGroup
	total := make(chan int, consumers)
	for c := range consumers {
		seen[c] = make([]int, producers)
		last := make([]int, producers)
		for i := range last {
			last[i] = -1
		}
		got.Go(func() {
			n := 0
			for {
				v, ok := r.pop(0)
				if !ok {
					if r.enq.Load()&ringClosed != 0 && r.drained() {
						break
					}
					runtime.Gosched()
					continue
				}
				p, i := v[0], v[1]
				if i <= last[p] && bad[c] == "" {
					bad[c] = "out of order"
				}
				last[p] = i
				seen[c][p]++
				n++
			}
			total <- n
		})
	}
	wg.Wait()
	setFlag(&r.enq, ringClosed)
	got.Wait()
	close(total)
	sum := 0
	for n := range total {
		sum += n
	}
	if sum != producers*each {
		t.Errorf("consumers got %d values, want %d", sum, producers*each)
	}
	for c, b := range bad {
		if b != "" {
			t.Errorf("consumer %d: producer values %s", c, b)
		}
	}
}
