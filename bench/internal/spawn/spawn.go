//go:build linux

// Package spawn measures what a flow of execution costs to create and to
// keep: create+run+exit per goroutine, per user context, per coroutine; and
// the memory of 100,000 of them suspended at once.
//
// Each measurement runs in a child process of its own (fresh heap, pinned
// to one CPU, GOMAXPROCS=1), so that memory deltas are not blurred by the
// harness's own allocations.
//
// Memory is reported two ways: the Go runtime's view (runtime.MemStats,
// Sys − HeapReleased: memory the runtime holds from the OS, after a GC) and
// the kernel's (the process's anonymous PSS from /proc/self/smaps_rollup).
// Both are deltas from before the 100,000 were created, divided by 100,000.
package spawn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	ucontext "github.com/coopgo/coop/context"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// Kind is one way of making a flow of execution.
type Kind struct {
	Name string
	What string
	// Spawn creates, runs to completion and disposes of n of them, one at a
	// time, and returns the elapsed nanoseconds.
	Spawn func(n int) (int64, error)
	// Park creates n suspended ones, calls measure while they all exist,
	// then releases them.
	Park func(n int, measure func()) error
	Skip string
}

var kinds []Kind

// Register adds a kind; the coop rows plug in here.
func Register(k Kind) { kinds = append(kinds, k) }

// order is the row order of the tables; kinds not listed follow.
var order = []string{"goroutine", "ucontext", "sched task", "iter.Pull"}

// Kinds returns the kinds in table order.
func Kinds() []Kind {
	out := slices.Clone(kinds)
	rank := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(out, func(a, b Kind) int { return rank(a.Name) - rank(b.Name) })
	return out
}

func lookup(name string) (Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

func init() {
	Register(Kind{Name: "goroutine", What: "go f() + completion signal on a channel; parked: blocked on a channel receive", Spawn: spawnGoroutines, Park: parkGoroutines})
	Register(Kind{Name: "ucontext", What: "ucontext.Make + Swap to it, returning to its link; parked: suspended in Swap", Spawn: spawnContexts, Park: parkContexts})
	Register(Kind{Name: "iter.Pull", What: "iter.Pull + next + stop; parked: suspended in yield", Spawn: spawnPulls, Park: parkPulls})
	child.Register(role, childMain)
}

func spawnGoroutines(n int) (int64, error) {
	done := make(chan struct{})
	t0 := time.Now()
	for range n {
		go func() { done <- struct{}{} }()
		<-done
	}
	return int64(time.Since(t0)), nil
}

func parkGoroutines(n int, measure func()) error {
	release := make(chan struct{})
	started := make(chan struct{}, n)
	for range n {
		go func() {
			started <- struct{}{}
			<-release
		}()
	}
	for range n {
		<-started
	}
	measure()
	close(release)
	return nil
}

func spawnContexts(n int) (ns int64, err error) {
	ucontext.Run(func() {
		main := ucontext.Current()
		f := func() {}
		t0 := time.Now()
		for range n {
			ucontext.Swap(ucontext.Make(f, main))
		}
		ns = int64(time.Since(t0))
	})
	return ns, nil
}

func parkContexts(n int, measure func()) error {
	ucontext.Run(func() {
		main := ucontext.Current()
		f := func() { ucontext.Swap(main) }
		// Each context runs once and suspends itself in Swap: it then
		// holds its goroutine. (A context made but never run holds none.)
		for range n {
			ucontext.Swap(ucontext.Make(f, main))
		}
		measure()
		// Returning ends the Run, which unwinds the suspended contexts.
	})
	return nil
}

func spawnPulls(n int) (int64, error) {
	seq := func(yield func(int) bool) { yield(1) }
	t0 := time.Now()
	for range n {
		next, stop := iter.Pull(seq)
		next()
		stop()
	}
	return int64(time.Since(t0)), nil
}

func parkPulls(n int, measure func()) error {
	seq := func(yield func(int) bool) { yield(1) }
	stops := make([]func(), 0, n)
	for range n {
		next, stop := iter.Pull(seq)
		next()
		stops = append(stops, stop)
	}
	measure()
	for _, stop := range stops {
		stop()
	}
	return nil
}

const role = "spawn"

// SpawnResult is create+run+exit per item.
type SpawnResult struct {
	Name    string `json:"name"`
	What    string `json:"what"`
	NS      Stat   `json:"ns_per_op"`
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
}

// MemResult is the memory of N suspended items.
type MemResult struct {
	Name     string  `json:"name"`
	What     string  `json:"what"`
	N        int     `json:"n"`
	GoBytes  float64 `json:"go_bytes_each"`    // runtime.MemStats Sys − HeapReleased delta / N
	PSSBytes float64 `json:"anon_pss_each"`    // anonymous PSS delta / N
	Stack    float64 `json:"stack_bytes_each"` // StackInuse delta / N
	Skipped  string  `json:"skipped,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// Stat is a median and range.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Spawn measures create+run+exit for kind k: reps batches of n.
func Spawn(k Kind, n, reps int) SpawnResult {
	r := SpawnResult{Name: k.Name, What: k.What, Skipped: k.Skip}
	if k.Skip != "" {
		return r
	}
	var out struct{ NS []float64 }
	if err := runChild(&out, "spawn", k.Name, strconv.Itoa(n), strconv.Itoa(reps)); err != nil {
		r.Error = err.Error()
		return r
	}
	s := slices.Clone(out.NS)
	slices.Sort(s)
	r.NS = Stat{Median: s[len(s)/2], Min: s[0], Max: s[len(s)-1]}
	return r
}

// Memory measures n suspended items of kind k.
func Memory(k Kind, n int) MemResult {
	r := MemResult{Name: k.Name, What: k.What, N: n, Skipped: k.Skip}
	if k.Skip != "" {
		return r
	}
	if err := runChild(&r, "park", k.Name, strconv.Itoa(n)); err != nil {
		r.Error = err.Error()
	}
	r.Name, r.What, r.N = k.Name, k.What, n
	return r
}

func runChild(out any, args ...string) error {
	cmd, err := child.Command(role, true, []string{"GOMAXPROCS=1"}, args...)
	if err != nil {
		return err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := child.Start(cmd); err != nil {
		return err
	}
	timer := time.AfterFunc(2*time.Minute, func() { child.Kill(cmd) })
	err = cmd.Wait()
	timer.Stop()
	child.Forget(cmd)
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return json.Unmarshal(stdout.Bytes(), out)
}

func childMain(args []string) error {
	if len(args) < 3 {
		return fmt.Errorf("want: spawn|park kind n [reps]")
	}
	k, ok := lookup(args[1])
	if !ok {
		return fmt.Errorf("no kind %q", args[1])
	}
	n, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	if err := rawsys.PinProcess(0); err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	switch args[0] {
	case "spawn":
		reps := 5
		if len(args) > 3 {
			if reps, err = strconv.Atoi(args[3]); err != nil {
				return err
			}
		}
		if _, err := k.Spawn(n / 10); err != nil { // warm-up
			return err
		}
		var out struct{ NS []float64 }
		for range reps {
			ns, err := k.Spawn(n)
			if err != nil {
				return err
			}
			out.NS = append(out.NS, float64(ns)/float64(n))
		}
		return enc.Encode(out)
	case "park":
		var r MemResult
		before, bs, err := memNow()
		if err != nil {
			return err
		}
		var merr error
		err = k.Park(n, func() {
			after, as, err := memNow()
			if err != nil {
				merr = err
				return
			}
			r.PSSBytes = float64(after.AnonPSS-before.AnonPSS) / float64(n)
			r.GoBytes = (float64(as.Sys-as.HeapReleased) - float64(bs.Sys-bs.HeapReleased)) / float64(n)
			r.Stack = (float64(as.StackInuse) - float64(bs.StackInuse)) / float64(n)
		})
		if err == nil {
			err = merr
		}
		if err != nil {
			return err
		}
		return enc.Encode(r)
	}
	return fmt.Errorf("unknown action %q", args[0])
}

// memNow collects garbage and reads both views of memory.
func memNow() (rawsys.Mem, runtime.MemStats, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m, err := rawsys.Memory(os.Getpid())
	return m, ms, err
}
