package prefork_test

import (
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
	dur := 1 + *reloads/6
	wrk := runBackground(t, "wrk", "-t1", "-c50", "-d"+strconv.Itoa(dur)+"s", "--timeout", "5s", "http://"+p.addr+"/")
	time.Sleep(200 * time.Millisecond)
	reloadUnderLoad(t, p, *reloads, 2, wrk)
	out := wrk.wait(t, time.Duration(dur+20)*time.Second)
	n := checkWrk(t, out)
	t.Logf("%d reloads under wrk -c 50: %d requests, none failed", *reloads, n)
}

// TestReloadUnderH2load: the same under h2load --h1.
func TestReloadUnderH2load(t *testing.T) {
	need(t, "h2load")
	p := startPool(t, poolConfig{Workers: 2})
	dur := 1 + *reloads/6
	h2 := runBackground(t, "h2load", "--h1", "-c", "50", "-D", strconv.Itoa(dur), "http://"+p.addr+"/")
	time.Sleep(200 * time.Millisecond)
	reloadUnderLoad(t, p, *reloads, 2, h2)
	out := h2.wait(t, time.Duration(dur+20)*time.Second)
	checkH2load(t, out)
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
