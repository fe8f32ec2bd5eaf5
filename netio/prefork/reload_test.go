package prefork_test

import (
	"math"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/netio/prefork"
)

// reloadUnderLoad sends n SIGHUPs, one after the other finished, while
// the client runs, and checks that every reload replaced every worker.
func reloadUnderLoad(t *testing.T, p *pool, n, workers int, client *background) {
	t.Helper()
	before := pids(p.status())
	for i := range n {
		gen := p.status().Generation
		p.signal(syscall.SIGHUP)
		st := p.waitFor("reload "+strconv.Itoa(i+1), 20*time.Second, func(st *prefork.Status) bool {
			if st.Generation != gen+1 || st.Reloading || st.Ready != workers || len(st.Processes) != workers {
				return false
			}
			for _, w := range st.Processes {
				if w.Generation != gen+1 || w.State != "ready" {
					return false
				}
			}
			return true
		})
		for pid := range pids(st) {
			if before[pid] {
				t.Fatalf("reload %d: worker %d survived it", i+1, pid)
			}
		}
		before = pids(st)
	}
}

// TestReloadUnderWrk: SIGHUP reloads under wrk -c 50 lose no request.
func TestReloadUnderWrk(t *testing.T) {
	need(t, "wrk")
	p := startPool(t, poolConfig{Workers: 2})
	wrk := runWrk(t, 50, "http://"+p.addr+"/")
	time.Sleep(200 * time.Millisecond)
	reloadUnderLoad(t, p, *reloads, 2, wrk)
	out := wrk.interrupt(t)
	n := checkWrk(t, out)
	t.Logf("%d reloads under wrk -c 50: %d requests, none failed", *reloads, n)
}

// TestReloadUnderH2load: the same under h2load --h1, in rounds: each
// round is one h2load -D run, and its last reload is over (the old
// workers gone) a margin before the run's end.
//
// The rounds are for a bug of h2load's timing mode (seen in 1.52, and in
// nghttp2's source today): a client that is between two connections when
// the duration ends — a draining worker's "Connection: close" made it
// reconnect — has no session for stop_all_clients to terminate; it then
// reconnects (try_again_or_fail does not look at the phase) and goes on
// sending requests, uncounted, for ever (req_left stays 1 in timing
// mode): h2load never exits. A reload that drains as a run ends, which
// happens when the machine is loaded enough to stretch 20 reloads over
// the run, left the test waiting for h2load; the workers were serving
// all along.
func TestReloadUnderH2load(t *testing.T) {
	need(t, "h2load")
	p := startPool(t, poolConfig{Workers: 2})
	done, rounds := 0, 0
	var slowest time.Duration // the longest reload yet
	for done < *reloads {
		// A run long enough for the reloads left at the pace seen so
		// far, plus the margin; 4 s for the first.
		secs := 4
		if slowest > 0 {
			secs = max(2, int(math.Ceil((time.Duration(*reloads-done)*slowest*3/2 + 2*time.Second).Seconds())))
		}
		end := time.Now().Add(time.Duration(secs) * time.Second)
		h2 := runBackground(t, "h2load", "--h1", "-c", "50", "-D", strconv.Itoa(secs), "http://"+p.addr+"/")
		time.Sleep(200 * time.Millisecond)
		for n := 0; done < *reloads; n++ {
			// The next reload must be over a second before the end,
			// even if it takes twice the longest so far.
			if n > 0 && time.Until(end) < 2*slowest+time.Second {
				break
			}
			began := time.Now()
			reloadUnderLoad(t, p, 1, 2, h2)
			slowest = max(slowest, time.Since(began))
			done++
		}
		checkH2load(t, h2.wait(t, time.Duration(secs+20)*time.Second))
		rounds++
	}
	t.Logf("%d reloads in %d h2load runs, the longest %v", done, rounds, slowest.Round(time.Millisecond))
}

func checkH2load(t *testing.T, out string) {
	t.Helper()
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "requests: ") {
			line = l
		}
	}
	// "requests: N total, N started, N done, N succeeded, 0 failed, 0 errored, 0 timeout"
	f := strings.Fields(strings.NewReplacer(",", "").Replace(line))
	if len(f) < 15 || f[9] != "0" || f[11] != "0" || f[13] != "0" || f[5] != f[7] || !strings.Contains(out, "status codes: ") {
		t.Fatalf("h2load: failures:\n%s", out)
	}
	if !strings.Contains(out, " 0 3xx, 0 4xx, 0 5xx") {
		t.Fatalf("h2load: non-2xx statuses:\n%s", out)
	}
	t.Logf("h2load: %s", line)
}
