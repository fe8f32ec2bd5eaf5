//go:build linux

package ladder

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/ladder/swapctx"
)

func init() {
	r := Row{Name: "swapcontext (glibc)", What: "one glibc swapcontext between two C contexts (cgo; the loop runs in C)", CPUs: pinned, Run: runSwapcontext, Probe: countSigprocmask}
	if !swapctx.Available {
		r.Skip = swapctx.Reason
	}
	Register(r)
}

func runSwapcontext(n int, t *Timer) error {
	t.Start()
	_, err := swapctx.PingPong(max(n/2, 1))
	t.Stop()
	return err
}

// sigprocmaskTrips is how many round trips the strace probe makes.
const sigprocmaskTrips = 10_000

// countSigprocmask counts rt_sigprocmask calls per swapcontext: it runs the
// ping-pong in a child under strace -f -c twice, with no switches and with
// 2×sigprocmaskTrips, and divides the difference. strace slows the child
// down enormously but counts exactly.
func countSigprocmask() (string, error) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		return "rt_sigprocmask per switch: not counted: strace is not installed (apt-get install -y strace)", nil
	}
	count := func(trips int) (int, error) {
		dir, err := os.MkdirTemp("", "coop-bench-strace")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "summary")
		cmd, err := child.Command(swapctx.CountRole, true, []string{"GOMAXPROCS=1"}, strconv.Itoa(trips))
		if err != nil {
			return 0, err
		}
		cmd.Args = append([]string{"strace", "-f", "-c", "-e", "trace=rt_sigprocmask", "-o", out, cmd.Path}, cmd.Args[1:]...)
		cmd.Path = strace
		if b, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("strace: %v: %s", err, strings.TrimSpace(string(b)))
		}
		return parseStraceCalls(out, "rt_sigprocmask")
	}
	base, err := count(0)
	if err != nil {
		return "", err
	}
	full, err := count(sigprocmaskTrips)
	if err != nil {
		return "", err
	}
	per := float64(full-base) / float64(2*sigprocmaskTrips)
	return fmt.Sprintf("rt_sigprocmask per switch: %.2f (strace -f -c: %d calls for %d switches, %d at rest)", per, full-base, 2*sigprocmaskTrips, base), nil
}

// parseStraceCalls reads the "calls" column of syscall's line in an
// strace -c summary: "% time  seconds  usecs/call  calls  [errors]  syscall".
func parseStraceCalls(path, syscall string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && fs[len(fs)-1] == syscall {
			return strconv.Atoi(fs[3])
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, nil // no call at all
}
