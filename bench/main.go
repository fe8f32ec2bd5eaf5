//go:build linux

// Command bench is coop's study: for an I/O server with thousands of
// sessions, what do user contexts cost next to a hand-written event loop,
// threads, goroutines and a process pool?
//
// Run it from the repository root:
//
//	go -C bench run .                  # quick: under 3 minutes on 2 cores
//	go -C bench run . -full            # longer intervals, more repeats, 50,000 sessions
//	go -C bench run . -smoke           # tiny durations: checks that everything runs (CI)
//	go -C bench run . -full -md RESULTS.md   # regenerate bench/RESULTS.md and bench/results/
//	go -C bench run . -render -md RESULTS.md # re-render tables, plots and page from results/latest.json
//
// It prints a machine line and tables on stdout and progress on stderr, and
// writes run-<time>.json, latest.json and the plots (*.png, *.svg) to the
// directory -out names: by default bench/out/, which git ignores, so that
// a run rewrites no tracked file. Only -md (the page shows the plots of
// bench/results/, its default -out) or an explicit -out results rewrites
// the committed results. It measures these things:
//
//   - the switch ladder: one transfer of control, from a plain call to a
//     switch between two processes;
//   - spawn cost and memory per suspended goroutine, context or coroutine;
//   - the echo server written in every daemon model (package
//     internal/models), each in a server process pinned to CPU 0, driven by
//     a load generator pinned to CPU 1 (package internal/loadgen), across
//     session counts from 10 to 10,000 (50,000 with -full): server CPU per
//     request in closed loop and at equal load (an open loop at the same
//     rate for every model), open-loop latency, memory per session, and a
//     streaming row (the reference rows marked FullOnly, such as epoll-2,
//     only with -full or -smoke, or when -models names them); the load
//     generator's connections send in the order they were opened
//     (-order rotation, the default) or in a random order (-order random);
//     for interleaved rounds of a few models against a baseline, see
//     cmd/pairs;
//   - real clients and C references (package internal/clients): wrk
//     against examples/http on coop, net/http and nginx; redis-benchmark
//     against examples/kv on coop, a minimal RESP server on package net
//     and redis-server, each server pinned to CPU 0 and each client to
//     CPU 1, when those tools are installed;
//   - IRC fan-out (package internal/irc): examples/chat in task and ready
//     mode against ngircd, InspIRCd and Ergo, under the study's own IRC
//     load generator: server CPU per delivered line, delivery latency,
//     memory per idle client. No package provides the Ergo IRC server
//     (Debian's "ergo" is a quantum chemistry program, and the Go module
//     proxy refuses github.com/ergochat/ergo): build it from its source
//     and give the study its binary with -ergo PATH or the environment
//     variable COOP_BENCH_ERGO; without one its row says so;
//   - reloads under load (package internal/clients): examples/http as a
//     pool of worker processes (netio/prefork, SIGHUP) against nginx
//     (nginx -s reload), under wrk: failed requests and latency;
//   - shared state across event-loop instances (-full and -smoke only;
//     package internal/clients): examples/kv on two schedulers that
//     forward commands to the owner of each key, against one scheduler,
//     the same two sharing one store under a mutex, and net goroutines
//     with a mutex, under redis-benchmark with random keys;
//   - nothing else: every row that cannot run prints why.
//
// The binary re-executes itself for every server, worker and client
// process (package internal/child); all of them die with it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/irc"
	"github.com/coopgo/coop/bench/internal/loadgen"
	"github.com/coopgo/coop/bench/internal/report"
)

func main() {
	child.Main() // a re-executed child runs its role and exits here
	os.Exit(run())
}

func run() (code int) {
	full := flag.Bool("full", false, "the full study: longer intervals, more repeats, 10,000 idle connections")
	smoke := flag.Bool("smoke", false, "tiny durations and counts: checks that every row runs (CI)")
	md := flag.String("md", "", "also write the markdown page to this file (relative to bench/, e.g. RESULTS.md)")
	out := flag.String("out", "", "directory for JSON results and plots, relative to bench/ (default: "+defaultOut+", untracked; with -md: "+trackedOut+", the tracked plots the page shows)")
	render := flag.Bool("render", false, "do not measure: re-render tables, plots and -md from <out>/latest.json")
	only := flag.String("only", "", "comma-separated parts to run: ladder, spawn, servers, clients, front, irc, reload, shared (default: all; shared only with -full or -smoke)")
	modelsFlag := flag.String("models", "", "comma-separated server models to run (default: all; in quick mode all but the -full-only references, such as epoll-2)")
	rate := flag.Float64("rate", 0, "equal-load rate in requests/s, the same for every model and count (default: chosen per count from the slowest model's closed-loop throughput)")
	connsFlag := flag.String("conns", "", "comma-separated session counts of the sweep, e.g. 100,10000 (default: the mode's)")
	orderFlag := flag.String("order", "rotation", "the order in which the load generator's connections send in the sweep's closed-loop and equal-load rows: rotation (the order they were opened in, round-robin) or random (a new random order every round; the closed loop starts in a random order and keeps it)")
	seed := flag.Uint64("seed", 1, "the seed of -order random (the same seed, the same order)")
	respConns := flag.Int("resp-conns", 0, "redis-benchmark's connections (-c) (default: the mode's, 50)")
	ergo := flag.String("ergo", os.Getenv(irc.ErgoEnv), "the Ergo IRC server's binary, which no package provides (default: $"+irc.ErgoEnv+"; empty: Ergo's row is skipped)")
	flag.Parse()
	*out = outputDir(*out, *md)

	// Children must never outlive the study: on return, on a panic, on
	// Ctrl-C or SIGTERM.
	defer child.KillAll()
	defer func() {
		if p := recover(); p != nil {
			child.KillAll()
			panic(p)
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		child.KillAll()
		fmt.Fprintf(os.Stderr, "\nbench: %v: children killed\n", s)
		os.Exit(130)
	}()

	var r *report.Run
	if *render {
		var err error
		if r, err = report.Load(filepath.Join(*out, "latest.json")); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	} else {
		mode := "quick"
		switch {
		case *full && *smoke:
			fmt.Fprintln(os.Stderr, "bench: -full and -smoke exclude each other")
			return 2
		case *full:
			mode = "full"
		case *smoke:
			mode = "smoke"
		}
		conns, err := counts(*connsFlag)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -conns:", err)
			return 2
		}
		order, err := loadgen.ParseOrder(*orderFlag)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -order:", err)
			return 2
		}
		if *respConns < 0 {
			fmt.Fprintln(os.Stderr, "bench: -resp-conns must not be negative (0: the mode's)")
			return 2
		}
		cfg := studyConfig{mode: mode, parts: split(*only), models: split(*modelsFlag), rate: *rate, order: order, seed: *seed, conns: conns, respConns: *respConns, ergo: *ergo, command: "go -C bench run . " + strings.Join(os.Args[1:], " ")}
		if r, err = runStudy(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		name, err := report.Save(r, *out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: saving results:", err)
			return 1
		}
		where, _ := filepath.Abs(*out) // "out" alone would not say bench/out
		defer fmt.Fprintf(os.Stderr, "bench: results and plots in %s (%s, latest.json)\n", where, filepath.Base(name))
	}
	report.Text(os.Stdout, r)
	if err := report.Plot(r, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench: plots:", err)
		code = 1
	}
	if *md != "" {
		if err := report.WriteMarkdown(*md, r, *out); err != nil {
			fmt.Fprintln(os.Stderr, "bench: markdown:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", *md)
	}
	return code
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// counts parses -conns: positive counts in increasing order.
func counts(s string) ([]int, error) {
	var cs []int
	for _, f := range split(s) {
		c, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || c < 1 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		if len(cs) > 0 && c <= cs[len(cs)-1] {
			return nil, fmt.Errorf("counts must increase: %d after %d", c, cs[len(cs)-1])
		}
		cs = append(cs, c)
	}
	return cs, nil
}
