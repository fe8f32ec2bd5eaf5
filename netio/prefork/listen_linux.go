package prefork

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A listenSet is the master's listening sockets: for each Listen, one
// socket shared by every worker (Shared, and Unix sockets), or one per
// scheduler of every slot (ReusePort). The master only holds them: it
// never accepts, and never makes an *os.File of them, whose Fd method
// would switch the shared socket to blocking mode under the workers.
type listenSet struct {
	specs       []Listen
	shared      []bool
	socks       [][][]int // [listen][slot][core]; Shared: [listen][0][0]
	addrs       []string  // the bound address, for ReusePort sockets to join
	cores       int
	unlink      []string // Unix socket files to remove at a final stop
	steerFailed bool
	logf        func(string, ...any)
}

// newListenSet opens (or takes over) the sockets of cfg for slots slots.
// inherited, if not nil, holds sockets from a previous master ([listen
// name][slot][core]) or from systemd ([name][0][0]).
func newListenSet(cfg *Config, slots int, inherited map[string][][]int, logf func(string, ...any)) (*listenSet, error) {
	ls := &listenSet{specs: cfg.Listen, cores: cfg.Cores, logf: logf}
	for a, spec := range cfg.Listen {
		shared := cfg.Mode == Shared || spec.Network == "unix"
		got := inherited[spec.name()]
		delete(inherited, spec.name())
		if len(got) > 0 && !shared && !reusePortSet(got[0][0]) {
			logf("prefork: listener %q: the inherited socket has no SO_REUSEPORT, so it is shared by all workers", spec.name())
			shared = true
		}
		ls.shared = append(ls.shared, shared)
		ls.socks = append(ls.socks, nil)
		ls.addrs = append(ls.addrs, spec.Address)
		if len(got) > 0 {
			if shared && (len(got) > 1 || len(got[0]) > 1) {
				// A previous master in ReusePort mode: keep one.
				for _, fds := range got {
					for _, fd := range fds {
						if fd != got[0][0] {
							unix.Close(fd)
						}
					}
				}
				got = [][]int{{got[0][0]}}
			}
			ls.socks[a] = got
			if sa, err := unix.Getsockname(got[0][0]); err == nil {
				ls.addrs[a] = sockaddrString(sa, spec.Address)
			}
			continue
		}
		fd, addr, err := openListener(spec, !shared, spec.Address)
		if err != nil {
			ls.close(false)
			return nil, err
		}
		ls.addrs[a] = addr
		ls.socks[a] = [][]int{{fd}}
		if spec.Network == "unix" {
			ls.unlink = append(ls.unlink, spec.Address)
		}
	}
	for fds := range inherited {
		for _, slot := range inherited[fds] {
			for _, fd := range slot {
				unix.Close(fd) // a listener the new configuration no longer has
			}
		}
	}
	if err := ls.ensure(slots); err != nil {
		ls.close(false)
		return nil, err
	}
	return ls, nil
}

// ensure makes sure ReusePort listeners have sockets for slots slots,
// each with one per scheduler.
func (ls *listenSet) ensure(slots int) error {
	for a, spec := range ls.specs {
		if ls.shared[a] {
			continue
		}
		for s := 0; s < slots; s++ {
			if s == len(ls.socks[a]) {
				ls.socks[a] = append(ls.socks[a], nil)
			}
			for len(ls.socks[a][s]) < ls.cores {
				fd, _, err := openListener(spec, true, ls.addrs[a])
				if err != nil {
					return err
				}
				ls.socks[a][s] = append(ls.socks[a][s], fd)
			}
		}
	}
	return nil
}

// slotFDs returns, for each Listen, the descriptors slot's worker gets.
func (ls *listenSet) slotFDs(slot int) [][]int {
	out := make([][]int, len(ls.specs))
	for a := range ls.specs {
		if ls.shared[a] {
			out[a] = ls.socks[a][0]
		} else {
			out[a] = ls.socks[a][slot]
		}
	}
	return out
}

// dropSlot closes the sockets of the last ReusePort slot, which must be
// slot: removing the last socket of a reuseport group renumbers nothing,
// so the steering program's indices stay right.
func (ls *listenSet) dropSlot(slot int) {
	for a := range ls.specs {
		if ls.shared[a] || slot != len(ls.socks[a])-1 {
			continue
		}
		for _, fd := range ls.socks[a][slot] {
			unix.Close(fd)
		}
		ls.socks[a] = ls.socks[a][:slot]
	}
}

// close closes every socket; a final stop also removes Unix socket files.
func (ls *listenSet) close(final bool) {
	for a := range ls.socks {
		for _, slot := range ls.socks[a] {
			for _, fd := range slot {
				unix.Close(fd)
			}
		}
		ls.socks[a] = nil
	}
	if final {
		for _, p := range ls.unlink {
			os.Remove(p)
		}
	}
}

// steer points each ReusePort group's new connections at the slots that
// serve, with a classic BPF program attached to the group
// (SO_ATTACH_REUSEPORT_CBPF): it picks one of their sockets at random,
// uniformly. A slot whose worker is starting, backing off after a crash,
// or being retired then gets no new connection to leave waiting in its
// queue; the others share the load evenly. The group numbers its sockets
// in the order they started listening, which is the order of slots and
// schedulers here.
func (ls *listenSet) steer(serving []bool) {
	for a := range ls.specs {
		if ls.shared[a] || len(ls.socks[a]) == 0 {
			continue
		}
		var idx []uint32
		for s := range ls.socks[a] {
			if s < len(serving) && serving[s] {
				for c := range ls.socks[a][s] {
					idx = append(idx, uint32(s*ls.cores+c))
				}
			}
		}
		if len(idx) == 0 {
			for i := range len(ls.socks[a]) * ls.cores {
				idx = append(idx, uint32(i)) // nothing serves: let any queue
			}
		}
		if err := attachSteering(ls.socks[a][0][0], idx); err != nil && !ls.steerFailed {
			ls.steerFailed = true
			ls.logf("prefork: listener %q: cannot steer connections among slots (%v): a slot without a ready worker keeps receiving its share", ls.specs[a].name(), err)
		}
	}
}

// attachSteering attaches to fd's reuseport group a program that returns
// one of idx uniformly at random: A = random % len(idx), then a jump
// table from A to the socket index.
func attachSteering(fd int, idx []uint32) error {
	const skfAdRandom = 0xfffff000 + 56 // SKF_AD_OFF + SKF_AD_RANDOM
	n := len(idx)
	var prog []unix.SockFilter
	if n > 1 {
		prog = append(prog,
			unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: skfAdRandom},
			unix.SockFilter{Code: unix.BPF_ALU | unix.BPF_MOD | unix.BPF_K, K: uint32(n)})
	}
	// A chain of "if A == i, return idx[i]".
	for i := range n - 1 {
		prog = append(prog,
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(i), Jt: 0, Jf: 1},
			unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: idx[i]})
	}
	prog = append(prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: idx[n-1]})
	if len(prog) > 4096 {
		return errors.New("too many sockets for one program")
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
		uintptr(unsafe.Pointer(&fp)), unsafe.Sizeof(fp), 0)
	if e != 0 {
		return os.NewSyscallError("setsockopt(SO_ATTACH_REUSEPORT_CBPF)", e)
	}
	return nil
}

// openListener opens a listening socket for spec at address and returns
// a close-on-exec descriptor of it and the address it is bound to.
// Package net makes the socket (address resolution, dual stack, the
// backlog); the master keeps a duplicate and closes net's copy.
func openListener(spec Listen, reusePort bool, address string) (int, string, error) {
	lc := net.ListenConfig{}
	// Plain TCP: package net makes Multipath TCP listeners by default
	// (Go 1.24), and MPTCP refuses socket options such as
	// SO_ATTACH_REUSEPORT_CBPF.
	lc.SetMultipathTCP(false)
	if reusePort {
		lc.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return os.NewSyscallError("setsockopt(SO_REUSEPORT)", serr)
		}
	}
	if spec.Network == "unix" {
		// A socket file left by a master that died is in the way; a
		// socket someone serves is not removed.
		if fi, err := os.Lstat(address); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.Dial("unix", address); err == nil {
				c.Close()
			} else {
				os.Remove(address)
			}
		}
	}
	l, err := lc.Listen(context.Background(), spec.Network, address)
	if err != nil {
		return -1, "", fmt.Errorf("prefork: listener %q: %w", spec.name(), err)
	}
	if ul, ok := l.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the master removes it at a final stop
	}
	defer l.Close()
	rc, err := l.(syscall.Conn).SyscallConn()
	if err != nil {
		return -1, "", err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, "", err
	}
	if derr != nil {
		return -1, "", os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", derr)
	}
	return nfd, l.Addr().String(), nil
}

// reusePortSet reports whether fd has SO_REUSEPORT.
func reusePortSet(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT)
	return err == nil && v != 0
}

func sockaddrString(sa unix.Sockaddr, fallback string) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(sa.Addr[:]).String(), strconv.Itoa(sa.Port))
	case *unix.SockaddrUnix:
		return sa.Name
	}
	return fallback
}

// systemdListeners takes the sockets systemd passed by socket activation
// (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), by name, and removes the
// variables so that no worker mistakes them for its own. Unnamed sockets
// are matched to cfg.Listen in order.
func systemdListeners(cfg *Config) (map[string][][]int, error) {
	pid, fdsStr := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	if pid == "" || fdsStr == "" {
		return nil, nil
	}
	names := os.Getenv("LISTEN_FDNAMES")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	if pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // meant for another process
	}
	n, err := strconv.Atoi(fdsStr)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("prefork: LISTEN_FDS=%q", fdsStr)
	}
	var nameList []string
	if names != "" {
		nameList = strings.Split(names, ":")
	}
	out := make(map[string][][]int)
	for i := range n {
		fd := 3 + i
		unix.CloseOnExec(fd)
		name := ""
		if i < len(nameList) && nameList[i] != "unknown" {
			name = nameList[i]
		} else if i < len(cfg.Listen) {
			name = cfg.Listen[i].name()
		}
		if name == "" {
			unix.Close(fd)
			continue
		}
		out[name] = [][]int{{fd}}
	}
	return out, nil
}
