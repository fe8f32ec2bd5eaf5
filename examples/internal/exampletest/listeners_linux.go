package exampletest

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// listeners counts the TCP sockets that listen where a dial to addr can
// land (addr's port, on addr's address or on any) and that process pid or
// one of its descendants holds (ours), and those that no process of that
// family holds (others). ours is -1 if /proc cannot tell.
func listeners(addr string, pid int) (ours, others int) {
	host, portStr, err := net.SplitHostPort(addr)
	port, perr := strconv.ParseUint(portStr, 10, 16)
	ip := net.ParseIP(host).To4()
	if err != nil || perr != nil || ip == nil {
		return -1, 0
	}
	// /proc/net/tcp shows an IPv4 address as one 32-bit word in host
	// order (little-endian here), tcp6 as four.
	v4 := fmt.Sprintf("%02X%02X%02X%02X", ip[3], ip[2], ip[1], ip[0])
	match := map[string]bool{
		v4: true, "00000000": true, // tcp
		"0000000000000000FFFF0000" + v4: true, "00000000000000000000000000000000": true, // tcp6
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" { // 0A: LISTEN
				continue
			}
			a, p, ok := strings.Cut(fs[1], ":")
			if v, err := strconv.ParseUint(p, 16, 16); !ok || err != nil || v != port || !match[a] {
				continue
			}
			inodes[fs[9]] = true
		}
	}
	if len(inodes) == 0 {
		return 0, 0
	}
	for _, p := range family(pid) {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p))
		if err != nil {
			if p == pid {
				return -1, 0
			}
			continue // a descendant that has gone
		}
		for _, e := range ents {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p, e.Name()))
			if ino, ok := strings.CutPrefix(l, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				delete(inodes, strings.TrimSuffix(ino, "]"))
				ours++
			}
		}
	}
	return ours, len(inodes)
}

// family lists pid and its descendants (a pool's master holds the
// listening sockets, but a server may hand them to a child).
func family(pid int) []int {
	all := []int{pid}
	for i := 0; i < len(all); i++ {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", all[i]))
		for _, task := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", all[i], task.Name()))
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					all = append(all, c)
				}
			}
		}
	}
	return all
}
