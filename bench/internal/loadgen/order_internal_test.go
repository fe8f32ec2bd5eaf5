//go:build linux

package loadgen

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sendRounds dials n connections to an echo server, lets the open loop send
// rounds×n requests in order o (seed 1), all due at once, and returns the
// connections' ids in the order their requests were scheduled.
func sendRounds(t *testing.T, o Order, seed uint64, n, rounds int) []uint32 {
	t.Helper()
	cl, err := Dial(Config{Mode: Session, Addr: Serve(t, echoAll), Conns: n, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	c := cl.c
	c.cfg.Mode, c.cfg.Rate, c.cfg.Order, c.cfg.Seed = Open, 1000, o, seed
	for _, k := range c.conns {
		k.state = stRunning
	}
	c.setOrder()
	const period = int64(time.Millisecond)
	total := n * rounds
	now := c.now()
	c.next, c.period = 0, float64(period)
	c.t0 = now - int64(total-1)*period - period/2 // requests 0..total-1 are due
	if _, err := c.sendDue(now); err != nil {
		t.Fatal(err)
	}
	if c.next != uint64(total) {
		t.Fatalf("sent %d requests, want %d", c.next, total)
	}
	seq := make([]uint32, total)
	for _, k := range c.conns {
		for _, s := range k.sched[k.head:] {
			seq[(s-c.t0)/period] = k.id
		}
	}
	if err := c.drain(); err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestOpenLoopOrder: in rotation every round visits the connections in the
// order they were opened; in random order every round visits each
// connection once, in an order of its own drawn from the seed.
func TestOpenLoopOrder(t *testing.T) {
	const n, rounds = 32, 3
	opened := make([]uint32, n)
	for i := range opened {
		opened[i] = uint32(i)
	}
	rot := sendRounds(t, Rotation, 1, n, rounds)
	for r := range rounds {
		if diff := cmp.Diff(opened, rot[r*n:(r+1)*n]); diff != "" {
			t.Errorf("rotation, round %d (-want +got):\n%s", r, diff)
		}
	}

	rnd := sendRounds(t, Random, 1, n, rounds)
	for r := range rounds {
		round := rnd[r*n : (r+1)*n]
		if sorted := slices.Sorted(slices.Values(round)); !slices.Equal(sorted, opened) {
			t.Errorf("random, round %d: %v is not every connection once", r, round)
		}
		if slices.Equal(round, opened) {
			t.Errorf("random, round %d: the order the connections were opened in", r)
		}
		if r > 0 && slices.Equal(round, rnd[(r-1)*n:r*n]) {
			t.Errorf("random, round %d: the same order as round %d", r, r-1)
		}
	}
	if again := sendRounds(t, Random, 1, n, rounds); !slices.Equal(again, rnd) {
		t.Errorf("random, seed 1 twice: %v, then %v", rnd, again)
	}
	if other := sendRounds(t, Random, 2, n, rounds); slices.Equal(other, rnd) {
		t.Errorf("random, seeds 1 and 2: the same order %v", rnd)
	}
}

// TestClosedLoopStartOrder: the closed loop starts its connections in the
// measurement's order: as opened, or a permutation drawn from the seed.
func TestClosedLoopStartOrder(t *testing.T) {
	cl, err := Dial(Config{Mode: Session, Addr: Serve(t, echoAll), Conns: 32, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	c := cl.c
	for _, o := range []Order{Rotation, Random} {
		if _, err := cl.Measure(Config{Mode: Closed, Order: o, Seed: 7, Interval: 10 * time.Millisecond, Intervals: 1}); err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		same := slices.Equal(c.order, c.conns)
		if o == Rotation && !same || o == Random && (same || len(c.order) != len(c.conns)) {
			t.Errorf("%s: started in order %v", o, ids(c.order))
		}
	}
}

func ids(ks []*conn) []uint32 {
	out := make([]uint32, len(ks))
	for i, k := range ks {
		out[i] = k.id
	}
	return out
}

func TestParseOrder(t *testing.T) {
	for in, want := range map[string]Order{"": Rotation, "rotation": Rotation, "random": Random} {
		if got, err := ParseOrder(in); err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseOrder("shuffle"); err == nil {
		t.Error(`ParseOrder("shuffle"): no error`)
	}
	if err := (&Config{Mode: Closed, Addr: "127.0.0.1:9", Conns: 1, Interval: time.Second, Intervals: 1, Order: "shuffle"}).check(); err == nil {
		t.Error(`a Config with Order "shuffle" passed its check`)
	}
}
