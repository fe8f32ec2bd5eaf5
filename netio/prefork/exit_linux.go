package prefork

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// classify says why a worker ended, for the log and the status: its exit
// code or signal, and what the master knows on top — that it killed it,
// and why, or that the OOM killer did (the worker's cgroup counted an
// oom_kill, or, without one, the kernel's oom_kill count grew while the
// worker died of a SIGKILL the master did not send). A worker the master
// sent SIGKILL that exited all the same (it was exiting already, and the
// kernel took seconds to finish or report it) is not said to be killed.
func (m *master) classify(w *wproc, st exitStatus, werr error) string {
	if werr != nil {
		return fmt.Sprintf("could not be waited for: %v", werr)
	}
	s := st.String()
	sigkill := !st.exited && st.signal == syscall.SIGKILL
	switch {
	case w.killed != "" && sigkill:
		s = w.killed + " (" + s + ")"
	case w.killed != "":
		// The master sent its SIGKILL, but the worker was exiting
		// already: it ended as its status says, only later than it
		// should have (or its exit was reported late: see proc.ended).
		s += " (past its stop time: the master's SIGKILL found it exiting already)"
	case sigkill:
		if w.cgroup != nil && w.cgroup.oomKills() > 0 {
			s = "killed by the OOM killer (its cgroup's memory.max) (" + s + ")"
		} else if after := m.oomCount(); after > w.oomBefore {
			s = fmt.Sprintf("killed by the OOM killer, most likely (the kernel's oom_kill count went from %d to %d) (%s)", w.oomBefore, after, s)
		}
	}
	return s
}

// readVmstat reads one counter of /proc/vmstat, or 0.
func readVmstat(name string) uint64 {
	f, err := os.Open("/proc/vmstat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == name {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
func itoa(i int) string     { return strconv.Itoa(i) }
