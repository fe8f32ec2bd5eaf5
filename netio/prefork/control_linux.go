package prefork

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A command is one line from the control socket and where its answer
// goes.
type command struct {
	line  string
	reply chan string
}

// openControl listens on the control socket (or takes over the one a
// previous master passed as fd): a Unix socket of mode 0600, whose peers
// must also be the master's user or root.
func (m *master) openControl(fd int) error {
	m.controlPath = m.cfg.ControlSocket
	var l net.Listener
	var err error
	if fd >= 0 {
		unix.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "control")
		l, err = net.FileListener(f)
		f.Close()
	} else {
		os.Remove(m.controlPath) // a socket left by a master that died
		var ul *net.UnixListener
		ul, err = net.ListenUnix("unix", &net.UnixAddr{Name: m.controlPath, Net: "unix"})
		if err == nil {
			// In the moment between bind and this chmod others may
			// connect; the peer check (root or the master's user) turns
			// them away.
			if cerr := os.Chmod(m.controlPath, 0o600); cerr != nil {
				ul.Close()
				return fmt.Errorf("prefork: control socket: %w", cerr)
			}
			l = ul
		}
	}
	if err != nil {
		return fmt.Errorf("prefork: control socket %s: %w", m.controlPath, err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return fmt.Errorf("prefork: control socket %s is not a Unix socket", m.controlPath)
	}
	ul.SetUnlinkOnClose(false)
	m.control = ul
	// The accept loop is counted in controlConns itself, so that every
	// connection it counts is added while the count is above zero: an
	// Add from zero racing waitControlReplies' Wait (a connection
	// accepted just as finish closes the socket) is what WaitGroup
	// forbids, and -race reported it.
	m.controlConns.Add(1)
	go func() {
		defer m.controlConns.Done()
		m.serveControl(ul)
	}()
	return nil
}

func (m *master) serveControl(l *net.UnixListener) {
	var failed int       // accepts failed since the last log line
	var logged time.Time // when the last one was written
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors (EMFILE, ENFILE) or memory: the command
			// waits in the socket's queue and is taken once the master
			// has room. Say so at once, then at most once a second.
			failed++
			if now := time.Now(); now.Sub(logged) >= time.Second {
				m.logf("prefork: control socket: %v (%d time(s) since the last report); retrying every 10ms", err, failed)
				failed, logged = 0, now
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if failed > 0 || !logged.IsZero() {
			m.logf("prefork: control socket: accepting again")
			failed, logged = 0, time.Time{}
		}
		m.controlConns.Add(1)
		go func() {
			defer m.controlConns.Done()
			m.controlConn(c)
		}()
	}
}

// waitControlReplies waits, up to a second, for the accept loop to end
// and for the answers of the control connections being served: the
// command that stopped the pool gets its "ok" before the master exits (at
// zero workers it exits at once). The control socket must be closed
// first.
func (m *master) waitControlReplies() {
	done := make(chan struct{})
	go func() {
		m.controlConns.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

func (m *master) controlConn(c *net.UnixConn) {
	defer c.Close()
	if !peerAllowed(c) {
		fmt.Fprintf(c, "error: permission denied\n")
		return
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	cmd := command{line: strings.TrimSpace(line), reply: make(chan string, 1)}
	select {
	case m.cmds <- cmd:
	case <-time.After(10 * time.Second):
		fmt.Fprintf(c, "error: the master is busy\n")
		return
	}
	fmt.Fprintf(c, "%s\n", <-cmd.reply)
}

// peerAllowed checks the peer's credentials: root or the master's user.
func peerAllowed(c *net.UnixConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	rc.Control(func(fd uintptr) {
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	return cred != nil && (cred.Uid == 0 || int(cred.Uid) == os.Geteuid())
}

// command runs a control command in the master's loop.
func (m *master) command(c command) {
	verb, arg, _ := strings.Cut(c.line, " ")
	answer := "ok"
	switch verb {
	case "status":
		b, _ := json.Marshal(m.status())
		answer = string(b)
	case "reload":
		if m.stopping || m.handedOver {
			answer = "error: " + errStopping.Error()
		} else {
			m.reload("control: reload")
		}
	case "upgrade":
		// "ok" once a new master is started; whether it takes over is
		// in the log and the status (Upgrading).
		if err := m.startUpgrade("control: upgrade"); err != nil {
			answer = "error: " + err.Error()
		}
	case "scale":
		n, err := strconv.Atoi(strings.TrimSpace(arg))
		switch {
		case err != nil:
			answer = fmt.Sprintf("error: scale %q: want a number of workers", arg)
		case n < min(m.cfg.MinWorkers, 1) || n > maxSlots:
			answer = fmt.Sprintf("error: scale %d: want %d to %d", n, min(m.cfg.MinWorkers, 1), maxSlots)
		default:
			if err := m.scale(n, "control: scale"); err != nil {
				answer = "error: " + err.Error()
			}
		}
	case "stop":
		m.stop(false, "control: stop")
	case "quit":
		m.stop(true, "control: quit")
	default:
		answer = fmt.Sprintf("error: unknown command %q (want status, reload, upgrade, scale N, stop or quit)", c.line)
	}
	c.reply <- answer
}

// status snapshots the pool.
func (m *master) status() *Status {
	now := time.Now()
	st := &Status{PID: os.Getpid(), Generation: m.gen, Mode: m.cfg.Mode.String(), Workers: len(m.activeSlots()),
		Reloading: m.reloading, Upgrading: m.upgrade != nil, Stopping: m.stopping || m.handedOver,
		Pool: "fixed", Watching: m.watching}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		st.MasterCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	switch {
	case m.cfg.ondemand():
		st.Pool = "ondemand"
	case m.cfg.MinWorkers < m.cfg.MaxWorkers:
		st.Pool = "dynamic"
	}
	for _, sl := range m.slots {
		if !sl.retiring && sl.cur != nil && sl.cur.state == ready && !sl.cur.hung {
			st.Ready++
		}
	}
	for _, w := range m.sortedWorkers() {
		ws := WorkerStatus{PID: w.pid, Slot: w.slot, Generation: w.gen, State: w.state.String(),
			Uptime: now.Sub(w.started).Seconds(), Busy: w.busy, RSS: w.rss}
		if w.hung {
			ws.State = "hung"
		}
		if w.page != nil {
			ws.Conns, ws.Active = w.page.accepted.Load(), w.page.active.Load()
		}
		if ws.RSS == 0 {
			ws.RSS = processRSS(w.pid)
		}
		if w.slot < len(m.slots) {
			ws.Restarts, ws.LastExit = m.slots[w.slot].restarts, m.slots[w.slot].lastExit
		}
		st.Processes = append(st.Processes, ws)
	}
	return st
}
