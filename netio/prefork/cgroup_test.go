package prefork_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMemoryMax: with MemoryMax, each worker runs in a cgroup v2 of its
// own whose memory.max is the limit where cgroup v2 with the memory
// controller is writable; elsewhere (cgroup v1's memory controller, a
// read-only hierarchy, no cgroup v2) the master logs why the limit is
// skipped, and the pool serves all the same.
func TestMemoryMax(t *testing.T) {
	const limit = 256 << 20
	p := startPool(t, poolConfig{Workers: 2, MemoryMax: limit})
	if got := get(t, p.addr, "/"); got == "" {
		t.Fatal("no body from the pool")
	}
	out := p.out.String()
	if m := regexp.MustCompile(`MemoryMax skipped: (.+)`).FindStringSubmatch(out); m != nil {
		if strings.TrimSpace(m[1]) == "" {
			t.Fatalf("MemoryMax skipped with no reason:\n%s", out)
		}
		t.Logf("this machine: %s", m[0])
		return
	}
	if !strings.Contains(out, "each worker gets a cgroup below") {
		t.Fatalf("MemoryMax neither applied nor skipped with a reason:\n%s", out)
	}
	mount := cgroup2Mount(t)
	for _, w := range p.status().Processes {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", w.PID))
		if err != nil {
			t.Fatal(err)
		}
		var cg string
		for _, line := range strings.Split(string(b), "\n") {
			if p, ok := strings.CutPrefix(line, "0::"); ok {
				cg = p
			}
		}
		if !strings.Contains(filepath.Base(cg), "prefork-worker-") {
			t.Errorf("worker %d is in cgroup %q, not one of its own", w.PID, cg)
			continue
		}
		max, err := os.ReadFile(filepath.Join(mount, cg, "memory.max"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(max)); got != fmt.Sprint(limit) {
			t.Errorf("worker %d: memory.max %s, want %d", w.PID, got, limit)
		}
	}
}

// cgroup2Mount returns where cgroup v2 is mounted.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, fld := range f {
			if fld == "-" && i+1 < len(f) && f[i+1] == "cgroup2" && len(f) > 4 {
				return f[4]
			}
		}
	}
	t.Fatal("cgroup v2 is not mounted, yet the pool applied MemoryMax")
	return ""
}
