package coro

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/coopgo/coop/asm"
)

// The tests drive a Group through a small client, harness: a worker's Data
// is a job, whose fn is the work. Work switches by sw, swOut or swResume,
// which unwind the job (panic errUnwind, recovered in Work) when the engine
// says the worker must exit. When a job's fn returns, its worker puts
// itself and switches to job.then, or to the host.
//
// Assertions made on worker goroutines use t.Errorf, never t.Fatal: a
// FailNow would Goexit the worker, which is a different test.

type job struct {
	fn   func(c *Coro[*job])
	then *Coro[*job] // where the worker goes when fn returns; nil: the host
	tag  int         // the client's mark, checked by TestConcurrentGroups
}

type harness struct {
	t testing.TB
	g Group[*job]

	enters, leaves []*Coro[*job] // Enter and Leave calls, in order
	goids          map[*Coro[*job]]uint64
	shared         bool  // other groups run concurrently: end checks only our goroutines
	panics         []any // panics of jobs other than errUnwind
}

type unwindSignal struct{}

var errUnwind = &unwindSignal{}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, goids: map[*Coro[*job]]uint64{}}
	h.g.Init(h)
	if h.g.Host.G != asm.G() || h.g.Cur != &h.g.Host || h.g.Ending {
		t.Errorf("after Init: Host.G %#x (want %#x), Cur is host %v, Ending %v",
			h.g.Host.G, asm.G(), h.g.Cur == &h.g.Host, h.g.Ending)
	}
	h.g.Enter = func(c *Coro[*job]) {
		if c.G == 0 || c.G != asm.G() {
			t.Errorf("Enter: c.G = %#x, running on %#x", c.G, asm.G())
		}
		h.enters = append(h.enters, c)
		h.goids[c] = goid()
	}
	h.g.Leave = func(c *Coro[*job]) {
		if c.G == 0 || c.G != asm.G() {
			t.Errorf("Leave: c.G = %#x, running on %#x", c.G, asm.G())
		}
		if id := goid(); id != h.goids[c] {
			t.Errorf("Leave on goroutine %d, Enter was on %d", id, h.goids[c])
		}
		if h.g.Ending && h.g.victim != c {
			// Each round of End exits exactly the worker it names.
			t.Errorf("Leave: worker %p exits during End, but End named %p", c, h.g.victim)
		}
		h.leaves = append(h.leaves, c)
	}
	t.Cleanup(func() {
		// A test that failed with workers left: end them, if the test
		// goroutine is the host, so as not to disturb the next test.
		if h.g.Host.G == asm.G() && h.g.live != nil {
			h.g.End()
		}
	})
	return h
}

// Work implements Worker.
func (h *harness) Work(c *Coro[*job]) bool {
	if h.g.Ending {
		// A worker first started by End: it may only exit.
		return true
	}
	if h.g.Cur != c {
		h.t.Errorf("Work: Cur = %p, want the worker %p", h.g.Cur, c)
	}
	h.checkRunning("Work")
	j := c.Data
	if h.run(c, j) || h.g.Ending {
		return true
	}
	h.g.Put(c)
	to := j.then
	if to == nil {
		to = &h.g.Host
	}
	return h.g.Switch(to)
}

func (h *harness) run(c *Coro[*job], j *job) (exit bool) {
	defer func() {
		if p := recover(); p != nil {
			if p == errUnwind {
				exit = true
				return
			}
			h.panics = append(h.panics, p)
			h.t.Errorf("job panicked: %v", p)
		}
	}()
	j.fn(c)
	return false
}

// start returns a worker (new or idle) that will run fn.
func (h *harness) start(fn func(c *Coro[*job])) *Coro[*job] {
	c := h.g.Get()
	c.Data = &job{fn: fn}
	return c
}

// checkRunning checks that Running names the caller, which runs.
func (h *harness) checkRunning(where string) {
	if !h.g.Running(asm.G()) {
		h.t.Errorf("%s: Running(the caller's token %#x) = false; the token kept is %#x", where, asm.G(), h.g.running.Load())
	}
}

// sw is Switch; it unwinds the caller if it must exit.
func (h *harness) sw(to *Coro[*job]) {
	if h.g.Switch(to) {
		panic(errUnwind)
	}
	h.checkRunning("after Switch")
}

// swOut is the written-out Switch of the hot paths of ucontext and sched:
// Prepare, an inlined Resume, Resumed.
func (h *harness) swOut(to *Coro[*job]) {
	g := &h.g
	if g.Ending {
		h.sw(to)
		return
	}
	in := to.In()
	from := g.Prepare(to)
	if g.Cur != to || to.In() != nil || from.In() != in {
		h.t.Errorf("Prepare: Cur %p, to.In() %p, from.In() %p; want %p, nil, %p", g.Cur, to.In(), from.In(), to, in)
	}
	if s := from.In(); s.Pending() {
		s.Yield()
	} else {
		s.Next()
	}
	if g.Ending && g.Resumed(from) {
		panic(errUnwind)
	}
	h.checkRunning("after a written-out switch")
}

// swResume is Switch through the out-of-line Slot.Resume.
func (h *harness) swResume(to *Coro[*job]) {
	g := &h.g
	if g.Ending {
		h.sw(to)
		return
	}
	from := g.Prepare(to)
	from.In().Resume()
	if g.Resumed(from) {
		panic(errUnwind)
	}
	h.checkRunning("after Resume")
}

// swBy switches to to in one of the three ways.
func (h *harness) swBy(how int, to *Coro[*job]) {
	switch how % 3 {
	case 0:
		h.sw(to)
	case 1:
		h.swOut(to)
	default:
		h.swResume(to)
	}
}

// end ends the group and checks what End promises: no worker left, every
// started worker left once, the host running.
func (h *harness) end() {
	t := h.t
	t.Helper()
	h.g.End()
	if h.g.Running(asm.G()) {
		t.Errorf("after End: Running(the host's token) = true")
	}
	if w, idle := h.g.Live(); w != 0 || idle != 0 {
		t.Errorf("after End: Live() = %d, %d; want 0, 0", w, idle)
	}
	if h.g.HasIdle() {
		t.Errorf("after End: HasIdle() = true")
	}
	if h.g.Cur != &h.g.Host || h.g.Host.In() != nil {
		t.Errorf("after End: Cur is not the host, or the host is blocked in a slot")
	}
	if h.g.live != nil || h.g.idle != nil {
		t.Errorf("after End: live or idle list not empty")
	}
	if len(h.leaves) != len(h.enters) {
		t.Errorf("after End: %d workers entered, %d left", len(h.enters), len(h.leaves))
	}
	for _, c := range h.enters {
		if n := count(h.leaves, c); n != 1 {
			t.Errorf("worker %p left %d times", c, n)
		}
		if c.G != 0 {
			t.Errorf("worker %p: G = %#x after its exit, want 0", c, c.G)
		}
	}
	ids := make([]uint64, 0, len(h.goids))
	for _, id := range h.goids {
		ids = append(ids, id)
	}
	noGoroutines(t, ids, !h.shared)
}

func count[E comparable](s []E, e E) (n int) {
	for _, x := range s {
		if x == e {
			n++
		}
	}
	return n
}

// goid returns the runtime's id of the calling goroutine. Unlike asm.G,
// ids are never reused.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	b = b[:bytes.IndexByte(b, ' ')]
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

func allStacks() []byte {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// bodyFrame is how a worker's body appears in a traceback.
const bodyFrame = "internal/coro.(*Coro[...]).body("

// noGoroutines fails unless, within a bounded wait, no goroutine with one
// of the ids, nor if anyBody any worker body at all, is left in the
// goroutine dump.
func noGoroutines(t testing.TB, ids []uint64, anyBody bool) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(2 * time.Second); ; {
		left = left[:0]
		dump := allStacks()
		for _, id := range ids {
			if bytes.Contains(dump, fmt.Appendf(nil, "goroutine %d [", id)) {
				left = append(left, fmt.Sprintf("goroutine %d", id))
			}
		}
		if anyBody && bytes.Contains(dump, []byte(bodyFrame)) {
			left = append(left, "a worker body")
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("after End, still alive: %v\n%s", left, allStacks())
	}
}

type event struct{ who, step int }

const host = -1

// TestPingPong passes control between the host and one worker.
func TestPingPong(t *testing.T) {
	h := newHarness(t)
	const n = 100
	var log []event
	var w *Coro[*job]
	w = h.start(func(c *Coro[*job]) {
		if c != w {
			t.Errorf("Work got %p, want %p", c, w)
		}
		for i := range n {
			log = append(log, event{0, i})
			if h.g.Cur != w {
				t.Errorf("worker step %d: Cur is not the worker", i)
			}
			h.swBy(i, &h.g.Host)
		}
	})
	if w.G != 0 || len(h.enters) != 0 {
		t.Fatalf("Get started the worker's goroutine before the first switch")
	}
	for i := range n {
		log = append(log, event{host, i})
		h.swBy(i+1, w)
		if h.g.Cur != &h.g.Host {
			t.Fatalf("host step %d: Cur is not the host", i)
		}
	}
	var want []event
	for i := range n {
		want = append(want, event{host, i}, event{0, i})
	}
	if !slices.Equal(log, want) {
		t.Fatalf("order:\n got %v\nwant %v", log, want)
	}
	// The worker is still in its last switch; resume it to finish its job.
	h.sw(w)
	if wk, idle := h.g.Live(); wk != 1 || idle != 1 || !h.g.HasIdle() {
		t.Fatalf("after the job: Live() = %d, %d, HasIdle %v; want 1, 1, true", wk, idle, h.g.HasIdle())
	}
	if w.Data != nil {
		t.Errorf("Put did not clear Data")
	}
	h.end()
}

// TestRing runs rounds host -> w0 -> w1 -> ... -> host, half the workers
// switching with the written-out sequence. Each worker checks that it
// resumes where it was (its own round counter), and at the end each
// finished job hands control to the next worker, not the host.
func TestRing(t *testing.T) {
	h := newHarness(t)
	const nw, rounds = 5, 50
	var log []event
	ws := make([]*Coro[*job], nw)
	next := func(i int) *Coro[*job] {
		if i+1 == nw {
			return &h.g.Host
		}
		return ws[i+1]
	}
	finished := 0
	for i := range ws {
		ws[i] = h.start(func(c *Coro[*job]) {
			g := asm.G()
			r := 0
			for ; r < rounds; r++ {
				log = append(log, event{i, r})
				if asm.G() != g || c.G != g {
					t.Errorf("worker %d moved goroutine", i)
				}
				h.swBy(i, next(i))
			}
			if r != rounds {
				t.Errorf("worker %d: lost its state", i)
			}
			finished++
		})
	}
	for i := range ws {
		ws[i].Data.then = next(i)
	}
	for r := range rounds {
		log = append(log, event{host, r})
		h.sw(ws[0])
	}
	var want []event
	for r := range rounds {
		want = append(want, event{host, r})
		for i := range nw {
			want = append(want, event{i, r})
		}
	}
	if !slices.Equal(log, want) {
		t.Fatalf("order:\n got %v\nwant %v", log, want)
	}
	// One more lap: every job returns, puts its worker and passes on.
	log = log[:0]
	h.sw(ws[0])
	if finished != nw || len(log) != 0 {
		t.Fatalf("last lap: %d jobs finished, log %v", finished, log)
	}
	if wk, idle := h.g.Live(); wk != nw || idle != nw {
		t.Fatalf("Live() = %d, %d; want %d, %d", wk, idle, nw, nw)
	}
	h.end()
}

// TestRandomSchedule follows a seeded random sequence of participants, each
// switch made in one of the three ways. The log must be the schedule, and
// each worker must run on one goroutine throughout.
func TestRandomSchedule(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			randomSchedule(t, seed, 6, 2000)
		})
	}
}

// randomSchedule runs a random schedule of steps over nw workers and the
// host, ending on the host, then ends the group with the workers blocked
// wherever the schedule left them.
func randomSchedule(t *testing.T, seed uint64, nw, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x636f726f))
	hostID := nw
	sched := []int{hostID}
	for len(sched) < steps {
		if p := rng.IntN(nw + 1); p != sched[len(sched)-1] {
			sched = append(sched, p)
		}
	}
	if sched[len(sched)-1] != hostID {
		sched = append(sched, hostID)
	}
	how := make([]int, len(sched))
	for i := range how {
		how[i] = rng.IntN(3)
	}

	h := newHarness(t)
	ws := make([]*Coro[*job], nw)
	part := func(id int) *Coro[*job] {
		if id == hostID {
			return &h.g.Host
		}
		return ws[id]
	}
	var (
		log      []int
		k        int
		resumes  = make([]int, nw+1)
		unwound  = make([]int, nw)
		afterEnd int
	)
	// step runs step k as participant id and switches to the next one.
	step := func(id int) {
		if sched[k] != id {
			t.Errorf("step %d: %d runs, schedule says %d", k, id, sched[k])
		}
		if h.g.Cur != part(id) || part(id).In() != nil {
			t.Errorf("step %d: Cur is not participant %d, or it is blocked in a slot", k, id)
		}
		for j := range nw + 1 {
			if p := part(j); j != id && p.In() == nil && p.G != 0 {
				t.Errorf("step %d: participant %d runs, %d is in no slot", k, id, j)
			}
		}
		log = append(log, id)
		resumes[id]++
		k++
		if k == len(sched) {
			return
		}
		h.swBy(how[k], part(sched[k]))
	}
	for i := range ws {
		ws[i] = h.start(func(c *Coro[*job]) {
			g, id := asm.G(), goid()
			defer func() {
				unwound[i]++
				if asm.G() != g || goid() != id {
					t.Errorf("worker %d unwound on another goroutine", i)
				}
			}()
			for {
				if asm.G() != g || c.G != g {
					t.Errorf("worker %d resumed on another goroutine", i)
				}
				step(i)
				if h.g.Ending {
					afterEnd++
				}
			}
		})
	}
	for k < len(sched) {
		step(hostID)
	}
	if !slices.Equal(log, sched) {
		t.Fatalf("log differs from schedule (seed %d)", seed)
	}
	for id := range resumes {
		if want := count(sched, id); resumes[id] != want {
			t.Errorf("participant %d ran %d times, want %d", id, resumes[id], want)
		}
	}
	started := 0
	for i := range nw {
		if count(sched, i) > 0 {
			started++
		}
	}
	if len(h.enters) != started {
		t.Errorf("%d goroutines entered, %d workers were scheduled", len(h.enters), started)
	}
	h.end()
	for i := range nw {
		want := 0
		if count(sched, i) > 0 {
			want = 1
		}
		if unwound[i] != want {
			t.Errorf("worker %d unwound %d times, want %d", i, unwound[i], want)
		}
	}
	if afterEnd != 0 {
		t.Errorf("%d steps ran after End began", afterEnd)
	}
	if len(log) != len(sched) {
		t.Errorf("End let workers run: log grew by %d", len(log)-len(sched))
	}
}

// TestEndRandom ends groups left in many random configurations: short
// schedules leave workers unstarted, blocked in each other's slots, and
// blocked on the host.
func TestEndRandom(t *testing.T) {
	for seed := range uint64(300) {
		randomSchedule(t, 1000+seed, 1+int(seed%5), 2+int(seed%23))
		if t.Failed() {
			t.Fatalf("seed %d", 1000+seed)
		}
	}
}

// TestDirectTransfer switches worker to worker without the host: a starts
// b, they pass control back and forth, each resuming where it was, and the
// host runs only when one of them switches to it. The switches are made
// in all three ways, by workers and by the host.
func TestDirectTransfer(t *testing.T) {
	h := newHarness(t)
	var log []string
	var a, b *Coro[*job]
	a = h.start(func(c *Coro[*job]) {
		x := "a-local"
		log = append(log, "a1")
		h.sw(b) // starts b: no host in between
		log = append(log, "a2:"+x)
		h.swOut(b)
		log = append(log, "a3:"+x)
		h.sw(&h.g.Host)
		log = append(log, "a4:"+x)
		h.swResume(b)
		log = append(log, "a5")
	})
	b = h.start(func(c *Coro[*job]) {
		y := 42
		log = append(log, "b1")
		h.swResume(a)
		log = append(log, fmt.Sprint("b2:", y))
		h.sw(a)
		log = append(log, fmt.Sprint("b3:", y))
		h.swOut(a)
		log = append(log, "b4")
	})
	log = append(log, "h1")
	h.sw(a)
	log = append(log, "h2")
	// a is blocked on the host; b is blocked in the slot a switched to it
	// through. Resume b from the host, then b resumes a directly.
	h.sw(b)
	log = append(log, "h3")
	want := []string{
		"h1", "a1", "b1", "a2:a-local", "b2:42", "a3:a-local", "h2",
		"b3:42", "a4:a-local", "b4", "h3",
	}
	if !slices.Equal(log, want) {
		t.Fatalf("order:\n got %q\nwant %q", log, want)
	}
	if h.goids[a] == h.goids[b] || a.G == b.G {
		t.Fatalf("a and b share a goroutine")
	}
	h.end()
	if slices.Contains(log, "a5") {
		t.Fatalf("End let a worker run on: %q", log)
	}
}

// TestReuse checks that a finished worker is handed out again with its
// goroutine, and that Get creates a goroutine only when none is idle.
func TestReuse(t *testing.T) {
	h := newHarness(t)
	type seen struct {
		c  *Coro[*job]
		g  uintptr
		id uint64
	}
	var runs []seen
	record := func(c *Coro[*job]) { runs = append(runs, seen{c, asm.G(), goid()}) }

	if h.g.HasIdle() {
		t.Fatal("HasIdle on a new group")
	}
	w := h.start(record)
	if wk, idle := h.g.Live(); wk != 1 || idle != 0 {
		t.Fatalf("after Get: Live() = %d, %d; want 1, 0", wk, idle)
	}
	if w.G != 0 || len(h.enters) != 0 {
		t.Fatal("Get started a goroutine")
	}
	h.sw(w)
	if wk, idle := h.g.Live(); wk != 1 || idle != 1 || !h.g.HasIdle() {
		t.Fatalf("after the job: Live() = %d, %d, HasIdle %v; want 1, 1, true", wk, idle, h.g.HasIdle())
	}
	g0, id0 := w.G, h.goids[w]
	ng := runtime.NumGoroutine()
	for i := range 100 {
		w2 := h.start(record)
		if w2 != w {
			t.Fatalf("round %d: Get returned a new worker with one idle", i)
		}
		if h.g.HasIdle() {
			t.Fatalf("round %d: HasIdle after taking the only idle worker", i)
		}
		if wk, idle := h.g.Live(); wk != 1 || idle != 0 {
			t.Fatalf("round %d: Live() = %d, %d; want 1, 0", i, wk, idle)
		}
		h.sw(w2)
	}
	// Goroutines of earlier tests may still be exiting: the count must
	// not grow.
	if n := runtime.NumGoroutine(); n > ng {
		t.Errorf("NumGoroutine went from %d to %d", ng, n)
	}
	if len(runs) != 101 || len(h.enters) != 1 {
		t.Fatalf("%d runs, %d goroutines entered; want 101, 1", len(runs), len(h.enters))
	}
	for i, r := range runs {
		if r.c != w || r.g != g0 || r.id != id0 {
			t.Fatalf("run %d on worker %p goroutine %d (%#x); want %p, %d (%#x)", i, r.c, r.id, r.g, w, id0, g0)
		}
	}

	// Several idle workers: Get hands them all out before creating one.
	runs = runs[:0]
	var ws []*Coro[*job]
	for range 3 {
		ws = append(ws, h.start(func(c *Coro[*job]) {
			record(c)
			h.sw(&h.g.Host) // stay busy until resumed
		}))
	}
	if wk, _ := h.g.Live(); wk != 3 {
		t.Fatalf("Live() workers = %d, want 3", wk)
	}
	for _, c := range ws {
		h.sw(c)
	}
	for _, c := range ws {
		h.sw(c) // finish: all three idle
	}
	if wk, idle := h.g.Live(); wk != 3 || idle != 3 {
		t.Fatalf("Live() = %d, %d; want 3, 3", wk, idle)
	}
	got := map[*Coro[*job]]bool{}
	for range 3 {
		got[h.start(record)] = true
	}
	for _, c := range ws {
		if !got[c] {
			t.Fatalf("idle worker %p was not handed out again", c)
		}
	}
	if h.g.HasIdle() {
		t.Fatal("HasIdle with every worker handed out")
	}
	if h.start(record) == nil || len(h.enters) != 3 {
		t.Fatal("Get with no idle worker")
	}
	if wk, idle := h.g.Live(); wk != 4 || idle != 0 {
		t.Fatalf("Live() = %d, %d; want 4, 0", wk, idle)
	}
	h.end()
}

// TestEnd blocks workers mid-work in several ways and checks that End
// unwinds each one (its deferred calls run, its work goes no further) and
// leaves no goroutine behind.
func TestEnd(t *testing.T) {
	h := newHarness(t)
	var deferred, after []string
	blocked := func(name string, to func() *Coro[*job]) func(c *Coro[*job]) {
		return func(c *Coro[*job]) {
			defer func() { deferred = append(deferred, name) }()
			h.sw(to())
			after = append(after, name)
		}
	}
	hostOf := func() *Coro[*job] { return &h.g.Host }

	// On the host.
	h1 := h.start(blocked("h1", hostOf))
	h.sw(h1)
	// A chain a -> b -> c -> host, each starting the next: a waits in b's
	// own slot, b in c's, so End's exits wake workers other than the host.
	var a, b, c *Coro[*job]
	a = h.start(blocked("a", func() *Coro[*job] { return b }))
	b = h.start(blocked("b", func() *Coro[*job] { return c }))
	c = h.start(blocked("c", hostOf))
	h.sw(a)
	// The reverse chain: z created first, so End picks it last.
	var x, y, z *Coro[*job]
	z = h.start(blocked("z", hostOf))
	y = h.start(blocked("y", func() *Coro[*job] { return z }))
	x = h.start(blocked("x", func() *Coro[*job] { return y }))
	h.sw(x)
	// Never started.
	never := h.start(func(*Coro[*job]) { t.Error("a job ran during End") })
	// A worker whose deferred call tries to switch during End: Switch
	// reports exit without transferring control.
	var deferSwitch []bool
	d := h.start(func(*Coro[*job]) {
		defer func() {
			// never has not started: a switch to it would start its
			// goroutine (Enter).
			n := len(h.enters)
			deferSwitch = append(deferSwitch, h.g.Switch(never), h.g.Switch(h1), h.g.Switch(&h.g.Host))
			if len(h.enters) != n {
				t.Error("a Switch in a deferred call during End started a worker")
			}
		}()
		h.sw(&h.g.Host)
		after = append(after, "d")
	})
	h.sw(d)
	// Idle: finished and put (created last, so that no Get reuses it).
	idle := h.start(func(*Coro[*job]) {})
	h.sw(idle)

	if wk, idl := h.g.Live(); wk != 10 || idl != 1 {
		t.Fatalf("before End: Live() = %d, %d; want 10, 1", wk, idl)
	}
	if len(deferred) != 0 || len(after) != 0 {
		t.Fatalf("before End: deferred %q, after %q", deferred, after)
	}
	h.end()
	slices.Sort(deferred)
	if want := []string{"a", "b", "c", "h1", "x", "y", "z"}; !slices.Equal(deferred, want) {
		t.Errorf("deferred calls run: %q, want %q", deferred, want)
	}
	if len(after) != 0 {
		t.Errorf("End let work continue: %q", after)
	}
	if !slices.Equal(deferSwitch, []bool{true, true, true}) {
		t.Errorf("Switch in a deferred call during End = %v, want [true true true]", deferSwitch)
	}
	if !slices.Contains(h.leaves, never) || !slices.Contains(h.leaves, idle) {
		t.Errorf("an idle or never-run worker did not leave")
	}
	// End on an ended group has nothing to do (ucontext ends twice).
	h.g.End()
	if wk, _ := h.g.Live(); wk != 0 {
		t.Errorf("second End: Live() = %d", wk)
	}
}

// TestEndEmpty ends groups that never had, or no longer have, a worker.
func TestEndEmpty(t *testing.T) {
	h := newHarness(t)
	h.end()
	h = newHarness(t)
	w := h.start(func(*Coro[*job]) {})
	h.end() // never started: End starts it only to exit it
	if len(h.enters) != 1 || h.enters[0] != w {
		t.Fatalf("enters = %v", h.enters)
	}
}

// TestGoexit: a worker calls runtime.Goexit. Its deferred calls run, it
// parks on the host (Goexiting reports it), End exits the other workers
// first and it last, and the host Goexits.
func TestGoexit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		others int
		direct bool // a worker, not the host, switches to the one that Goexits
		last   bool // the worker that Goexits is created after the others
	}{
		{"alone", 0, false, false},
		{"others", 3, false, false},
		{"others/created last", 3, false, true},
		{"from worker", 3, true, false},
		{"from worker/created last", 3, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				h          *harness
				goexiter   *Coro[*job]
				others     []*Coro[*job]
				deferred   []string
				after      []string
				endDone    bool
				hostDefers bool
				parked     *Coro[*job]
			)
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer func() { hostDefers = true }()
				h = newHarness(t)
				mkGoexiter := func() {
					goexiter = h.start(func(*Coro[*job]) {
						defer func() { deferred = append(deferred, "goexiter") }()
						runtime.Goexit()
						after = append(after, "goexiter")
					})
				}
				if !tc.last {
					mkGoexiter()
				}
				for i := range tc.others {
					name := fmt.Sprint("other", i)
					others = append(others, h.start(func(*Coro[*job]) {
						defer func() { deferred = append(deferred, name) }()
						if tc.direct && i == 0 {
							h.sw(goexiter)
						} else {
							h.sw(&h.g.Host)
						}
						after = append(after, name)
					}))
				}
				if tc.last {
					mkGoexiter() // first in End's list: End must skip it
				}
				for i, o := range others {
					if !(tc.direct && i == 0) {
						h.sw(o)
					}
				}
				if h.g.Goexiting() != nil {
					t.Error("Goexiting before any Goexit")
				}
				if tc.direct {
					h.sw(others[0])
				} else {
					h.sw(goexiter)
				}
				// Back on the host: the worker parked here.
				parked = h.g.Goexiting()
				if h.g.Cur != &h.g.Host {
					t.Error("after the Goexit: Cur is not the host")
				}
				if !slices.Equal(deferred, []string{"goexiter"}) {
					t.Errorf("before End: deferred %q, want [goexiter]", deferred)
				}
				h.g.End()
				endDone = true
				runtime.Goexit()
				t.Error("host went on after Goexit")
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("host goroutine did not finish")
			}
			if parked != goexiter {
				t.Fatalf("Goexiting() = %p, want the worker %p", parked, goexiter)
			}
			if !hostDefers {
				t.Error("host's deferred calls did not run")
			}
			t.Logf("End returned to the host: %v", endDone)
			if len(after) != 0 {
				t.Errorf("work went on: %q", after)
			}
			if len(deferred) != 1+tc.others {
				t.Errorf("deferred calls run: %q", deferred)
			}
			if n := len(h.leaves); n == 0 || h.leaves[n-1] != goexiter {
				t.Errorf("the worker that Goexits did not leave last: %v", h.leaves)
			}
			if wk, idle := h.g.Live(); wk != 0 || idle != 0 {
				t.Errorf("Live() = %d, %d; want 0, 0", wk, idle)
			}
			var ids []uint64
			for _, id := range h.goids {
				ids = append(ids, id)
			}
			noGoroutines(t, ids, true)
		})
	}
}

// TestConcurrentGroups runs groups on several goroutines at once; each
// group's workers must only ever see that group (run with -race).
func TestConcurrentGroups(t *testing.T) {
	const groups, nw, switches = 8, 4, 1000
	var wg sync.WaitGroup
	errs := make([]error, groups)
	for gi := range groups {
		wg.Go(func() {
			h := newHarness(t)
			h.shared = true
			ws := make([]*Coro[*job], nw)
			n := 0
			var bad error
			for i := range ws {
				ws[i] = h.start(func(c *Coro[*job]) {
					for r := 0; ; r++ {
						if c.Data.tag != gi || h.g.Cur != c || c.G != asm.G() || c.grp != &h.g {
							bad = fmt.Errorf("group %d: worker %d sees another group", gi, i)
						}
						n++
						to := &h.g.Host
						if n < switches {
							to = ws[(i+1+r%2)%nw]
						}
						h.swBy(r+i, to)
					}
				})
				ws[i].Data.tag = gi
			}
			h.sw(ws[0])
			if n != switches {
				bad = fmt.Errorf("group %d: %d switches, want %d", gi, n, switches)
			}
			h.end()
			errs[gi] = bad
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkSwitch measures a host <-> worker round trip: two switches.
func BenchmarkSwitch(b *testing.B) {
	for _, bc := range []struct {
		name string
		how  int
	}{{"Switch", 0}, {"WrittenOut", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b)
			w := h.start(func(*Coro[*job]) {
				for {
					h.swBy(bc.how, &h.g.Host)
				}
			})
			h.sw(w)
			n := 0
			start := time.Now()
			for b.Loop() {
				h.swBy(bc.how, w)
				n++
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(2*n), "ns/switch")
			b.StopTimer()
			h.end()
		})
	}
}

// TestRunning: Running names the one participant that runs, the host or a
// worker, and no goroutine outside the group; nobody after End.
func TestRunning(t *testing.T) {
	h := newHarness(t)
	host := asm.G()
	h.checkRunning("host after Init")
	elsewhere := func(where string) {
		done := make(chan bool)
		go func() { done <- h.g.Running(asm.G()) }()
		if <-done {
			t.Errorf("%s: Running is true for a goroutine outside the group", where)
		}
	}
	elsewhere("host running")
	var w *Coro[*job]
	w = h.start(func(c *Coro[*job]) {
		h.checkRunning("worker")
		if h.g.Running(host) {
			t.Errorf("worker running: Running(the host's token) = true")
		}
		elsewhere("worker running")
		h.sw(&h.g.Host)
		h.checkRunning("worker resumed")
	})
	h.sw(w)
	if h.g.Running(w.G) {
		t.Errorf("host running: Running(the worker's token) = true")
	}
	h.sw(w) // the worker returns, exits its job and switches back
	h.checkRunning("host after the worker's job")
	h.end()
	elsewhere("after End")
}

// TestPrefetchAddrs: what a scheduler prefetches ahead of a switch. A
// blocked participant's callAddr is the closure (funcval) that its slot's
// alternation calls next, yield after next and next after yield: its
// first word is that function's code. A running participant has none. G,
// SP and in, which the prefetches read from a participant asked for as
// two lines from its own (a Coro is not line-aligned), sit in its first
// 32 bytes.
func TestPrefetchAddrs(t *testing.T) {
	var c Coro[*job]
	for name, end := range map[string]uintptr{
		"G":  unsafe.Offsetof(c.G) + unsafe.Sizeof(c.G),
		"SP": unsafe.Offsetof(c.SP) + unsafe.Sizeof(c.SP),
		"in": unsafe.Offsetof(c.in) + unsafe.Sizeof(c.in),
	} {
		if end > 32 {
			t.Errorf("Coro.%s ends at byte %d, past the first 32", name, end)
		}
	}
	h := newHarness(t)
	check := func(what string, p *Coro[*job]) {
		s := p.in
		a := p.callAddr()
		if s == nil {
			if a != nil {
				t.Errorf("%s: running, callAddr %p, want nil", what, a)
			}
			return
		}
		code := reflect.ValueOf(s.next).Pointer()
		if s.pending {
			code = reflect.ValueOf(s.yield).Pointer()
		}
		if a == nil || *(*uintptr)(a) != code {
			t.Errorf("%s: callAddr %p is not the closure of %#x (pending %v)", what, a, code, s.pending)
		}
	}
	var w *Coro[*job]
	w = h.start(func(c *Coro[*job]) {
		for i := range 3 {
			check(fmt.Sprintf("step %d, the host", i), &h.g.Host)
			check(fmt.Sprintf("step %d, the worker", i), w)
			h.swBy(i, &h.g.Host)
		}
	})
	for i := range 3 {
		h.swBy(i+1, w)
		check(fmt.Sprintf("round %d, the host", i), &h.g.Host)
		check(fmt.Sprintf("round %d, the worker", i), w)
		w.PrefetchIn()
		w.PrefetchCall()
		w.PrefetchCallees()
	}
	h.sw(w)
	h.end()
}
