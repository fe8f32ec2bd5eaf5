package prefork

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropPrivileges runs first in a worker: the resource limits (which may
// need the master's privileges to raise), the chroot, then the switch to
// Config.User and Config.Group, for every thread of the process (Go's
// syscall.Setuid and friends apply to all threads).
func dropPrivileges(cfg *Config) error {
	for _, rl := range cfg.Rlimits {
		lim := unix.Rlimit{Cur: rl.Cur, Max: rl.Max}
		if err := unix.Setrlimit(rl.Resource, &lim); err != nil {
			return fmt.Errorf("setrlimit(%d, %d, %d): %w", rl.Resource, rl.Cur, rl.Max, os.NewSyscallError("setrlimit", err))
		}
	}
	uid, gid := -1, -1
	if cfg.User != "" {
		u, err := user.Lookup(cfg.User)
		if err != nil {
			return fmt.Errorf("user %q: %w", cfg.User, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if cfg.Group != "" {
		g, err := user.LookupGroup(cfg.Group)
		if err != nil {
			return fmt.Errorf("group %q: %w", cfg.Group, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if cfg.Chroot != "" {
		if err := unix.Chroot(cfg.Chroot); err != nil {
			return fmt.Errorf("chroot %s: %w", cfg.Chroot, os.NewSyscallError("chroot", err))
		}
		if err := os.Chdir("/"); err != nil {
			return err
		}
	}
	if gid >= 0 {
		if err := syscall.Setgroups([]int{gid}); err != nil {
			return fmt.Errorf("setgroups(%d): %w", gid, os.NewSyscallError("setgroups", err))
		}
		if err := syscall.Setgid(gid); err != nil {
			return fmt.Errorf("setgid(%d): %w", gid, os.NewSyscallError("setgid", err))
		}
	}
	if uid >= 0 {
		if err := syscall.Setuid(uid); err != nil {
			return fmt.Errorf("setuid(%d): %w", uid, os.NewSyscallError("setuid", err))
		}
		// A worker that can get its privileges back has not dropped them.
		if uid != 0 && syscall.Setuid(0) == nil {
			return fmt.Errorf("setuid(%d) did not drop root", uid)
		}
	}
	return nil
}
