package sched_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coopgo/coop/sched"
)

// TestBufferPoolClasses: Get rounds up to a size class and lends the
// buffer given back last; odd and oversized buffers are not kept.
func TestBufferPoolClasses(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		p := s.Buffers()
		type got struct{ Len, Cap int }
		var caps []got
		for _, n := range []int{0, 1, 512, 513, 4000, 16 << 10, 64 << 10, 64<<10 + 1} {
			b := p.Get(n)
			caps = append(caps, got{len(b), cap(b)})
		}
		want := []got{{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {4000, 4096},
			{16 << 10, 16 << 10}, {64 << 10, 64 << 10}, {64<<10 + 1, 64<<10 + 1}}
		if diff := cmp.Diff(want, caps); diff != "" {
			t.Errorf("Get's lengths and capacities (-want +got):\n%s", diff)
		}

		a, b := p.Get(3000), p.Get(3000)
		p.Put(a)
		p.Put(b)
		if c := p.Get(2049); &c[:1][0] != &b[:1][0] {
			t.Error("Get did not lend the buffer given back last")
		}
		if c := p.Get(4096); &c[:1][0] != &a[:1][0] {
			t.Error("the second Get did not lend the buffer given back first")
		}
		if n := p.Len(); n != 0 {
			t.Errorf("pool keeps %d buffers after lending both back out, want 0", n)
		}
		p.Put(make([]byte, 100, 3000)) // not a class size
		p.Put(make([]byte, 128<<10))   // beyond the largest class
		p.Put(make([]byte, 10, 256))   // below the smallest
		p.Put(nil)
		if n := p.Len(); n != 0 {
			t.Errorf("pool kept %d buffers it should have dropped", n)
		}
	})
}

// TestBufferPoolBound: a class keeps at most 256 KiB; the rest of a burst
// goes to the garbage collector.
func TestBufferPoolBound(t *testing.T) {
	runTasks(t, func(s *sched.Scheduler) {
		p := s.Buffers()
		var lent [][]byte
		for range 100 {
			lent = append(lent, p.Get(16<<10))
		}
		for _, b := range lent {
			p.Put(b)
		}
		if n := p.Len(); n != 16 {
			t.Errorf("after a burst of 100 16-KiB buffers the pool keeps %d, want 16 (256 KiB)", n)
		}
	})
}

// TestBufferPoolOffThread: the pool belongs to its scheduler's thread.
func TestBufferPoolOffThread(t *testing.T) {
	s := sched.New()
	for name, fn := range map[string]func(){
		"Get": func() { s.Buffers().Get(10) },
		"Put": func() { s.Buffers().Put(make([]byte, 512)) },
		"Len": func() { s.Buffers().Len() },
	} {
		want := "sched: BufferPool." + name + " must be called from a task of its scheduler"
		if got := panicValue(fn); got != want {
			t.Errorf("%s off the thread: panic %q, want %q", name, got, want)
		}
	}
}
