package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
	"github.com/coopgo/coop/netio/prefork"
)

// TestWorkers runs kv as a pool (-workers 2): redis-cli is served on one
// connection by one worker's keys, and redis-benchmark completes with no
// error across a SIGHUP reload (a draining worker finishes the sessions
// it has).
func TestWorkers(t *testing.T) {
	exampletest.Need(t, "redis-cli", "redis-benchmark")
	exampletest.NeedPool(t)
	sock := filepath.Join(t.TempDir(), "control.sock")
	s := exampletest.Start(t, bin, "-workers", "2", "-control", sock)
	var st *prefork.Status
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		st, err = prefork.ReadStatus(sock)
		if err == nil && st.Ready == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool not ready: %+v %v", st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h, p := hostPort(t, s.Addr)
	out, err := exampletest.RunErr(10*time.Second, []byte("SET k v\nGET k\n"), "redis-cli", "-h", h, "-p", p)
	if err != nil || out != "OK\nv\n" {
		t.Fatalf("redis-cli on one connection: %q, %v", out, err)
	}
	done := make(chan string, 1)
	go func() {
		out, err := exampletest.RunErr(60*time.Second, nil, "redis-benchmark", "-h", h, "-p", p, "-n", "100000", "-c", "20", "-t", "set,get", "-q")
		if err != nil {
			out += "\nexit: " + err.Error()
		}
		done <- out
	}()
	time.Sleep(200 * time.Millisecond)
	syscall.Kill(st.PID, syscall.SIGHUP)
	out = <-done
	if strings.Contains(strings.ToLower(out), "error") || strings.Contains(out, "exit:") ||
		!strings.Contains(out, "SET:") || !strings.Contains(out, "GET:") {
		t.Errorf("redis-benchmark across a reload:\n%s", out)
	}
	st2, err := prefork.ReadStatus(sock)
	if err != nil || st2.Generation != 2 {
		t.Errorf("after SIGHUP: %+v, %v", st2, err)
	}
	if strings.Contains(s.Output(), "WARNING: DATA RACE") {
		t.Error("a process of the pool reported a data race")
	}
}
