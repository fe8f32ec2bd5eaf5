package prefork_test

import (
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/proctest"
	"github.com/coopgo/coop/internal/syncbuf"
	"github.com/coopgo/coop/netio/prefork"
)

// copyBinary copies this test binary to a directory of the test's, so
// that an upgrade can replace it there.
func copyBinary(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tmp := dst + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestUpgrade: SIGUSR2 under wrk hands the pool to a new master started
// from the (replaced) binary, which inherits the listeners: no request
// fails, every worker and the master are replaced, and the old master
// exits. Then a broken binary: the upgrade fails and the master goes on
// serving, still with no failed request.
func TestUpgrade(t *testing.T) {
	needNative(t)
	need(t, "wrk")
	p := startUpgradable(t)
	bin := p.bin
	before := p.status()

	wrk := runWrk(t, 50, "http://"+p.addr+"/")
	time.Sleep(300 * time.Millisecond)
	st := upgrade(t, p, before)
	n := checkWrk(t, wrk.interrupt(t))
	t.Logf("upgrade under wrk -c 50: master %d → %d, %d requests, none failed", before.PID, st.PID, n)

	// A broken binary: the upgrade fails, the master goes on serving.
	if err := os.WriteFile(bin+".new", []byte("#!/bin/sh\necho broken binary >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Rename(bin+".new", bin)
	wrk = runWrk(t, 50, "http://"+p.addr+"/")
	time.Sleep(300 * time.Millisecond)
	syscall.Kill(st.PID, syscall.SIGUSR2)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.out.String(), "upgrade failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed upgrade in the log:\n%s", p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkWrk(t, wrk.interrupt(t))
	if st2 := p.status(); st2.PID != st.PID || st2.Ready != 2 || st2.Upgrading {
		t.Errorf("after a failed upgrade: %+v, want master %d serving", st2, st.PID)
	}
}

// TestUpgradeCannotStart: an upgrade whose new master cannot be started
// (its binary is gone) is refused on the control socket, with the reason;
// it used to be answered "ok" while the log said it had failed. The
// master goes on serving.
func TestUpgradeCannotStart(t *testing.T) {
	needNative(t)
	p := startUpgradable(t)
	p.waitFor("two ready workers", 10*time.Second, func(st *prefork.Status) bool { return st.Ready == 2 })
	if err := os.Remove(p.bin); err != nil {
		t.Fatal(err)
	}
	out, err := prefork.Control(p.control, "upgrade")
	if err == nil || !strings.Contains(err.Error(), "upgrade failed") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("control upgrade with the binary gone: %q, %v; want an error saying the upgrade failed, and why", out, err)
	}
	if st := p.status(); st.Upgrading || st.Ready != 2 {
		t.Errorf("after the refused upgrade: %+v, want the master serving, no upgrade under way", st)
	}
}

// startUpgradable starts a pool of two workers from a copy of this test
// binary in a directory of the test's, which an upgrade can replace.
func startUpgradable(t *testing.T) *pool {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "pool")
	copyBinary(t, bin)
	pc := poolConfig{Workers: 2, Control: filepath.Join(dir, "control.sock"), HangMs: 2000, DrainMs: 3000}
	p := &pool{t: t, control: pc.Control, out: new(syncbuf.Buffer), done: make(chan error, 1), bin: bin}
	p.start(pc)
	t.Cleanup(func() { prefork.Control(pc.Control, "quit") }) // whichever master holds it then
	return p
}

// upgrade replaces the binary, sends SIGUSR2 to the master of before and
// waits until a new master serves with two new workers and the old master
// has exited. It returns the new master's status.
func upgrade(t *testing.T, p *pool, before *prefork.Status) *prefork.Status {
	t.Helper()
	copyBinary(t, p.bin) // "the new binary"
	syscall.Kill(before.PID, syscall.SIGUSR2)
	st := p.waitFor("a new master", 10*time.Second, func(st *prefork.Status) bool {
		return st.PID != before.PID && st.Ready == 2 && len(st.Processes) == 2
	})
	for pid := range pids(st) {
		if pids(before)[pid] {
			t.Errorf("worker %d survived the upgrade", pid)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for proctest.Running(before.PID) {
		if time.Now().After(deadline) {
			t.Fatalf("the old master %d did not exit", before.PID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return st
}

// TestUpgradeUnderH2load: the same upgrade under h2load --h1 -c 50: no
// failed, errored or timed-out request, no non-2xx, every worker and the
// master replaced. h2load -D never ends when one of its clients is
// reconnecting (a draining worker's "Connection: close") as the duration
// ends (see TestReloadUnderH2load), so the upgrade must be over, its old
// workers gone with the old master, well before the run ends; a round in
// which it was not is not judged and runs again, longer.
func TestUpgradeUnderH2load(t *testing.T) {
	needNative(t)
	need(t, "h2load")
	p := startUpgradable(t)
	secs := 2
	for round := 1; ; round++ {
		before := p.status()
		end := time.Now().Add(time.Duration(secs) * time.Second)
		h2 := runBackground(t, "h2load", "--h1", "-c", "50", "-D", strconv.Itoa(secs), "http://"+p.addr+"/")
		time.Sleep(300 * time.Millisecond)
		began := time.Now()
		st := upgrade(t, p, before)
		took := time.Since(began)
		if left := time.Until(end); left >= time.Second || round == 3 {
			checkH2load(t, h2.wait(t, time.Duration(secs+20)*time.Second))
			t.Logf("upgrade under h2load --h1 -c 50 (round %d): master %d → %d in %v", round, before.PID, st.PID, took.Round(time.Millisecond))
			return
		}
		// Too close to the run's end to trust h2load to end: let the
		// run go (its cleanup kills it if it hangs) and try again.
		t.Logf("round %d: the upgrade took %v and ended %v before h2load's end; again with a longer run", round, took.Round(time.Millisecond), time.Until(end).Round(time.Millisecond))
		select {
		case err := <-h2.done:
			h2.done <- err
		case <-time.After(time.Until(end) + 5*time.Second):
		}
		secs = max(secs, int(math.Ceil((3*took + 2*time.Second).Seconds())))
	}
}

// TestNoLeaks: across 100 reloads (-prefork.soak), the master's
// descriptors and the pool's processes stay as they were.
func TestNoLeaks(t *testing.T) {
	t.Parallel() // mostly waiting for reloads; no timing asserted
	p := startPool(t, poolConfig{Workers: 2})
	master := p.cmd.Process.Pid
	fdsBefore := settledFDs(t, master)
	workerFDs := 0
	for _, w := range p.status().Processes {
		workerFDs = max(workerFDs, countFDs(t, w.PID))
	}
	for i := range *soak {
		gen := p.status().Generation
		p.signal(syscall.SIGHUP)
		p.waitFor(fmt.Sprintf("reload %d", i+1), 10*time.Second, func(st *prefork.Status) bool {
			if st.Generation != gen+1 || st.Reloading || len(st.Processes) != 2 {
				return false
			}
			for _, w := range st.Processes {
				if w.Generation != gen+1 || w.State != "ready" {
					return false
				}
			}
			return true
		})
		get(t, p.addr, "/")
	}
	st := p.status()
	if got := settledFDs(t, master); got != fdsBefore {
		t.Errorf("master descriptors: %d before %d reloads, %d after", fdsBefore, *soak, got)
	}
	for _, w := range st.Processes {
		if got := countFDs(t, w.PID); got > workerFDs+2 {
			t.Errorf("worker %d: %d descriptors, the first generation had %d", w.PID, got, workerFDs)
		}
	}
	if kids := settledChildren(master, 2); len(kids) != 2 {
		t.Errorf("master's children after %d reloads: %v, want its 2 workers (no zombie)", *soak, kids)
	}
	t.Logf("%d reloads: master %d descriptors before and after; workers ≤ %d; 2 children", *soak, fdsBefore, workerFDs)
}

// settledFDs counts pid's descriptors a few times and keeps the least:
// a control connection being answered holds one for a moment.
func settledFDs(t *testing.T, pid int) int {
	t.Helper()
	n := countFDs(t, pid)
	for range 10 {
		time.Sleep(20 * time.Millisecond)
		n = min(n, countFDs(t, pid))
	}
	return n
}

func countFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settledChildren waits up to 10 s for pid to have n children, and
// returns its children then: a worker that has just ended may still be
// being reaped (the master hears of a worker's end before the kernel has
// released it if that takes long; see waitWorker).
func settledChildren(pid, n int) []string {
	kids := children(pid)
	for deadline := time.Now().Add(10 * time.Second); len(kids) != n && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		kids = children(pid)
	}
	return kids
}

// children lists the processes whose parent is pid, zombies included.
func children(pid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == fmt.Sprint(pid) {
			out = append(out, e.Name()+":"+f[0])
		}
	}
	return out
}

// TestSocketActivation: under systemd-socket-activate (systemd's own
// tool for socket activation), the master takes the socket it passes by
// name instead of opening one.
func TestSocketActivation(t *testing.T) {
	needNative(t)
	need(t, "systemd-socket-activate")
	addr := freeAddr(t)
	pc := poolConfig{Workers: 2, Addr: "127.0.0.1:1", Control: filepath.Join(t.TempDir(), "control.sock"), HangMs: 2000, DrainMs: 3000}
	p := &pool{t: t, addr: addr, control: pc.Control, out: new(syncbuf.Buffer), done: make(chan error, 1), bin: "systemd-socket-activate"}
	js := fmt.Sprintf(`{"addr":%q,"workers":2,"control":%q,"hang_ms":2000,"drain_ms":3000}`, pc.Addr, pc.Control)
	args := []string{"-l", addr, "--fdname=http", "-E", testPoolEnv + "=" + js}
	if raceEnabled {
		args = append(args, "-E", "GORACE") // poolEnviron's
	}
	p.cmd = exec.Command("systemd-socket-activate", append(args, os.Args[0], "-test.run=^$")...)
	p.cmd.Env = poolEnviron()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
		}
		p.checkRaces()
		if t.Failed() {
			t.Logf("output:\n%s", p.out.String())
		}
	})
	// systemd-socket-activate starts the program at the first connection.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := get(t, addr, "/"); got != "ok\n" {
		t.Fatalf("GET through the activated socket: %q", got)
	}
	p.waitReady(2, 5*time.Second)
	if !strings.Contains(p.out.String(), `listener "http": the socket systemd passed`) {
		t.Errorf("the master did not take systemd's socket:\n%s", p.out.String())
	}
}
