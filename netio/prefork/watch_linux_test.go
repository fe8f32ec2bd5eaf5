package prefork

import (
	stdlog "log"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/proctest"
	"github.com/coopgo/coop/internal/syncbuf"
)

// TestWatchNoHangBeforeReady: a worker retired before it said ready (a
// stop right after a start) has no heartbeat baseline, so its silence
// proves nothing. It was reported hung "for 2562047h" (the distance to
// the zero time) and sent a dump request; here that would dereference
// the worker's missing control socket.
func TestWatchNoHangBeforeReady(t *testing.T) {
	now := time.Now()
	m := &master{cfg: &Config{Cores: 1, HangTimeout: time.Second, ReadyTimeout: time.Minute}, workers: map[*wproc]bool{}}
	w := &wproc{page: &page{}, state: stopping, started: now.Add(-10 * time.Second), killAt: now.Add(time.Minute)}
	m.workers[w] = true
	m.watch(w, now)
	if w.hung || w.killed != "" {
		t.Errorf("a worker never ready: hung %v, killed %q; want neither", w.hung, w.killed)
	}
}

// TestWatchEndedNotKilled: a worker that has exited by its kill time is
// neither sent SIGKILL nor reported "killed: did not stop in time": its
// exit is only being reported late. Reaping a worker can block the
// master's wait for seconds in the kernel (release_task flushing the
// worker's /proc entries, shrink_dcache_parent: 2 to 10 s after the exit
// on a busy 2-vCPU VM), and examples/farm's rolling restart logged
// "killed: did not stop in time (exited with status 0)" for workers
// that had exited 1 s after SIGTERM. Here the worker is a real process
// that has exited, unreaped, then reaped.
func TestWatchEndedNotKilled(t *testing.T) {
	if os.Getenv("COOP_TEST_EXEC") != "" {
		t.Skip("skipped under COOP_TEST_EXEC: starting a child process with a pidfd fails under qemu-user (invalid argument)")
	}
	path, err := exec.LookPath("true")
	if err != nil {
		t.Skip("skipped: no true(1) to run as a worker")
	}
	p, err := startProc(path, []string{"true"}, nil, nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.release()
	for deadline := time.Now().Add(30 * time.Second); !p.ended(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("true(1) has not ended within 30s, as its pidfd tells")
		}
	}
	now := time.Now()
	m := &master{cfg: &Config{Cores: 1, HangTimeout: -1, ReadyTimeout: time.Minute}, workers: map[*wproc]bool{},
		oomCount: func() uint64 { return 0 }}
	w := &wproc{proc: p, page: &page{}, state: draining, asked: true,
		started: now.Add(-10 * time.Second), readyAt: now.Add(-10 * time.Second), killAt: now.Add(-time.Second)}
	m.workers[w] = true
	m.watch(w, now)
	st, werr := p.wait()
	if got, want := m.classify(w, st, werr), "exited with status 0"; got != want {
		t.Errorf("a worker that exited before its kill time, reaped after it: %q; want %q", got, want)
	}
	if !p.ended() {
		t.Error("a reaped process: ended reports false")
	}
}

// TestClassifyKilledLate: a worker the master sent SIGKILL is said to be
// killed only if its status says SIGKILL; one that exited by itself (it
// was exiting already when the signal came, and the kernel took seconds
// to finish it: the farm's rolling restart, workers that exited 1 s
// after SIGTERM, reaped 5.7 s later) is said to have exited.
func TestClassifyKilledLate(t *testing.T) {
	m := &master{oomCount: func() uint64 { return 0 }}
	w := &wproc{killed: "killed: did not stop in time"}
	for _, tc := range []struct {
		st   exitStatus
		want string
	}{
		{exitStatus{exited: true}, "exited with status 0 (past its stop time: the master's SIGKILL found it exiting already)"},
		{exitStatus{signal: syscall.SIGKILL}, "killed: did not stop in time (killed by signal 9 (SIGKILL))"},
	} {
		if got := m.classify(w, tc.st, nil); got != tc.want {
			t.Errorf("%v after the master's SIGKILL: %q; want %q", tc.st, got, tc.want)
		}
	}
}

// TestWaitEndLeavesZombie: waitEnd reads how a child ended without
// reaping it — it is still a zombie, the master's to reap or to leave —
// and reap then reaps it. A stopping master reads its last workers'
// ends this way and leaves them to be reaped by whoever adopts them, so
// that no thread of its own is held in the kernel's reaping (seconds, on
// a busy VM) when it exits.
func TestWaitEndLeavesZombie(t *testing.T) {
	if os.Getenv("COOP_TEST_EXEC") != "" {
		t.Skip("skipped under COOP_TEST_EXEC: starting a child process with a pidfd fails under qemu-user (invalid argument)")
	}
	path, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("skipped: no sh(1) to run as a worker")
	}
	for _, pidfd := range []bool{true, false} {
		p, err := startProc(path, []string{"sh", "-c", "exit 3"}, nil, nil, -1)
		if err != nil {
			t.Fatal(err)
		}
		if !pidfd {
			p.release() // the wait4 path, for kernels without pidfd
		}
		st, err := p.waitEnd()
		if err != nil || !st.exited || st.code != 3 {
			t.Fatalf("pidfd %v: waitEnd: %v, %v; want exited with status 3", pidfd, st, err)
		}
		if s := proctest.Stat(p.pid); !strings.Contains(s, ") Z ") {
			t.Errorf("pidfd %v: after waitEnd: %s; want a zombie, not reaped", pidfd, s)
		}
		if err := p.reap(); err != nil {
			t.Fatalf("pidfd %v: reap: %v", pidfd, err)
		}
		if err := syscall.Kill(p.pid, 0); err != syscall.ESRCH {
			t.Errorf("pidfd %v: after reap, kill(pid, 0): %v; want ESRCH (reaped)", pidfd, err)
		}
		p.release()
	}
}

// TestStopBounded: a stopping master stops waiting for a worker whose
// end the kernel has not reported in time — one that closed its end of
// the control socket (it is exiting) over exitReportWait ago, or one it
// sent SIGKILL over killWait ago — and says so; it waits for the others.
// The kernel took 2 to 10 s to report workers that had exited, and a
// worker stuck in the kernel would never be reported: examples/farm's
// host, whose workers exited 1 s after SIGTERM, did not exit within 11 s.
func TestStopBounded(t *testing.T) {
	now := time.Now()
	var log syncbuf.Buffer
	m := &master{cfg: &Config{Logger: stdlog.New(&log, "", 0)}, workers: map[*wproc]bool{}, stopping: true}
	closed := &wproc{proc: &proc{pid: 101, pidfd: -1}, closedAt: now.Add(-exitReportWait - 100*time.Millisecond)}
	killed := &wproc{proc: &proc{pid: 102, pidfd: -1}, killed: "killed: the stop timed out", killedAt: now.Add(-killWait - 100*time.Millisecond)}
	closing := &wproc{proc: &proc{pid: 103, pidfd: -1}, closedAt: now.Add(-exitReportWait / 2)}
	killing := &wproc{proc: &proc{pid: 104, pidfd: -1}, killed: "killed: the stop timed out", killedAt: now.Add(-killWait / 2)}
	draining := &wproc{proc: &proc{pid: 105, pidfd: -1}}
	for _, w := range []*wproc{closed, killed, closing, killing, draining} {
		m.workers[w] = true
	}
	m.unreported(now)
	if m.workers[closed] || m.workers[killed] {
		t.Errorf("still waiting for a worker that closed its socket %v ago or was killed %v ago", exitReportWait, killWait)
	}
	if !m.workers[closing] || !m.workers[killing] || !m.workers[draining] {
		t.Errorf("stopped waiting too soon: %d workers left, want 3", len(m.workers))
	}
	for _, want := range []string{
		"worker 101 (slot 0, generation 0) is exiting (its end of the control socket closed 1.1s ago), but the kernel has not reported its end; the master stops waiting for it",
		"worker 102 (slot 0, generation 0) has not ended 2.1s after the master's SIGKILL (killed: the stop timed out); the master stops waiting for it",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	if strings.Count(log.String(), "stops waiting") != 2 {
		t.Errorf("log:\n%s\nwant two workers given up", log.String())
	}
}
