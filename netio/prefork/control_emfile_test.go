package prefork_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/proctest"
	"github.com/coopgo/coop/netio/prefork"
)

// A master out of descriptors cannot accept a control command: it says
// so in its log (before, it retried in silence), and it answers the
// command once it has room again.
func TestControlAcceptEMFILE(t *testing.T) {
	t.Parallel()
	needNative(t)
	lim := needPrlimit(t)
	p := startPool(t, poolConfig{Workers: 1})
	lim.pid = strconv.Itoa(p.cmd.Process.Pid)
	// With the soft limit at the lowest free descriptor number, no
	// descriptor can be opened.
	limit := lowestFree(t, p.cmd.Process.Pid)
	soft := lim.soft(t)
	lim.set(t, strconv.Itoa(limit))
	type answer struct {
		st  *prefork.Status
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		st, err := prefork.ReadStatus(p.control)
		answered <- answer{st, err}
	}()
	const said = "prefork: control socket: accept"
	for start := time.Now(); !strings.Contains(p.out.String(), said); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no %q line in the master's log 10s after its descriptors ran out:\n%s", said, p.out.String())
		}
	}
	if !strings.Contains(p.out.String(), "too many open files") {
		t.Errorf("the master's log does not name EMFILE:\n%s", p.out.String())
	}
	select {
	case a := <-answered:
		t.Fatalf("a status answered with no descriptor to accept it on: %+v, %v", a.st, a.err)
	default:
	}
	lim.set(t, soft)
	select {
	case a := <-answered:
		if a.err != nil || a.st == nil || a.st.Ready != 1 {
			t.Fatalf("status once the master had room: %+v, %v", a.st, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no status answer 10s after the master had room again")
	}
	// The log comes over a pipe and may trail the answer.
	const again = "prefork: control socket: accepting again"
	for start := time.Now(); !strings.Contains(p.out.String(), again); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no %q line in the master's log:\n%s", again, p.out.String())
		}
	}
}

// TestControlScaleEMFILE: a scale the master has no descriptors for is
// answered with the error on the control socket (it was answered "ok",
// with the failure in the log only), and the pool keeps its size.
func TestControlScaleEMFILE(t *testing.T) {
	t.Parallel()
	needNative(t)
	lim := needPrlimit(t)
	p := startPool(t, poolConfig{Workers: 1})
	lim.pid = strconv.Itoa(p.cmd.Process.Pid)
	limit := lowestFree(t, p.cmd.Process.Pid)
	soft := lim.soft(t)
	// Room for the control connection, none for the new slot's socket.
	lim.set(t, strconv.Itoa(limit+1))
	out, err := prefork.Control(p.control, "scale 2")
	lim.set(t, soft)
	if err == nil || !strings.Contains(err.Error(), "too many open files") {
		t.Fatalf("scale 2 with no descriptor to spare: %q, %v; want the error\n%s", out, err, p.out.String())
	}
	if st := p.status(); st.Workers != 1 {
		t.Errorf("after the failed scale: %d workers, want 1", st.Workers)
	}
}

// nofile moves a process's soft limit of open descriptors with prlimit(1).
type nofile struct {
	prlimit, pid string
}

// needPrlimit skips the test without prlimit(1).
func needPrlimit(t *testing.T) *nofile {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("skipped: the test runs prlimit(1) (util-linux)")
	}
	return &nofile{prlimit: prlimit}
}

// soft returns the soft limit.
func (l *nofile) soft(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(l.prlimit, "--pid", l.pid, "--nofile", "--output", "SOFT", "--noheadings").Output()
	if err != nil {
		t.Fatalf("prlimit --nofile: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// set sets the soft limit to n. Only the soft limit moves ("n:"):
// lowering the hard one could not be undone without CAP_SYS_RESOURCE.
func (l *nofile) set(t *testing.T, n string) {
	t.Helper()
	if out, err := exec.Command(l.prlimit, "--pid", l.pid, "--nofile="+n+":").CombinedOutput(); err != nil {
		t.Fatalf("prlimit --nofile=%s: %v\n%s", n, err, out)
	}
}

// lowestFree returns the lowest free descriptor number of process pid,
// once its table has settled (startPool's status connections close in
// the background).
func lowestFree(t *testing.T, pid int) int {
	t.Helper()
	free := func() int {
		open, err := proctest.OpenFDs(pid)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for open[n] {
			n++
		}
		return n
	}
	limit := free()
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		limit = min(limit, free())
	}
	return limit
}
