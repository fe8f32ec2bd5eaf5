package proctest_test

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/proctest"
)

// A real child: running while it sleeps, not running once killed (a
// zombie until it is waited for), nor once reaped.
func TestRunning(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	if !proctest.Running(pid) {
		t.Fatalf("a sleeping child is not running: %s", proctest.Stat(pid))
	}
	cmd.Process.Kill()
	for deadline := time.Now().Add(30 * time.Second); proctest.Running(pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a killed child still running 30 s later: %s", proctest.Stat(pid))
		}
	}
	if st := proctest.Stat(pid); !strings.Contains(st, ") Z ") {
		t.Errorf("a killed child not yet waited for is not a zombie: %s", st)
	}
	cmd.Wait()
	if proctest.Running(pid) {
		t.Errorf("a reaped child is running: %s", proctest.Stat(pid))
	}
}
