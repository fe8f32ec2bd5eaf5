//go:build linux

package main

import (
	"os"
	"strings"
	"testing"

	"github.com/coopgo/coop/bench/internal/child"
)

func TestMain(m *testing.M) {
	child.Main() // a re-executed child (server, load generator, ladder row) runs here
	os.Exit(m.Run())
}

// TestPairs runs two models for two short rounds, both loop modes and both
// orders, and checks the summary has a ratio for every one of them.
func TestPairs(t *testing.T) {
	var out strings.Builder
	args := []string{"-models", "epoll,coop-task", "-conns", "20", "-rounds", "2", "-rate", "2000",
		"-warmup", "10ms", "-interval", "50ms", "-intervals", "1"}
	if code := run(args, &out); code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, &out)
	}
	got := out.String()
	for _, want := range []string{"closed loop, rotation order", "closed loop, random order",
		"open loop at 2000 requests/s, rotation order", "open loop at 2000 requests/s, random order", "null syscall"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in the output:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "×epoll "); n != 4 {
		t.Errorf("%d ratios against epoll, want 4 (one per mode and order):\n%s", n, got)
	}
	if strings.Contains(got, "failed") {
		t.Errorf("a measurement failed:\n%s", got)
	}
}

func TestRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-models", "epoll"},            // no model to compare
		{"-models", "epoll,nosuch"},     // unknown model
		{"-models", "epoll,coop-group"}, // multi-core
		{"-orders", "shuffle"},          // unknown order
		{"-modes", "stream"},            // not a loop mode
		{"-models", "epoll,net", "-rounds", "0"},
	} {
		var out strings.Builder
		if code := run(args, &out); code == 0 {
			t.Errorf("run(%q) exited 0", args)
		}
	}
}
