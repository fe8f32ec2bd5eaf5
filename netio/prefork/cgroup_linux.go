package prefork

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroups puts each worker in a cgroup v2 of its own, below the master's,
// with memory.max set to Config.MemoryMax. cgroup v2 forbids processes in
// a cgroup whose children have controllers, so the master first moves
// itself into a leaf of its own (as a service with systemd's Delegate=yes
// must). A worker enters its cgroup as it is created (clone3's
// CLONE_INTO_CGROUP), before it runs anything.
type cgroups struct {
	dir  string
	max  int64
	logf func(string, ...any)
}

type workerCgroup struct {
	path string
	fd   int
	logf func(string, ...any)
}

// newCgroups prepares the workers' cgroups, or logs why it cannot and
// returns nil (every method works on nil: no cgroups).
func newCgroups(cfg *Config, logf func(string, ...any)) *cgroups {
	if cfg.MemoryMax <= 0 {
		return nil
	}
	dir, err := setupCgroups()
	if err != nil {
		logf("prefork: MemoryMax skipped: %v", err)
		return nil
	}
	logf("prefork: each worker gets a cgroup below %s with memory.max %d", dir, cfg.MemoryMax)
	return &cgroups{dir: dir, logf: logf, max: cfg.MemoryMax}
}

func setupCgroups() (string, error) {
	mount, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	own, err := ownCgroup()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(mount, own)
	ctrl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return "", fmt.Errorf("cgroup v2 at %s: %w", dir, err)
	}
	if !strings.Contains(" "+strings.TrimSpace(string(ctrl))+" ", " memory ") {
		return "", fmt.Errorf("the memory controller is not available to cgroup v2 at %s (controllers: %q; on a hybrid hierarchy it is bound to cgroup v1)", dir, strings.TrimSpace(string(ctrl)))
	}
	if unix.Access(dir, unix.W_OK) != nil {
		return "", fmt.Errorf("cgroup v2 at %s is not writable by this user", dir)
	}
	leaf := filepath.Join(dir, fmt.Sprintf("prefork-master-%d", os.Getpid()))
	if err := os.Mkdir(leaf, 0o755); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("cgroup v2: %w", err)
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		os.Remove(leaf)
		return "", fmt.Errorf("cgroup v2: moving the master into %s: %w", leaf, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
		return "", fmt.Errorf("cgroup v2: enabling the memory controller below %s: %w (another process shares the master's cgroup?)", dir, err)
	}
	return dir, nil
}

// cgroup2Mount finds where cgroup v2 is mounted.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mount-point ... - fstype source options
		fields := strings.Fields(sc.Text())
		for i, fld := range fields {
			if fld == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return fields[4], nil
			}
		}
	}
	return "", fmt.Errorf("cgroup v2 is not mounted")
}

// ownCgroup reads the master's cgroup v2 path.
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("the master is in no cgroup v2")
}

// forWorker makes the cgroup of worker id and opens it for clone3.
func (c *cgroups) forWorker(id int) *workerCgroup {
	if c == nil {
		return nil
	}
	path := filepath.Join(c.dir, fmt.Sprintf("prefork-worker-%d-%d", os.Getpid(), id))
	if err := os.Mkdir(path, 0o755); err != nil {
		c.logf("prefork: worker cgroup: %v", err)
		return nil
	}
	if err := os.WriteFile(filepath.Join(path, "memory.max"), []byte(strconv.FormatInt(c.max, 10)), 0); err != nil {
		c.logf("prefork: worker cgroup: memory.max: %v", err)
		os.Remove(path)
		return nil
	}
	fd, err := unix.Open(path, unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_PATH, 0)
	if err != nil {
		// Said, as the failures above are: the worker starts without
		// its memory.max.
		c.logf("prefork: worker cgroup: %v", &os.PathError{Op: "open", Path: path, Err: err})
		os.Remove(path)
		return nil
	}
	return &workerCgroup{path: path, fd: fd, logf: c.logf}
}

func (w *workerCgroup) closeFD() {
	if w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}

// remove removes the cgroup of a worker that has exited. A cgroup that
// cannot be removed (EBUSY: a process is in it still) is left behind,
// and said so.
func (w *workerCgroup) remove() {
	w.closeFD()
	if err := os.Remove(w.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.logf("prefork: worker cgroup left behind: %v", err)
	}
}

// oomKills reads the cgroup's oom_kill count.
func (w *workerCgroup) oomKills() uint64 {
	b, err := os.ReadFile(filepath.Join(w.path, "memory.events"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}

func (c *cgroups) close() {}
