package prefork

import (
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
