package prefork

import (
	"net"
	"os"
	"strconv"
	"time"
)

// A notifier speaks systemd's sd_notify protocol when NOTIFY_SOCKET is
// set: READY=1 when the pool first serves (with MAINPID after an
// upgrade), RELOADING=1 and READY=1 around a reload, STOPPING=1, and
// WATCHDOG=1 every half WATCHDOG_USEC.
type notifier struct {
	addr     *net.UnixAddr
	interval time.Duration
	last     time.Time
}

func newNotifier() *notifier {
	n := &notifier{}
	if path := os.Getenv("NOTIFY_SOCKET"); path != "" {
		n.addr = &net.UnixAddr{Name: path, Net: "unixgram"}
	}
	if us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		if pid := os.Getenv("WATCHDOG_PID"); pid == "" || pid == strconv.Itoa(os.Getpid()) {
			n.interval = time.Duration(us) * time.Microsecond / 2
		}
	}
	// Not for the workers, nor for a new master (which sends MAINPID).
	os.Unsetenv("WATCHDOG_USEC")
	os.Unsetenv("WATCHDOG_PID")
	return n
}

// send sends one notification; errors are ignored, as sd_notify does.
func (n *notifier) send(state string) {
	if n == nil || n.addr == nil {
		return
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return
	}
	c.Write([]byte(state))
	c.Close()
}

// watchdog sends WATCHDOG=1 when it is due.
func (n *notifier) watchdog(now time.Time) {
	if n.interval > 0 && now.Sub(n.last) >= n.interval {
		n.last = now
		n.send("WATCHDOG=1")
	}
}
