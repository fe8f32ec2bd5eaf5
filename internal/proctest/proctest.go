// Package proctest tells tests whether a process has exited: the
// examples' tests and netio/prefork's wait for processes (a client under
// tmux, a pool's workers, an upgraded master) to be gone.
package proctest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Running reports whether process pid has not exited yet. A zombie has
// exited: its files are closed, and it only waits for its parent to
// collect its status, while kill(pid, 0) still succeeds on it. An
// orphan's new parent, init, reaps it when it gets round to it: PID 1 of
// the development machine reaps every 2 s or so, and in a loaded run a
// process was still a zombie 10 s after it had died. Where /proc cannot
// tell, kill's answer stands.
func Running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st := Stat(pid)
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(st, ')')
	if i < 0 || i+2 >= len(st) {
		return true
	}
	state := st[i+2]
	return state != 'Z' && state != 'X'
}

// Stat returns the /proc/<pid>/stat line of a process, or what failed,
// for a test's messages.
func Stat(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}

// OpenFDs returns the descriptor numbers process pid has open, from
// /proc/<pid>/fd: for a test that lowers its RLIMIT_NOFILE (prlimit) to
// make it run out. Linux only.
func OpenFDs(pid int) (map[int]bool, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return nil, err
	}
	open := make(map[int]bool, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue // not a descriptor's entry
		}
		open[n] = true
	}
	return open, nil
}
