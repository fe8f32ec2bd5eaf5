package prefork_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/syncbuf"
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
	// "status -json", as the command's doc writes it, and "-json status".
	for _, args := range [][]string{{"status", "-json"}, {"-json", "status"}} {
		out, err := exec.Command(bin, append([]string{"-s", p.control}, args...)...).CombinedOutput()
		var st prefork.Status
		if err != nil || json.Unmarshal(out, &st) != nil || st.Ready != 2 {
			t.Errorf("preforkctl %v: %v\n%s", args, err, out)
		}
	}
	if out, err := exec.Command(bin, "-s", p.control, "reload").CombinedOutput(); err != nil || string(out) != "ok\n" {
		t.Fatalf("preforkctl reload: %v %q", err, out)
	}
	p.waitFor("generation 2", 5*time.Second, func(st *prefork.Status) bool { return st.Generation == 2 && !st.Reloading })
	if out, err := exec.Command(bin, "-s", p.control, "scale", "x").CombinedOutput(); err == nil || !strings.Contains(string(out), "want a number") {
		t.Errorf("preforkctl scale x: %v %q", err, out)
	}
}

// TestOwnReexecScheme: a program that removes the variable it dispatches
// on once read (as a test binary's TestMain or a benchmark's child
// processes do) runs a pool by giving the variable back through
// Config.Env and its arguments through Config.Args: the workers and,
// after SIGUSR2, the new master take the same path to Run, and IsWorker
// tells the roles apart.
func TestOwnReexecScheme(t *testing.T) {
	needNative(t)
	dir := t.TempDir()
	pc := poolConfig{Workers: 2, Control: filepath.Join(dir, "control.sock"), HangMs: 2000, DrainMs: 3000, Consume: true}
	p := &pool{t: t, control: pc.Control, out: new(syncbuf.Buffer), done: make(chan error, 1), bin: os.Args[0]}
	p.start(pc)
	t.Cleanup(func() { prefork.Control(pc.Control, "quit") }) // whichever master holds it then
	want := fmt.Sprintf("%q true\n", []string{"-test.run=^$", "-prefork.again"})
	if got := get(t, p.addr, "/args"); got != want {
		t.Fatalf("a worker's arguments and IsWorker: %q, want %q", got, want)
	}
	before := p.status()
	p.signal(syscall.SIGUSR2)
	st := p.waitFor("a new master", 10*time.Second, func(st *prefork.Status) bool {
		return st.PID != before.PID && st.Ready == 2 && len(st.Processes) == 2
	})
	if got := get(t, p.addr, "/args"); got != want {
		t.Fatalf("after the upgrade, a worker's arguments and IsWorker: %q, want %q", got, want)
	}
	out := p.out.String()
	for _, pid := range []int{before.PID, st.PID} {
		if !strings.Contains(out, fmt.Sprintf("pool program: master %d,", pid)) {
			t.Errorf("master %d did not see IsWorker false:\n%s", pid, out)
		}
	}
	if strings.Count(out, "pool program: master") != 2 {
		t.Errorf("IsWorker was false in a worker:\n%s", out)
	}
}
