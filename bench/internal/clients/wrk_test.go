//go:build linux

package clients

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coopgo/coop/bench/internal/harness"
)

// holdServer serves the hello route in this process, holding every
// response: until the first client that waited goes away (wrk's run has
// ended; the check follows), or if forever, until the test ends. The
// returned server's process is this test's.
func holdServer(t *testing.T, forever bool) *server {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var released atomic.Bool
	stop := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if forever || !released.Load() {
			select {
			case <-r.Context().Done(): // the client closed the connection
				released.Store(!forever)
				return
			case <-stop:
				return
			}
		}
		w.Header().Set("Content-Type", helloCType)
		w.Write([]byte(helloBody))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { close(stop); srv.Close() })
	return &server{name: "held", addr: ln.Addr().String(), pid: os.Getpid(), err: new(harness.Tail), done: make(chan error, 1)}
}

// wrkEnv is an env with wrk and taskset, or skips the test.
func wrkEnv(t *testing.T) *env {
	t.Helper()
	e := &env{tools: map[string]string{}}
	for _, name := range []string{"wrk", "taskset"} {
		path, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed", name)
		}
		e.tools[name] = path
	}
	e.taskset = e.tools["taskset"]
	return e
}

// TestWrkRunsAgainWhenNoneCompleted: a wrk run in which no request
// completed, against a server that answers its check afterwards, is run
// again (wrk's thread can go without the CPU for its whole run on a busy
// machine: TestSmoke once failed with "net/http wrk: no request
// completed"). Here the server holds its responses to the first run's
// connections until wrk has gone, as a starved client would see it.
func TestWrkRunsAgainWhenNoneCompleted(t *testing.T) {
	e := wrkEnv(t)
	srv := holdServer(t, false)
	args := []string{"-t1", "-c10", "--latency", "-d1s", "http://" + srv.addr + helloPath}
	_, w, reruns, err := e.wrk(srv, args, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// At least the held run is run again (on a busy machine, a starved
	// wrk may add one).
	if reruns < 1 || w.Requests == 0 {
		t.Errorf("%d reruns, %d requests in the last run; want a rerun and requests", reruns, w.Requests)
	}
}

// TestWrkFailsWhenNoneEverCompletes: a server that never completes a
// request fails the row after maxWrkRuns runs, or at once when it fails
// its check too.
func TestWrkFailsWhenNoneEverCompletes(t *testing.T) {
	e := wrkEnv(t)
	srv := holdServer(t, true)
	args := []string{"-t1", "-c10", "--latency", "-d1s", "http://" + srv.addr + helloPath}
	_, _, reruns, err := e.wrk(srv, args, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "no request completed, and then the server failed its check") {
		t.Errorf("err = %v, want no request completed and a failed check", err)
	}
	if reruns != 0 {
		t.Errorf("%d reruns, want none: the check failed", reruns)
	}
}
