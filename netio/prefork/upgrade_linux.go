package prefork

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// startUpgrade starts a new master from the binary at the path this one
// was started from — the new binary, if it was replaced — handing it
// every listening socket and the control socket. The new master starts
// its own workers; once they are all ready it says so, and this master
// drains its workers and exits (handOver). If the new master exits first,
// or is not ready within UpgradeTimeout, this one goes on serving.
//
// It returns an error, which it has logged, if no new master was started:
// the control command answers with it.
func (m *master) startUpgrade(why string) error {
	switch {
	case m.stopping || m.handedOver:
		return errStopping
	case m.upgrade != nil:
		m.logf("prefork: %s: an upgrade is already under way (new master %d)", why, m.upgrade.p.pid)
		return fmt.Errorf("an upgrade is already under way (new master %d)", m.upgrade.p.pid)
	}
	fail := func(err error) error {
		m.logf("prefork: %s: upgrade failed: %v; this master goes on serving", why, err)
		return fmt.Errorf("upgrade failed: %w", err)
	}
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(os.NewSyscallError("socketpair", err))
	}
	// This end is ready before the new master starts: without it, the new
	// master's word that it is ready would never be heard (it used to be
	// dropped, and the new master ran on beside this one).
	ctl, err := pollable(sp[0], "prefork-upgrade")
	if err != nil {
		unix.Close(sp[0])
		unix.Close(sp[1])
		return fail(err)
	}
	files := []int{0, 1, 2, sp[1]}
	spec := masterSpec{Gen: m.gen + 1, Slots: len(m.activeSlots()), Parent: 3, Control: -1,
		Listeners: make(map[string][][]int)}
	if m.control != nil {
		if rc, err := m.control.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				spec.Control = len(files)
				files = append(files, int(fd))
			})
		}
	}
	for a, l := range m.cfg.Listen {
		var slots [][]int
		for _, fds := range m.ls.socks[a] {
			var mine []int
			for _, fd := range fds {
				mine = append(mine, len(files))
				files = append(files, fd)
			}
			slots = append(slots, mine)
		}
		spec.Listeners[l.name()] = slots
	}
	js, _ := json.Marshal(spec)
	p, err := startProc(m.exe, m.cfg.args(), childEnv(m.cfg.Env, masterEnv+"="+string(js)), files, -1)
	unix.Close(sp[1])
	if err != nil {
		ctl.Close()
		return fail(err)
	}
	m.upgrade = &upgrade{p: p, ctl: ctl, started: time.Now()}
	m.logf("prefork: %s: upgrading: started new master %d from %s", why, p.pid, m.exe)
	w := &wproc{proc: p}
	go func() {
		st, err := p.wait()
		m.events <- event{kind: evChildExit, w: w, st: st, err: err}
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := ctl.Read(buf)
			if err != nil || n == 0 {
				return
			}
			m.events <- event{kind: evChildMsg, msg: string(buf[:n])}
		}
	}()
	return nil
}

// handOver runs in the old master when the new one is ready: its workers
// drain, it stops answering the control socket, and it exits once they
// are gone. The new master, no longer its child's business, is left to
// run (it is reparented).
func (m *master) handOver(now time.Time) {
	u := m.upgrade
	m.upgrade = nil
	m.logf("prefork: upgrade: new master %d is ready; draining this master's (%d) workers", u.p.pid, os.Getpid())
	m.handedOver = true
	m.leaving.Store(true)
	m.reloading = false
	u.ctl.Close()
	// The new master is left to its waiting goroutine, which reaps it if
	// it dies before this master exits; once this master exits, it is
	// reparented. Its pidfd stays open until then: closing it here, while
	// that goroutine may still read it, was a data race.
	if m.control != nil {
		m.control.Close()
		m.control = nil
	}
	for w := range m.workers {
		m.retire(w, false)
	}
}
