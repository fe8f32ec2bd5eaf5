package prefork_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/netio/prefork"
)

// TestServes starts a pool and talks to it: every worker is ready, and
// requests are answered.
func TestServes(t *testing.T) {
	p := startPool(t, poolConfig{Workers: 2})
	st := p.status()
	if st.Ready != 2 || len(st.Processes) != 2 || st.Generation != 1 {
		t.Fatalf("status: %+v", st)
	}
	for range 10 {
		if got := get(t, p.addr, "/"); got != "ok\n" {
			t.Fatalf("GET /: %q", got)
		}
	}
	p.signal(syscall.SIGTERM)
	if err := p.wait(10 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if !strings.Contains(p.out.String(), "stopped") {
		t.Errorf("no stop in the log:\n%s", p.out.String())
	}
}

// TestPreforkctl drives the pool with the CLI.
func TestPreforkctl(t *testing.T) {
	p := startPool(t, poolConfig{Workers: 2})
	bin := filepath.Join(t.TempDir(), "preforkctl")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/preforkctl").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-s", p.control, "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2 of 2 workers ready") || strings.Count(string(out), " ready ") != 2 {
		t.Fatalf("preforkctl status: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "-s", p.control, "reload").CombinedOutput(); err != nil || string(out) != "ok\n" {
		t.Fatalf("preforkctl reload: %v %q", err, out)
	}
	p.waitFor("generation 2", 5*time.Second, func(st *prefork.Status) bool { return st.Generation == 2 && !st.Reloading })
	if out, err := exec.Command(bin, "-s", p.control, "scale", "x").CombinedOutput(); err == nil || !strings.Contains(string(out), "want a number") {
		t.Errorf("preforkctl scale x: %v %q", err, out)
	}
}
