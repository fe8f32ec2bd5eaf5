//go:build linux

package rawsys

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// EphemeralPorts returns the size of the kernel's ephemeral port range
// (net.ipv4.ip_local_port_range): the most connections one source address
// can open to one server.
func EphemeralPorts() (int, error) {
	vs, err := sysctlInts("net/ipv4/ip_local_port_range", 2)
	if err != nil {
		return 0, err
	}
	return vs[1] - vs[0] + 1, nil
}

// SysctlInt reads a one-number file under /proc/sys, named with slashes
// ("kernel/pid_max").
func SysctlInt(name string) (int, error) {
	vs, err := sysctlInts(name, 1)
	if err != nil {
		return 0, err
	}
	return vs[0], nil
}

func sysctlInts(name string, n int) ([]int, error) {
	path := "/proc/sys/" + name
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fs := strings.Fields(string(b))
	if len(fs) != n {
		return nil, fmt.Errorf("%s: %q: want %d numbers", path, b, n)
	}
	vs := make([]int, n)
	for i, f := range fs {
		if vs[i], err = strconv.Atoi(f); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return vs, nil
}

// NoFileFor makes room for n open descriptors in this process and in the
// processes it starts afterwards (they inherit the limit): it raises the
// soft RLIMIT_NOFILE to the hard limit, and the hard limit itself when n
// needs more and the process may (root, CAP_SYS_RESOURCE; at most
// fs.nr_open). It returns the soft limit in force, and an error that says
// why when it stays below n.
func NoFileFor(n int) (uint64, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, os.NewSyscallError("getrlimit", err)
	}
	want := uint64(n)
	if r.Max < want {
		nr, err := SysctlInt("fs/nr_open")
		if err == nil && uint64(nr) < want {
			return r.Cur, fmt.Errorf("%d descriptors per process: above fs.nr_open (%d)", n, nr)
		}
		up := unix.Rlimit{Cur: want, Max: want}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &up); err != nil {
			who := "raising it needs root (CAP_SYS_RESOURCE)"
			if os.Geteuid() == 0 {
				who = "this process runs as root but without CAP_SYS_RESOURCE, so it may not raise it"
			}
			return r.Cur, fmt.Errorf("%d descriptors per process: RLIMIT_NOFILE's hard limit is %d, and %s (%w)", n, r.Max, who, os.NewSyscallError("setrlimit", err))
		}
		return want, nil
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			return 0, os.NewSyscallError("setrlimit", err)
		}
	}
	return r.Cur, nil
}

// Threads returns the number of threads running on the machine (the
// fourth field of /proc/loadavg counts every scheduling entity).
func Threads() (int, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	fs := strings.Fields(string(b))
	if len(fs) < 4 {
		return 0, fmt.Errorf("/proc/loadavg: %q", b)
	}
	_, total, ok := strings.Cut(fs[3], "/")
	if !ok {
		return 0, fmt.Errorf("/proc/loadavg: %q", b)
	}
	return strconv.Atoi(total)
}
