package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
	"github.com/coopgo/coop/internal/wrkout"
	"github.com/coopgo/coop/netio/prefork"
)

// waitPool polls the pool's control socket until cond holds.
func waitPool(t *testing.T, sock, what string, cond func(*prefork.Status) bool) *prefork.Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := prefork.ReadStatus(sock)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s (%+v, %v)", what, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settled: n workers, all of the newest generation and ready.
func settled(n int) func(*prefork.Status) bool {
	return func(st *prefork.Status) bool {
		if st.Ready != n || st.Reloading || st.Upgrading || len(st.Processes) != n {
			return false
		}
		for _, w := range st.Processes {
			if w.Generation != st.Generation || w.State != "ready" {
				return false
			}
		}
		return true
	}
}

// TestWorkers runs the server as a pool (-workers 2, -cores 2 each) and
// under wrk -c 50 reloads it with SIGHUP, then upgrades it with SIGUSR2:
// no request fails, in either mode — the keep-alive connections of a
// draining worker are told "Connection: close" on their next response.
func TestWorkers(t *testing.T) {
	exampletest.Need(t, "wrk")
	exampletest.NeedPool(t)
	// Under -race, no second of sleep at every process's exit (the race
	// detector's atexit_sleep_ms), which every reload would wait for.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	forModes(t, func(t *testing.T, mode string) {
		sock := filepath.Join(t.TempDir(), "control.sock")
		srv := exampletest.Start(t, bin, "-mode", mode, "-workers", "2", "-cores", "2", "-control", sock)
		t.Cleanup(func() { prefork.Control(sock, "quit") }) // the master after the upgrade
		st := waitPool(t, sock, "2 workers", settled(2))
		master := st.PID
		type result struct {
			out string
			err error
		}
		wrk := make(chan result, 1)
		go func() {
			out, err := exampletest.RunErr(30*time.Second, nil, "wrk", "-t1", "-c50", "-d3s", "--timeout", "5s", "http://"+srv.Addr+"/")
			wrk <- result{out, err}
		}()
		time.Sleep(300 * time.Millisecond)
		for range 5 {
			gen := st.Generation
			syscall.Kill(st.PID, syscall.SIGHUP)
			st = waitPool(t, sock, "reload", func(st *prefork.Status) bool { return st.Generation == gen+1 && settled(2)(st) })
		}
		syscall.Kill(st.PID, syscall.SIGUSR2)
		st = waitPool(t, sock, "upgrade", func(st *prefork.Status) bool { return st.PID != master && settled(2)(st) })
		r := <-wrk
		ws, err := wrkout.Parse(r.out)
		if r.err != nil || err != nil || ws.Failed() > 0 {
			t.Fatalf("wrk: %v, %v\n%s", r.err, err, r.out)
		}
		t.Logf("%s mode: 5 reloads and an upgrade under wrk -c 50: %d requests, none failed", mode, ws.Requests)
		if _, err := prefork.Control(sock, "stop"); err != nil {
			t.Fatal(err)
		}
		// The pool's processes report races on their stderr, and no one
		// reads their exit status: wait until the master is gone (the
		// control socket with it), then look.
		deadline := time.Now().Add(10 * time.Second)
		for _, err := prefork.ReadStatus(sock); err == nil; _, err = prefork.ReadStatus(sock) {
			if time.Now().After(deadline) {
				t.Fatal("the pool did not stop within 10s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if strings.Contains(srv.Output(), "WARNING: DATA RACE") {
			t.Error("a process of the pool reported a data race")
		}
	})
}

// TestWorkersOndemand: -workers 0 -max-workers 2 is an ondemand pool: it
// idles at zero workers, curl's request starts one and is answered, and
// after -idle-timeout the pool is back at zero.
func TestWorkersOndemand(t *testing.T) {
	exampletest.Need(t, "curl")
	exampletest.NeedPool(t)
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	sock := filepath.Join(t.TempDir(), "control.sock")
	srv := exampletest.Start(t, bin, "-workers", "0", "-max-workers", "2", "-idle-timeout", "300ms", "-control", sock)
	atZero := func(what string) {
		t.Helper()
		waitPool(t, sock, what, func(st *prefork.Status) bool {
			return st.Pool == "ondemand" && st.Watching && st.Workers == 0 && len(st.Processes) == 0
		})
	}
	atZero("at zero") // Start's probe connection may have woken it: then back at zero
	if got := curl(t, "http://"+srv.Addr+"/"); got != "Hello, World!\n" {
		t.Errorf("GET / at zero workers: %q", got)
	}
	atZero("back at zero after -idle-timeout")
	if _, err := prefork.Control(sock, "stop"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Wait(10 * time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	if strings.Contains(srv.Output(), "WARNING: DATA RACE") {
		t.Error("a process of the pool reported a data race")
	}
}
