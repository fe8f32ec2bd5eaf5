//go:build linux

package clients

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
	"github.com/coopgo/coop/bench/internal/rawsys"
	"github.com/coopgo/coop/netio/prefork"
)

// The reload part: failed requests and latency while a server of worker
// processes is reloaded again and again under wrk — examples/http as a
// netio/prefork pool (SIGHUP) against nginx (nginx -s reload), measured
// the same way. A reload is complete when every worker it started
// serves and every worker of the previous generation has exited; the
// next starts ReloadPlan.Gap later.

// ReloadPlan is what the reload part runs.
type ReloadPlan struct {
	Reloads int `json:"reloads"` // per server, all under one wrk run
	Workers int `json:"workers"` // worker processes of each server
	Conns   int `json:"conns"`   // wrk -c (one thread)
	// Gap is the pause after a reload is complete, before the next.
	Gap time.Duration `json:"gap_ns"`
	// Baseline, if not 0, is a wrk run without reloads before, for the
	// latency without them (whole seconds).
	Baseline time.Duration `json:"baseline_ns"`
	// Note says what this mode leaves out, if anything.
	Note string `json:"note,omitempty"`
}

// ReloadResult is one server's row.
type ReloadResult struct {
	Server  string `json:"server"`
	What    string `json:"what"`
	Reload  string `json:"reload"`            // how it was reloaded
	Command string `json:"command,omitempty"` // wrk's command line
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`

	// Reloads is how many completed; ReloadMs, how long each took, from
	// the signal until every new worker served and every old one had
	// exited.
	Reloads  int          `json:"reloads"`
	ReloadMs harness.Stat `json:"reload_ms"`

	// What wrk reported over the run with the reloads.
	Requests     int64         `json:"requests"`
	SocketErrors int64         `json:"socket_errors"` // connect, read, write, timeout
	Non2xx       int64         `json:"non_2xx"`
	RPS          float64       `json:"rps"`
	P50          time.Duration `json:"p50_ns"`
	P99          time.Duration `json:"p99_ns"`
	// The same without reloads (ReloadPlan.Baseline).
	BaseRPS float64       `json:"base_rps,omitempty"`
	BaseP50 time.Duration `json:"base_p50_ns,omitempty"`
	BaseP99 time.Duration `json:"base_p99_ns,omitempty"`

	ServerCPUs string `json:"server_cpus,omitempty"`
	ClientCPUs string `json:"client_cpus,omitempty"`
}

// Failed is the requests that failed: wrk's socket errors and the
// responses that were not 2xx or 3xx.
func (r ReloadResult) Failed() int64 { return r.SocketErrors + r.Non2xx }

// reloadSpec is one server of the reload part.
type reloadSpec struct {
	name, what, how string
	tool, pkg       string // the installed program it is, if any
	start           func(e *env, addr, dir string, workers int) (*exec.Cmd, error)
	// ready returns nil once the server's workers all serve.
	ready  func(srv *server, dir string, workers int) error
	reload func(e *env, srv *server, dir string) error
}

var reloadSpecs = []reloadSpec{
	{
		name: "coop-http pool", how: "SIGHUP to the master",
		what: "examples/http -workers N -cores 1 -mode task (netio/prefork: rolling, a new worker ready before the old one drains; a draining worker answers with Connection: close), GOMAXPROCS=1",
		start: func(e *env, addr, dir string, workers int) (*exec.Cmd, error) {
			cmd, err := e.example("http", addr, "task")
			if err != nil {
				return nil, err
			}
			cmd.Args = append(cmd.Args, "-workers", strconv.Itoa(workers), "-control", filepath.Join(dir, "control.sock"))
			return cmd, nil
		},
		ready: func(srv *server, dir string, workers int) error {
			st, err := prefork.ReadStatus(filepath.Join(dir, "control.sock"))
			switch {
			case err != nil:
				return err
			case st.Reloading || st.Ready != workers || len(st.Processes) != workers:
				return fmt.Errorf("%d of %d workers ready, %d processes, reloading %v", st.Ready, workers, len(st.Processes), st.Reloading)
			}
			return nil
		},
		reload: func(e *env, srv *server, dir string) error {
			return srv.cmd.Process.Signal(syscall.SIGHUP)
		},
	},
	{
		name: "nginx", how: "nginx -s reload", tool: "nginx", pkg: "nginx-light",
		what: "worker_processes N, `return 200` with the same body (as the wrk table's nginx row otherwise)",
		start: func(e *env, addr, dir string, workers int) (*exec.Cmd, error) {
			return e.nginxWorkers(addr, workers)
		},
		ready: func(srv *server, dir string, workers int) error {
			ws, err := workerPIDs(srv)
			if err == nil && len(ws) != workers {
				err = fmt.Errorf("%d of %d workers", len(ws), workers)
			}
			return err
		},
		reload: func(e *env, srv *server, dir string) error {
			// The -p and -c of the running server's command line.
			args := srv.cmd.Args
			var sig []string
			for i, a := range args {
				if (a == "-p" || a == "-c") && i+1 < len(args) {
					sig = append(sig, a, args[i+1])
				}
			}
			cmd := child.External(e.tools["nginx"], append(sig, "-s", "reload")...)
			out := new(harness.Tail)
			cmd.Stdout, cmd.Stderr = out, out
			if err := child.Start(cmd); err != nil {
				return err
			}
			timer := time.AfterFunc(10*time.Second, func() { child.Kill(cmd) })
			err := cmd.Wait()
			timer.Stop()
			child.Forget(cmd)
			if err != nil {
				return fmt.Errorf("nginx -s reload: %v: %s", err, out)
			}
			return nil
		},
	},
}

// ReloadSteps is the number of progress steps RunReload reports.
func ReloadSteps(ReloadPlan) int { return 1 + len(reloadSpecs) }

// RunReload measures every server of the part, one after the other.
func RunReload(p ReloadPlan, doing, step func(string)) []ReloadResult {
	e, done, setupErr := newEnv(Plan{}, "wrk", "nginx")
	defer done()
	e.buildExamples(setupErr, "reload: build examples/http", doing, step, "http", "kv")
	var out []ReloadResult
	for _, sp := range reloadSpecs {
		doing(fmt.Sprintf("reload: %s, %d reloads under wrk", sp.name, p.Reloads))
		sp.what = strings.ReplaceAll(sp.what, " N ", fmt.Sprintf(" %d ", p.Workers))
		r := e.reloadRow(sp, p)
		if v := e.versions[sp.tool]; v != "" {
			r.What = v + ": " + r.What
		}
		out = append(out, r)
		step("reload: " + sp.name)
	}
	return out
}

// reloadRow measures one server.
func (e *env) reloadRow(sp reloadSpec, p ReloadPlan) ReloadResult {
	r := ReloadResult{Server: sp.name, What: sp.what, Reload: sp.how}
	switch {
	case e.tools["wrk"] == "":
		r.Skipped = "wrk is not installed (Debian package wrk)"
		return r
	case sp.tool != "" && e.tools[sp.tool] == "":
		r.Skipped = fmt.Sprintf("%s is not installed (Debian package %s)", sp.tool, sp.pkg)
		return r
	case e.taskset == "":
		r.Skipped = "taskset is not installed (Debian package util-linux): servers and clients could not be pinned"
		return r
	case sp.tool == "" && e.buildErr != nil:
		r.Error = e.buildErr.Error()
		return r
	}
	if err := e.reloadMeasure(sp, p, &r); err != nil {
		r.Error = err.Error()
	}
	return r
}

func (e *env) reloadMeasure(sp reloadSpec, p ReloadPlan, r *ReloadResult) error {
	dir, err := os.MkdirTemp(e.tmp, "reload-")
	if err != nil {
		return err
	}
	srv, err := e.startPinned(sp.name, strconv.Itoa(harness.ServerCPU), func(addr string) (*exec.Cmd, error) { return sp.start(e, addr, dir, p.Workers) })
	if err != nil {
		return err
	}
	defer srv.stop()
	addr := srv.addr
	if err := waitFor(10*time.Second, func() error { return sp.ready(srv, dir, p.Workers) }); err != nil {
		return fmt.Errorf("not ready: %w: %s", err, clip(srv.err.String()))
	}
	if _, _, err := checkHTTP(addr); err != nil {
		return err
	}
	url := "http://" + addr + helloPath
	if p.Baseline > 0 {
		cr, err := e.runClient("wrk", []string{"-t1", "-c" + strconv.Itoa(p.Conns), "--latency", "-d" + wholeSeconds(p.Baseline), url}, p.Baseline+20*time.Second)
		if err != nil {
			return fmt.Errorf("run without reloads: %w", err)
		}
		w, err := ParseWrk(cr.out)
		if err != nil {
			return fmt.Errorf("run without reloads: %w", err)
		}
		r.BaseRPS, r.BaseP50, r.BaseP99 = w.RPS, w.P50, w.P99
	}

	// wrk runs until it is interrupted (it prints its summary on
	// SIGINT), so that the run spans every reload however long they take.
	args := []string{"-t1", "-c" + strconv.Itoa(p.Conns), "--latency", "-d600s", url}
	r.Command = "wrk " + strings.Join(args, " ")
	wrk := child.External(e.tools["wrk"], args...)
	pinned(wrk, e.taskset, harness.ClientCPU)
	var wout harness.Tail
	wrk.Stdout, wrk.Stderr = &wout, &wout
	if err := child.Start(wrk); err != nil {
		return fmt.Errorf("start wrk: %w", err)
	}
	wdone := make(chan error, 1)
	go func() { wdone <- wrk.Wait() }()
	defer child.Forget(wrk)
	cpus := make(chan string, 1)
	go func() { cpus <- clientCPUs(wrk.Process.Pid, "wrk") }()
	time.Sleep(300 * time.Millisecond)
	var ms []float64
	rerr := func() error {
		for i := range p.Reloads {
			old, err := workerPIDs(srv)
			if err != nil {
				return err
			}
			start := time.Now()
			if err := sp.reload(e, srv, dir); err != nil {
				return fmt.Errorf("reload %d: %w", i+1, err)
			}
			err = waitFor(30*time.Second, func() error {
				now, err := workerPIDs(srv)
				if err != nil {
					return err
				}
				for _, pid := range old {
					if slices.Contains(now, pid) {
						return fmt.Errorf("worker %d of the previous generation still runs", pid)
					}
				}
				return sp.ready(srv, dir, p.Workers)
			})
			if err != nil {
				return fmt.Errorf("reload %d: %w", i+1, err)
			}
			ms = append(ms, float64(time.Since(start))/float64(time.Millisecond))
			r.Reloads++
			time.Sleep(p.Gap)
		}
		return nil
	}()
	time.Sleep(300 * time.Millisecond)
	wrk.Process.Signal(syscall.SIGINT)
	select {
	case err := <-wdone:
		if err != nil && rerr == nil {
			rerr = fmt.Errorf("wrk: %v: %s", err, clip(wout.String()))
		}
	case <-time.After(10 * time.Second):
		child.Kill(wrk)
		<-wdone
		if rerr == nil {
			rerr = errors.New("wrk did not stop within 10 s of SIGINT")
		}
	}
	r.ClientCPUs = <-cpus
	r.ReloadMs = harness.StatOf(ms)
	if rerr != nil {
		return rerr
	}
	w, err := ParseWrk(wout.String())
	if err != nil {
		return err
	}
	r.Requests, r.SocketErrors, r.Non2xx, r.RPS, r.P50, r.P99 = w.Requests, w.SocketErrors, w.Non2xx, w.RPS, w.P50, w.P99
	if r.ServerCPUs, err = rawsys.AllowedCPUs(srv.pid); err != nil {
		return err
	}
	return srv.alive()
}

// workerPIDs returns the server's processes other than its main one.
func workerPIDs(srv *server) ([]int, error) {
	pids, err := rawsys.Tree(srv.pid)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(pids, func(p int) bool { return p == srv.pid }), nil
}

// waitFor polls f every 5 ms until it returns nil, or returns its last
// error after limit.
func waitFor(limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", limit, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
