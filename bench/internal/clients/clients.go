//go:build linux

// Package clients is the part of the study that uses real clients and C
// references: wrk against examples/http on coop, a net/http server and
// nginx; redis-benchmark against examples/kv on coop, a minimal RESP
// server on package net and redis-server. Every server runs pinned to the
// server CPU (its whole process tree: taskset before exec), every client
// to the client CPU; the server's CPU time is read from the kernel's
// accounting of all its processes just before and just after each
// measured run, and divided by the requests the client reports.
//
// The clients are closed-loop (each connection waits for its reply before
// the next request), so their latency figures are the client's own and
// not comparable with the open-loop table of the echo study.
//
// A tool that is not installed makes its rows say so; a server that
// fails its check before timing (an HTTP GET checking status and body, a
// RESP SET then GET) makes its rows print the error. No row disappears.
package clients

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/rawsys"
)

// Plan is what the part runs.
type Plan struct {
	Repeats int `json:"repeats"` // measured runs per row: the repeats behind each median
	// wrk: a warm-up run (0: none), then Repeats runs, all -t1 -cHTTPConns;
	// whole seconds (wrk's -d).
	HTTPWarmup time.Duration `json:"http_warmup_ns"`
	HTTPRun    time.Duration `json:"http_run_ns"`
	HTTPConns  int           `json:"http_conns"`
	// redis-benchmark: per pipeline depth, a warm-up run of SET and GET
	// with -n RESPWarmup×P, whose rates set -n of the measured runs so
	// that each lasts about RESPRun.
	RESPWarmup int           `json:"resp_warmup_requests"`
	RESPRun    time.Duration `json:"resp_run_ns"`
	RESPConns  int           `json:"resp_conns"`
	Pipelines  []int         `json:"pipelines"`
	// RESPKeys, if not 0, is redis-benchmark's -r: random keys out of
	// this many (0: one key).
	RESPKeys int `json:"resp_keys,omitempty"`
}

// Sample is one measured run.
type Sample struct {
	Requests  int64         `json:"requests"`   // as the client reports them
	Wall      time.Duration `json:"wall_ns"`    // the client process, start to exit
	RPS       float64       `json:"rps"`        // as the client reports it
	ServerCPU time.Duration `json:"server_cpu"` // all the server's processes, over the client's run
	ClientCPU time.Duration `json:"client_cpu"` // the client's user + system time
	P50       time.Duration `json:"p50_ns"`     // the client's closed-loop figures
	P99       time.Duration `json:"p99_ns"`
	// wrk's "Socket errors" (connect, read, write, timeout), summed.
	SocketErrors int64 `json:"socket_errors,omitempty"`
}

// Result is one row: a server under one client test.
type Result struct {
	Server   string `json:"server"`
	Proto    string `json:"proto"`  // "http" or "resp"
	Client   string `json:"client"` // "wrk" or "redis-benchmark"
	Test     string `json:"test"`   // "GET /hello", "SET", "GET"
	Pipeline int    `json:"pipeline,omitempty"`
	Conns    int    `json:"conns"`
	What     string `json:"what"`
	Command  string `json:"command,omitempty"` // the client's command line, last measured run

	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`

	// Where server and client were allowed to run, as the kernel reports
	// it (Cpus_allowed_list of every thread of every server process), and
	// how many processes and threads the server had.
	ServerCPUs    string `json:"server_cpus,omitempty"`
	ServerProcs   int    `json:"server_procs,omitempty"`
	ServerThreads int    `json:"server_threads,omitempty"`
	ClientCPUs    string `json:"client_cpus,omitempty"`

	Rate       harness.Stat `json:"rate"`          // requests/s
	CPUPerReq  harness.Stat `json:"cpu_per_op_us"` // server CPU µs per request
	ServerUtil harness.Stat `json:"server_util"`   // 1 = one CPU busy all the time
	ClientUtil harness.Stat `json:"client_util"`
	P50        harness.Stat `json:"p50_us"` // the client's closed-loop latency
	P99        harness.Stat `json:"p99_us"`
	// SocketErrors is the total over the measured runs.
	SocketErrors int64 `json:"socket_errors,omitempty"`
	// Reruns counts the runs in which wrk completed no request while the
	// server still answered, run again (see env.wrk).
	Reruns int      `json:"reruns,omitempty"`
	Runs   []Sample `json:"runs,omitempty"`
}

// spec is one server of the part.
type spec struct {
	name  string
	proto string // "http" or "resp"
	what  string
	// tool, if set, is the installed program the server is, and the
	// package that installs it.
	tool, pkg string
	// start returns the server's command, not yet pinned or started.
	start func(e *env, addr string) (*exec.Cmd, error)
	// needs, if set, says what is missing for the server to run, or "".
	needs func() string
	// cpus, if set, is where the server runs (taskset's list, "0-1");
	// by default harness.ServerCPU alone.
	cpus string
}

var specs = []spec{
	{name: "coop-http task", proto: "http", what: "examples/http -mode task -cores 1 (a task per connection), GOMAXPROCS=1",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.example("http", addr, "task") }},
	{name: "coop-http ready", proto: "http", what: "examples/http -mode ready -cores 1 (no task while a connection is idle), GOMAXPROCS=1",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.example("http", addr, "ready") }},
	{name: "net/http", proto: "http", what: "net/http server (in the bench binary), GOMAXPROCS=1, same route, body and Content-Type",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.role(netHTTPRole, addr) }},
	{name: "nginx", proto: "http", tool: "nginx", pkg: "nginx-light", what: "one worker (master_process on), `return 200` with the same body and Content-Type, access_log off, keepalive_requests 1e9 (default 1000 would close wrk's connections)",
		start: (*env).nginx},
	{name: "coop-kv task", proto: "resp", what: "examples/kv -mode task -cores 1 (a task per connection), GOMAXPROCS=1",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.example("kv", addr, "task") }},
	{name: "coop-kv ready", proto: "resp", what: "examples/kv -mode ready -cores 1 (a task only while a connection has input), GOMAXPROCS=1",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.example("kv", addr, "ready") }},
	{name: "net-resp", proto: "resp", what: "minimal RESP reference written for the study, not a Redis: package net, goroutine per connection, GOMAXPROCS=1, PING/SET/GET/CONFIG GET, a map behind a mutex, kv's flush policy (answer what is buffered, one write)",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.role(netRESPRole, addr) }},
	{name: "redis-server", proto: "resp", tool: "redis-server", pkg: "redis-server", what: "--save '' --appendonly no, io-threads default (1); its background threads pinned too",
		start: (*env).redis},
}

// clientTool is the client program of a protocol and its package.
func clientTool(proto string) (name, pkg string) {
	if proto != "resp" { // http, front
		return "wrk", "wrk"
	}
	return "redis-benchmark", "redis-tools"
}

// rows returns the rows of a server, not yet measured.
func (sp spec) rows(p Plan) []Result {
	client, _ := clientTool(sp.proto)
	base := Result{Server: sp.name, Proto: sp.proto, Client: client, What: sp.what}
	if sp.proto != "resp" { // http, front: one wrk row
		r := base
		r.Test, r.Conns = "GET "+helloPath, p.HTTPConns
		return []Result{r}
	}
	var rs []Result
	for _, pl := range p.Pipelines {
		for _, t := range []string{"SET", "GET"} {
			r := base
			r.Test, r.Pipeline, r.Conns = t, pl, p.RESPConns
			rs = append(rs, r)
		}
	}
	return rs
}

// Rows is the number of rows Run returns.
func Rows(p Plan) int {
	n := 0
	for _, sp := range specs {
		n += len(sp.rows(p))
	}
	return n
}

// Steps is the number of progress steps Run reports.
func Steps(p Plan) int {
	n := 1 // the build
	for _, sp := range specs {
		n += 1 + len(sp.rows(p))
	}
	return n
}

// env is what the servers and clients of one Run share.
type env struct {
	plan     Plan
	tmp      string
	taskset  string
	tools    map[string]string // installed programs by name: path
	versions map[string]string
	bins     map[string]string // built examples by name: path
	buildErr error
	backends []string // the front ends' backends (RunFront)
}

// Run measures every row. doing names the step in progress, step reports
// a finished one. Failures and missing tools are recorded in the rows.
func Run(p Plan, doing, step func(string)) []Result {
	e, done, setupErr := newEnv(p, "wrk", "redis-benchmark", "nginx", "redis-server")
	defer done()

	e.buildExamples(setupErr, "clients: build examples/http, examples/kv", doing, step, "http", "kv")

	// The servers of one protocol run side by side (all pinned to the
	// server CPU; an idle one costs nothing there) and their measured runs
	// interleave: one run against each server in turn, Repeats times. On a
	// shared VM the speed of the machine drifts by tens of percent over
	// minutes; interleaving makes every server meet the same drift, so
	// the rows compare as same-run ratios.
	var out []Result
	for _, proto := range []string{"http", "resp"} {
		var group []spec
		for _, sp := range specs {
			if sp.proto == proto {
				group = append(group, sp)
			}
		}
		run := e.runHTTP
		if proto == "resp" {
			run = e.runRESP
		}
		out = append(out, e.serve(group, setupErr, run, doing, step)...)
	}
	return out
}

// serve starts and checks the server of each spec, times those that run
// with run (their measured runs interleaved), stops them, and returns
// every spec's rows in order, those that could not be timed with their
// reason.
func (e *env) serve(specs []spec, setupErr error, run func(ls []*live, doing, step func(string)), doing, step func(string)) []Result {
	var group, running []*live
	for _, sp := range specs {
		l := e.prepare(sp, setupErr, doing, step)
		group = append(group, l)
		if l.srv != nil {
			running = append(running, l)
		}
	}
	run(running, doing, step)
	var out []Result
	for _, l := range group {
		if l.srv != nil {
			l.srv.stop()
		}
		out = append(out, l.rows...)
	}
	return out
}

// newEnv returns what the servers and clients of a part share: a temporary
// directory of its own (after removing those of killed runs), taskset, and
// those of tools that are installed, with their versions. A failure to
// make the directory is the part's set-up error; done removes it.
func newEnv(p Plan, tools ...string) (e *env, done func(), setupErr error) {
	e = &env{plan: p, tools: map[string]string{}, versions: map[string]string{}, bins: map[string]string{}}
	removeStale()
	done = func() {}
	e.tmp, setupErr = os.MkdirTemp("", fmt.Sprintf("%s%d-", tmpPrefix, os.Getpid()))
	if setupErr == nil {
		done = func() { os.RemoveAll(e.tmp) }
	}
	e.taskset, _ = exec.LookPath("taskset")
	for _, t := range tools {
		if path, err := exec.LookPath(t); err == nil {
			e.tools[t] = path
			e.versions[t] = version(path)
		}
	}
	return e, done, setupErr
}

// live is a server being measured and its rows.
type live struct {
	sp   spec
	rows []Result
	srv  *server // nil when its rows were skipped or failed before timing
}

// tmpPrefix starts the name of a run's temporary directory (built
// examples, nginx's configuration), followed by the study's pid.
const tmpPrefix = "coop-bench-clients-"

// removeStale removes the temporary directories of studies that were
// killed (Ctrl-C exits at once, without deferred calls): those whose pid
// is gone.
func removeStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tmpPrefix+"*"))
	for _, d := range dirs {
		pid, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), tmpPrefix), "-")
		if !ok {
			continue
		}
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
			os.RemoveAll(d)
		}
	}
}

// version returns the first line a program prints about its version.
func version(path string) string {
	arg := "--version"
	switch filepath.Base(path) {
	case "nginx", "wrk", "haproxy":
		arg = "-v"
	}
	cmd := child.External(path, arg)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if child.Start(cmd) != nil {
		return ""
	}
	timer := time.AfterFunc(5*time.Second, func() { child.Kill(cmd) })
	cmd.Wait() // wrk -v exits 1
	timer.Stop()
	child.Forget(cmd)
	line, _, _ := strings.Cut(strings.TrimSpace(b.String()), "\n")
	line = strings.TrimPrefix(line, "nginx version: ")
	if i := strings.Index(line, " Copyright"); i > 0 {
		line = line[:i]
	}
	if f := strings.Fields(line); len(f) > 3 && f[0] == "Redis" {
		line = "redis-server " + strings.TrimPrefix(f[2], "v=")
	}
	return strings.TrimSpace(line)
}

// build compiles the named examples (examples/<name>) with the Go
// toolchain that runs the study, in the bench module (whose replace
// directive points at this repository).
func (e *env) build(names ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build: the study builds the examples with the go command: %w", err)
	}
	dir, err := moduleDir()
	if err != nil {
		return err
	}
	binDir := filepath.Join(e.tmp, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-o", binDir + string(filepath.Separator)}
	for _, name := range names {
		args = append(args, "github.com/coopgo/coop/examples/"+name)
	}
	cmd := child.External(goBin, args...)
	cmd.Dir = dir
	out := new(harness.Tail)
	cmd.Stdout, cmd.Stderr = out, out
	if err := child.Start(cmd); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	timer := time.AfterFunc(5*time.Minute, func() { child.Kill(cmd) })
	err = cmd.Wait()
	timer.Stop()
	child.Forget(cmd)
	if err != nil {
		return fmt.Errorf("build: go build in %s: %v: %s", dir, err, out)
	}
	for _, name := range names {
		p := filepath.Join(binDir, name)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("build: %w", err)
		}
		e.bins[name] = p
	}
	return nil
}

// moduleDir finds the bench module (or the repository's root module) from
// the working directory up: `go -C bench run .` and `go test` run there.
func moduleDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					if m = strings.TrimSpace(m); m == "github.com/coopgo/coop/bench" || m == "github.com/coopgo/coop" {
						return dir, nil
					}
					break
				}
			}
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("build: %s is not inside the coop repository (run the study from it: go -C bench run .)", wd)
		}
	}
}

// example returns the command of a built example in mode with one core.
func (e *env) example(name, addr, mode string) (*exec.Cmd, error) {
	if e.buildErr != nil {
		return nil, e.buildErr
	}
	cmd := child.External(e.bins[name], "-addr", addr, "-mode", mode, "-cores", "1")
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return cmd, nil
}

// role returns the command of a reference server in the bench binary.
func (e *env) role(role, addr string) (*exec.Cmd, error) {
	return child.Command(role, true, []string{"GOMAXPROCS=1"}, "-addr", addr)
}

// nginx writes a configuration to a directory of its own and returns the
// command: no daemon, one worker, error log on stderr, pid file and
// temporary paths in that directory (so it also runs as non-root).
func (e *env) nginx(addr string) (*exec.Cmd, error) { return e.nginxWorkers(addr, 1) }

// nginxWorkers is nginx with worker_processes workers.
func (e *env) nginxWorkers(addr string, workers int) (*exec.Cmd, error) {
	dir, err := os.MkdirTemp(e.tmp, "nginx-")
	if err != nil {
		return nil, err
	}
	var temps strings.Builder
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", t, filepath.Join(dir, t))
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes %d;
pid %s;
error_log stderr warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
%s    keepalive_requests 1000000000;
    server {
        listen %s;
        location / {
            default_type %q;
            return 200 %q;
        }
    }
}
`, workers, filepath.Join(dir, "nginx.pid"), temps.String(), addr, helloCType, helloBody)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return child.External(e.tools["nginx"], "-p", dir, "-c", path, "-e", "stderr"), nil
}

// redis returns redis-server's command: no persistence, loopback only.
func (e *env) redis(addr string) (*exec.Cmd, error) {
	_, port, _ := strings.Cut(addr, ":")
	return child.External(e.tools["redis-server"], "--save", "", "--appendonly", "no",
		"--bind", "127.0.0.1", "--port", port, "--dir", e.tmp), nil
}

// buildExamples builds the examples a part runs as one progress step,
// what; a failed set-up of the part stands for the build's error.
func (e *env) buildExamples(setupErr error, what string, doing, step func(string), names ...string) {
	doing(what)
	e.buildErr = setupErr
	if setupErr == nil {
		e.buildErr = e.build(names...)
	}
	step(what)
}

// prepare starts and checks the server of sp. Rows that cannot be timed
// (a missing tool, a failed start or check) are finished here, with their
// reason; otherwise the returned live has the running server.
func (e *env) prepare(sp spec, setupErr error, doing, step func(string)) *live {
	rows := sp.rows(e.plan)
	client, clientPkg := clientTool(sp.proto)
	if v := e.versions[sp.tool]; v != "" {
		for i := range rows {
			rows[i].What = v + ": " + rows[i].What
		}
	}
	all := func(f func(r *Result)) {
		for i := range rows {
			f(&rows[i])
		}
	}
	finish := func(msg string) *live {
		for range rows {
			step(sp.name + ": " + msg)
		}
		return &live{sp: sp, rows: rows}
	}
	skip := ""
	switch {
	case e.tools[client] == "":
		skip = fmt.Sprintf("%s not installed (apt install %s)", client, clientPkg)
	case sp.tool != "" && e.tools[sp.tool] == "":
		skip = fmt.Sprintf("%s not installed (apt install %s)", sp.tool, sp.pkg)
	case e.taskset == "":
		skip = "taskset not installed (apt install util-linux): servers and clients cannot be pinned"
	case sp.needs != nil:
		skip = sp.needs()
	}
	if skip != "" {
		all(func(r *Result) { r.Skipped = skip })
		step(sp.name + ": skipped")
		return finish("skipped")
	}
	fail := func(err error) *live {
		all(func(r *Result) { r.Error = err.Error() })
		return finish("not timed")
	}
	if setupErr != nil {
		step(sp.name + ": not started")
		return fail(setupErr)
	}

	doing(sp.name + ": start and check")
	srv, err := e.startChecked(sp, rows)
	step(sp.name + ": start and check")
	if err != nil {
		return fail(err)
	}
	return &live{sp: sp, rows: rows, srv: srv}
}

// startChecked starts the server of sp pinned to the server CPU and checks
// that it answers correctly; HTTP rows get the response's size and
// header fields in their description.
func (e *env) startChecked(sp spec, rows []Result) (*server, error) {
	cpus := sp.cpus
	if cpus == "" {
		cpus = strconv.Itoa(harness.ServerCPU)
	}
	srv, err := e.startPinned(sp.name, cpus, func(addr string) (*exec.Cmd, error) { return sp.start(e, addr) })
	if err != nil {
		return nil, err
	}
	addr := srv.addr
	if sp.proto != "resp" { // http, front: through the front end to a backend
		size, names, cerr := checkHTTP(addr)
		if cerr == nil {
			rows[0].What += fmt.Sprintf("; response %d bytes, header fields %s", size, strings.Join(names, ", "))
		}
		err = cerr
	} else {
		err = checkRESP(addr)
	}
	if err == nil {
		err = srv.alive()
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", sp.name, err)
		if out := srv.err.String(); out != "" {
			err = fmt.Errorf("%w; server output: %s", err, clip(out))
		}
		srv.stop()
		return nil, err
	}
	return srv, nil
}

// setPinning records where the server's threads may run, or the error.
func setPinning(srv *server, rows []*Result) error {
	want := srv.cpus
	if want == "" {
		want = strconv.Itoa(harness.ServerCPU)
	}
	cpus, procs, threads, err := srv.pinning(want)
	if err != nil {
		return err
	}
	for _, r := range rows {
		r.ServerCPUs, r.ServerProcs, r.ServerThreads = cpus, procs, threads
	}
	return nil
}

func wholeSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second/2)/time.Second))) + "s"
}

// runHTTP measures the HTTP servers: a warm-up run against each, then
// Repeats rounds of one wrk run against each in turn.
func (e *env) runHTTP(ls []*live, doing, step func(string)) {
	wrkArgs := func(srv *server, d time.Duration) []string {
		return []string{"-t1", "-c" + strconv.Itoa(e.plan.HTTPConns), "--latency", "-d" + wholeSeconds(d), "http://" + srv.addr + helloPath}
	}
	fail := func(l *live, err error) {
		r := &l.rows[0]
		if r.Error != "" {
			return
		}
		r.Error = err.Error()
		if out := l.srv.err.String(); out != "" {
			r.Error += "; server output: " + clip(out)
		}
	}
	for _, l := range ls {
		doing(l.sp.name + ": wrk warm-up")
		if d := e.plan.HTTPWarmup; d > 0 {
			if _, err := e.runClient("wrk", wrkArgs(l.srv, d), d+20*time.Second); err != nil {
				fail(l, fmt.Errorf("warm-up: %w", err))
				continue
			}
		}
		if err := setPinning(l.srv, []*Result{&l.rows[0]}); err != nil {
			fail(l, err)
		}
	}
	for i := range e.plan.Repeats {
		for _, l := range ls {
			r := &l.rows[0]
			if r.Error != "" {
				continue
			}
			doing(fmt.Sprintf("%s: wrk, round %d of %d", l.sp.name, i+1, e.plan.Repeats))
			args := wrkArgs(l.srv, e.plan.HTTPRun)
			r.Command = "wrk " + strings.Join(args, " ")
			m, w, reruns, err := e.wrk(l.srv, args, e.plan.HTTPRun+20*time.Second)
			r.Reruns += reruns
			if err != nil {
				fail(l, err)
				continue
			}
			r.ClientCPUs = m.cpus
			r.Runs = append(r.Runs, Sample{Requests: w.Requests, Wall: m.wall, RPS: w.RPS, ServerCPU: m.serverCPU, ClientCPU: m.clientCPU, P50: w.P50, P99: w.P99, SocketErrors: w.SocketErrors})
		}
	}
	for _, l := range ls {
		r := &l.rows[0]
		if r.Error == "" {
			if err := setPinning(l.srv, []*Result{r}); err != nil {
				fail(l, err)
			}
		}
		summarize(r)
		step(l.sp.name + ": wrk " + r.Test)
	}
}

// maxWrkRuns bounds the runs of one measurement in which wrk completes no
// request (see wrk).
const maxWrkRuns = 3

// wrk runs wrk with args against srv, measured, and reads its output. A run
// in which wrk completed no request says nothing of a server that still
// answers: on a busy machine wrk's one thread can go without the CPU for
// its whole run (1 s runs completed 47 to 864 requests with 8 busy loops
// on wrk's CPU; a smoke test beside other tests once saw none). Such a run
// is run again, up to maxWrkRuns in all, as long as the server answers a
// check after it; reruns counts them.
func (e *env) wrk(srv *server, args []string, timeout time.Duration) (m clientRun, w WrkResult, reruns int, err error) {
	for {
		if m, err = e.measure(srv, "wrk", args, timeout); err != nil {
			return m, w, reruns, err
		}
		if w, err = ParseWrk(m.out); err != nil {
			return m, w, reruns, err
		}
		switch {
		case w.Non2xx > 0:
			return m, w, reruns, fmt.Errorf("wrk: %d of %d responses were not 2xx or 3xx", w.Non2xx, w.Requests)
		case w.Requests > 0:
			return m, w, reruns, nil
		}
		if _, _, err := checkHTTP(srv.addr); err != nil {
			return m, w, reruns, fmt.Errorf("wrk: no request completed, and then the server failed its check: %w", err)
		}
		if reruns+1 == maxWrkRuns {
			return m, w, reruns, fmt.Errorf("wrk: no request completed in %d runs, though the server answered a check after each", maxWrkRuns)
		}
		reruns++
	}
}

// runRESP measures the RESP servers, pipeline depth by pipeline depth: a
// warm-up run against each (its rates size the measured runs), then
// Repeats rounds of one SET and one GET run against each in turn.
func (e *env) runRESP(ls []*live, doing, step func(string)) {
	benchArgs := func(srv *server, pl int, tests string, n int) []string {
		_, port, _ := strings.Cut(srv.addr, ":")
		args := []string{"-h", "127.0.0.1", "-p", port, "-c", strconv.Itoa(e.plan.RESPConns), "-n", strconv.Itoa(n),
			"-P", strconv.Itoa(pl), "-t", tests, "--csv"}
		if e.plan.RESPKeys > 0 {
			args = append(args, "-r", strconv.Itoa(e.plan.RESPKeys))
		}
		return args
	}
	// A generous bound: redis-benchmark waits for ever for a server that
	// stops answering.
	timeout := func(n int, rate float64) time.Duration {
		return 20*time.Second + time.Duration(float64(n)/max(rate, 500)*3*float64(time.Second))
	}
	fail := func(l *live, r *Result, err error) {
		if r.Error != "" {
			return
		}
		r.Error = err.Error()
		if out := l.srv.err.String(); out != "" && l.srv.alive() != nil {
			r.Error += "; server output: " + clip(out)
		}
	}
	ptrs := func(l *live) []*Result {
		var rs []*Result
		for i := range l.rows {
			rs = append(rs, &l.rows[i])
		}
		return rs
	}
	// depth returns l's rows at pipeline depth pl: SET and GET.
	depth := func(l *live, pl int) []*Result {
		var rs []*Result
		for _, r := range ptrs(l) {
			if r.Pipeline == pl {
				rs = append(rs, r)
			}
		}
		return rs
	}
	type sized struct {
		rate float64
		n    int
	}
	pinChecked := map[*live]bool{}
	for _, pl := range e.plan.Pipelines {
		sizes := map[*Result]sized{}
		for _, l := range ls {
			doing(fmt.Sprintf("%s: redis-benchmark -P %d warm-up", l.sp.name, pl))
			// Warm-up: both tests, SET first so that GET finds its key.
			rates := map[string]float64{}
			nw := max(1, e.plan.RESPWarmup*pl)
			out, err := e.runClient("redis-benchmark", benchArgs(l.srv, pl, "set,get", nw), timeout(nw, 0))
			if err == nil {
				var bs []BenchResult
				if bs, err = ParseRedisBenchmarkCSV(out.out); err == nil {
					for _, b := range bs {
						rates[b.Test] = b.RPS
					}
				}
			}
			if err == nil && !pinChecked[l] {
				err = setPinning(l.srv, ptrs(l))
				pinChecked[l] = true
			}
			for _, r := range depth(l, pl) {
				if err != nil {
					fail(l, r, fmt.Errorf("warm-up: %w", err))
					continue
				}
				rate := rates[r.Test]
				if rate <= 0 {
					rate = float64(nw) // a second's worth, if the warm-up had no line for it
				}
				// At least 20 requests or pipelines per connection.
				n := max(int(rate*e.plan.RESPRun.Seconds()), 20*e.plan.RESPConns*pl)
				sizes[r] = sized{rate: rates[r.Test], n: (n + 999) / 1000 * 1000}
			}
		}
		for i := range e.plan.Repeats {
			for _, l := range ls {
				doing(fmt.Sprintf("%s: redis-benchmark -P %d, round %d of %d", l.sp.name, pl, i+1, e.plan.Repeats))
				for _, r := range depth(l, pl) {
					if r.Error != "" {
						continue
					}
					n := sizes[r].n
					args := benchArgs(l.srv, pl, strings.ToLower(r.Test), n)
					r.Command = "redis-benchmark " + strings.Join(args, " ")
					m, err := e.measure(l.srv, "redis-benchmark", args, timeout(n, sizes[r].rate))
					var b []BenchResult
					if err == nil {
						b, err = ParseRedisBenchmarkCSV(m.out)
					}
					if err == nil && (len(b) != 1 || b[0].Test != r.Test) {
						err = fmt.Errorf("redis-benchmark -t %s: unexpected result lines %+v", strings.ToLower(r.Test), b)
					}
					if err != nil {
						fail(l, r, err)
						continue
					}
					r.ClientCPUs = m.cpus
					r.Runs = append(r.Runs, Sample{Requests: int64(n), Wall: m.wall, RPS: b[0].RPS, ServerCPU: m.serverCPU, ClientCPU: m.clientCPU, P50: b[0].P50, P99: b[0].P99})
				}
			}
		}
		last := pl == e.plan.Pipelines[len(e.plan.Pipelines)-1]
		for _, l := range ls {
			for _, r := range depth(l, pl) {
				if r.Error == "" && last {
					if err := setPinning(l.srv, ptrs(l)); err != nil {
						fail(l, r, err)
					}
				}
				summarize(r)
				step(fmt.Sprintf("%s: redis-benchmark -P %d %s", l.sp.name, pl, r.Test))
			}
		}
	}
}

// clientRun is what one run of a client program gave.
type clientRun struct {
	out       string // stdout
	wall      time.Duration
	clientCPU time.Duration
	serverCPU time.Duration // measure only
	cpus      string        // the client's Cpus_allowed_list
}

// runClient runs an installed client pinned to the client CPU, killing it
// after timeout.
func (e *env) runClient(name string, args []string, timeout time.Duration) (clientRun, error) {
	var cr clientRun
	cmd := child.External(e.tools[name], args...)
	pinned(cmd, e.taskset, harness.ClientCPU)
	var out bytes.Buffer
	errs := new(harness.Tail)
	cmd.Stdout, cmd.Stderr = &out, errs
	start := time.Now()
	if err := child.Start(cmd); err != nil {
		return cr, fmt.Errorf("start %s: %w", name, err)
	}
	cpus := make(chan string, 1)
	go func() { cpus <- clientCPUs(cmd.Process.Pid, name) }()
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); child.Kill(cmd) })
	err := cmd.Wait()
	cr.wall = time.Since(start)
	timer.Stop()
	child.Forget(cmd)
	cr.out = out.String()
	cr.cpus = <-cpus
	if st := cmd.ProcessState; st != nil {
		cr.clientCPU = st.UserTime() + st.SystemTime()
	}
	switch {
	case timedOut.Load():
		return cr, fmt.Errorf("%s killed after %v: %s", name, timeout, clip(errs.String()+" "+cr.out))
	case err != nil:
		return cr, fmt.Errorf("%s: %v: %s", name, err, clip(errs.String()+" "+cr.out))
	}
	return cr, nil
}

// clientCPUs returns the Cpus_allowed_list of the client once taskset has
// become it, or "" if it exited first.
func clientCPUs(pid int, name string) string {
	want := name
	if len(want) > 15 {
		want = want[:15] // the kernel's comm
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			return ""
		}
		if strings.TrimSpace(string(comm)) == want {
			l, err := rawsys.AllowedCPUs(pid)
			if err != nil {
				return ""
			}
			return l
		}
	}
	return ""
}

// measure runs a client between two readings of the server's CPU time.
func (e *env) measure(srv *server, name string, args []string, timeout time.Duration) (clientRun, error) {
	before, pids, err := srv.cpu()
	if err != nil {
		return clientRun{}, err
	}
	cr, err := e.runClient(name, args, timeout)
	if err != nil {
		return cr, err
	}
	after, pids2, err := srv.cpu()
	if err != nil {
		return cr, err
	}
	if err := srv.alive(); err != nil {
		return cr, err
	}
	if !slices.Equal(pids, pids2) {
		return cr, fmt.Errorf("%s: its processes changed during the run (%v, then %v): CPU time not comparable", srv.name, pids, pids2)
	}
	cr.serverCPU = after - before
	return cr, nil
}

// summarize computes the row's statistics from its runs.
func summarize(r *Result) {
	var rate, cpu, su, cu, p50, p99 []float64
	r.SocketErrors = 0
	for _, s := range r.Runs {
		wall := s.Wall.Seconds()
		rate = append(rate, s.RPS)
		if s.Requests > 0 {
			cpu = append(cpu, float64(s.ServerCPU)/1e3/float64(s.Requests))
		}
		if wall > 0 {
			su = append(su, s.ServerCPU.Seconds()/wall)
			cu = append(cu, s.ClientCPU.Seconds()/wall)
		}
		p50 = append(p50, float64(s.P50)/1e3)
		p99 = append(p99, float64(s.P99)/1e3)
		r.SocketErrors += s.SocketErrors
	}
	r.Rate, r.CPUPerReq, r.ServerUtil, r.ClientUtil = harness.StatOf(rate), harness.StatOf(cpu), harness.StatOf(su), harness.StatOf(cu)
	r.P50, r.P99 = harness.StatOf(p50), harness.StatOf(p99)
}
