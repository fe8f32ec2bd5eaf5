// Package ladder is the study's switch ladder: what it costs to pass control
// from one flow of execution to another, from a plain function call up to a
// switch between two processes, measured the same way for every rung.
//
// One switch is one transfer of control: a ping-pong round trip is two
// switches. Each row runs in a child process of its own, with its own
// GOMAXPROCS and CPU affinity, so that rows cannot disturb one another or
// the harness. A row is timed in batches of n switches, n chosen so that a
// batch lasts about the target time; the table shows the median of the
// batches and their range.
//
// Rows plug in with Register, one call each; the rows that coop provides
// (asm's raw switch, ucontext.Swap, a sched task hand-off) live in coop.go.
package ladder

import (
	"fmt"
	"slices"
	"time"

	"github.com/coopgo/coop/asm"
)

// Row is one rung of the ladder.
type Row struct {
	Name string // "call", "ucontext.Swap", ...
	What string // what one switch is, for the table

	// CPUs is the affinity of the process that runs the row; nil: every
	// CPU. GOMAXPROCS is its GOMAXPROCS (0 means 1).
	CPUs       []int
	GOMAXPROCS int

	// Run makes n switches, calling t.Start just before the first and
	// t.Stop just after the last, so that set-up is not timed. It runs in
	// the row's own process.
	Run func(n int, t *Timer) error

	// Probe, if set, runs once after timing, in the harness, and returns a
	// note for the row (swapcontext's rt_sigprocmask count).
	Probe func() (string, error)

	// Skip, if not empty, says why the row cannot run; it prints as
	// "skipped: <Skip>".
	Skip string
}

var rows []Row

// Register adds a row. Rows print in the order of the ladder (order below),
// then in registration order.
func Register(r Row) {
	if _, dup := Lookup(r.Name); dup {
		panic(fmt.Sprintf("ladder: row %q registered twice", r.Name))
	}
	if r.Run == nil && r.Skip == "" {
		panic(fmt.Sprintf("ladder: row %q has neither Run nor Skip", r.Name))
	}
	rows = append(rows, r)
}

// order is the ladder from the cheapest rung to the dearest.
var order = []string{
	"call", "interface step", "asm.Switch", "ucontext.Swap", "sched hand-off", "iter.Pull",
	"chan GOMAXPROCS=1", "chan GOMAXPROCS=2", "null syscall", "swapcontext (glibc)",
	"threads chan pinned", "threads chan", "threads pipe pinned", "threads pipe",
	"processes pipe pinned", "processes pipe",
}

// Rows returns every row in ladder order.
func Rows() []Row {
	out := slices.Clone(rows)
	rank := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(out, func(a, b Row) int { return rank(a.Name) - rank(b.Name) })
	return out
}

// Lookup finds a row by name.
func Lookup(name string) (Row, bool) {
	for _, r := range rows {
		if r.Name == name {
			return r, true
		}
	}
	return Row{}, false
}

// Timer times a batch of switches in nanoseconds and in hardware ticks
// (asm.Ticks: RDTSC on amd64, CNTVCT_EL0 on arm64).
type Timer struct {
	t0, t1 time.Time
	k0, k1 uint64
}

// Start starts the timer.
func (t *Timer) Start() {
	t.t0 = time.Now()
	t.k0 = asm.Ticks()
}

// Stop stops the timer.
func (t *Timer) Stop() {
	t.k1 = asm.Ticks()
	t.t1 = time.Now()
}

// NS returns the time between Start and Stop.
func (t *Timer) NS() int64 { return int64(t.t1.Sub(t.t0)) }

// Ticks returns the hardware ticks between Start and Stop.
func (t *Timer) Ticks() uint64 { return t.k1 - t.k0 }
