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
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("skipped: the test runs prlimit(1) (util-linux)")
	}
	p := startPool(t, poolConfig{Workers: 1})
	pid := strconv.Itoa(p.cmd.Process.Pid)
	// The lowest free descriptor number, once the master's table has
	// settled (startPool's status connections close in the background):
	// with the soft limit there, no descriptor can be opened.
	lowestFree := func() int {
		open, err := proctest.OpenFDs(p.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for open[n] {
			n++
		}
		return n
	}
	limit := lowestFree()
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		limit = min(limit, lowestFree())
	}
	// Only the soft limit moves ("N:"): lowering the hard one could not
	// be undone without CAP_SYS_RESOURCE.
	out, err := exec.Command(prlimit, "--pid", pid, "--nofile", "--output", "SOFT", "--noheadings").Output()
	if err != nil {
		t.Fatalf("prlimit --nofile: %v", err)
	}
	soft := strings.TrimSpace(string(out))
	setLimit := func(n string) {
		t.Helper()
		if out, err := exec.Command(prlimit, "--pid", pid, "--nofile="+n+":").CombinedOutput(); err != nil {
			t.Fatalf("prlimit --nofile=%s: %v\n%s", n, err, out)
		}
	}
	setLimit(strconv.Itoa(limit))
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
	setLimit(soft)
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
