//go:build linux

package clients

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
)

// The shared-state part: the seed's hard case, several event-loop
// instances over one key space. examples/kv on one scheduler, on two
// schedulers that each own half of the keys and forward commands about
// the other's (Scheduler.Do), on the same two schedulers sharing one
// store under a sync.Mutex (-shared mutex), and the study's RESP server
// on package net (goroutines, a map behind a mutex) at GOMAXPROCS=2,
// under redis-benchmark with random keys (-r), so that about half of
// the two-scheduler servers' commands are about the other scheduler's
// keys.
//
// The two-core servers need both CPUs: they run on CPUs 0-1 and share
// CPU 1 with redis-benchmark; the one-scheduler server runs on CPU 0
// alone, as in the other tables. Server CPU per request is read from the
// kernel's accounting of all the server's threads, as elsewhere.

// SharedBase is the row the others are compared with: one scheduler.
const SharedBase = "kv 1 scheduler"

// twoCPUs is where the two-core servers run.
var twoCPUs = fmt.Sprintf("%d-%d", min(harness.ServerCPU, harness.ClientCPU), max(harness.ServerCPU, harness.ClientCPU))

var sharedSpecs = []spec{
	{name: SharedBase, proto: "resp", what: "examples/kv -cores 1 -mode task, GOMAXPROCS=1: every key on one thread",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.kv(addr, 1) }},
	{name: "kv 2 forwarded", proto: "resp", cpus: twoCPUs, what: "examples/kv -cores 2 -mode task, GOMAXPROCS=2: each scheduler owns the keys that hash to it and runs a command about the other's keys there (Scheduler.Do; the connection's task waits parked)",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.kv(addr, 2) }},
	{name: "kv 2 mutex", proto: "resp", cpus: twoCPUs, what: "examples/kv -cores 2 -mode task -shared mutex, GOMAXPROCS=2: both schedulers use one store under a sync.Mutex, nothing forwarded",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.kv(addr, 2, "-shared", "mutex") }},
	{name: "net-resp", proto: "resp", cpus: twoCPUs, what: "the study's minimal RESP server on package net (a goroutine per connection, a map behind a sync.Mutex), GOMAXPROCS=2",
		start: func(e *env, addr string) (*exec.Cmd, error) {
			return child.Command(netRESPRole, true, []string{"GOMAXPROCS=2"}, "-addr", addr)
		}},
}

// kv returns examples/kv's command in task mode with cores schedulers
// (GOMAXPROCS the same).
func (e *env) kv(addr string, cores int, args ...string) (*exec.Cmd, error) {
	if e.buildErr != nil {
		return nil, e.buildErr
	}
	cmd := child.External(e.bins["kv"], append([]string{"-addr", addr, "-mode", "task", "-cores", strconv.Itoa(cores)}, args...)...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cores))
	return cmd, nil
}

// SharedSteps is the number of progress steps RunShared reports.
func SharedSteps(p Plan) int {
	n := 1 // the build
	for _, sp := range sharedSpecs {
		n += 1 + len(sp.rows(p))
	}
	return n
}

// RunShared measures the shared-state rows as Run measures its RESP
// rows: every server runs throughout, a warm-up run against each, then
// Repeats rounds of one run of each test against each in turn.
func RunShared(p Plan, doing, step func(string)) []Result {
	e, done, setupErr := newEnv(p, "redis-benchmark")
	defer done()
	e.buildExamples(setupErr, "shared state: build examples/kv", doing, step, "kv")

	return e.serve(sharedSpecs, setupErr, e.runRESP, doing, step)
}
