package prefork

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
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
