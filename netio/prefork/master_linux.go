package prefork

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// masterEnv names the environment variable that tells a new master,
// started by a binary upgrade, which descriptors it inherits: a
// masterSpec in JSON.
const masterEnv = "COOP_PREFORK_MASTER"

type masterSpec struct {
	Gen       int                `json:"gen"`
	Slots     int                `json:"slots"`
	Listeners map[string][][]int `json:"listeners"` // name → slot → scheduler → descriptor
	Control   int                `json:"control"`   // the control socket's listener, or -1
	Parent    int                `json:"parent"`    // socket pair with the old master
}

// The master's tick: how often it looks at heartbeats, deadlines and
// back-offs. Events (exits, messages, signals, commands) are handled as
// they come.
const tick = 50 * time.Millisecond

type wstate int

const (
	starting wstate = iota
	ready
	draining
	stopping
)

func (s wstate) String() string {
	return [...]string{"starting", "ready", "draining", "stopping"}[s]
}

// A wproc is a worker process as the master tracks it.
type wproc struct {
	*proc
	id, slot, gen int
	ctl           *os.File
	page          *page
	mem           []byte
	state         wstate
	started       time.Time
	readyAt       time.Time
	beats         [maxCores]uint64
	beatAt        [maxCores]time.Time
	cpu           uint64
	cpuAt         time.Time
	busy          float64 // share of its threads' time busy, last interval
	maxAge        time.Duration
	rss           int64
	hung          bool
	killAt        time.Time // SIGKILL then: hung, or not drained
	killed        string    // why the master killed it, if it did
	killedAt      time.Time // when the master sent SIGKILL
	closedAt      time.Time // when its end of the socket pair closed: it is exiting
	asked         bool      // the master asked it to stop
	cgroup        *workerCgroup
	oomBefore     uint64
	idleAcc       uint64    // accepted, when idleSince was last set
	idleSince     time.Time // last seen with a connection (ondemand)
}

// A slot is one place in the pool: its current worker, the successor
// being started to replace it, and its history.
type slot struct {
	index     int
	cur, next *wproc
	failures  int       // failed starts in a row
	restartAt time.Time // cur == nil: start a worker then
	retryAt   time.Time // a successor failed: try again then
	restarts  int
	lastExit  string
	crashLoop bool
	replace   string // why cur is to be replaced (reload, recycle, hang)
	reload    bool   // replace is a reload's
	retiring  bool   // the slot is being removed (scale down)
	retireAt  time.Time
	parked    bool // slot 0 of an ondemand pool at zero: no worker, sockets watched
}

type evKind int

const (
	evExit evKind = iota
	evMsg
	evChildMsg
	evChildExit
	evPending // a connection is queued on a parked pool's sockets
	evClosed  // a worker's end of its socket pair closed: it is exiting
)

type event struct {
	kind    evKind
	w       *wproc
	msg     string
	st      exitStatus
	err     error
	reapErr error      // evExit: reaping the worker failed
	reaping chan error // evExit: the reap goes on, and reports here
}

// An upgrade is a new master started by SIGUSR2, until it is ready.
type upgrade struct {
	p       *proc
	ctl     *os.File
	started time.Time
	killed  bool // sent SIGKILL: not ready within UpgradeTimeout, or the pool stops
}

type master struct {
	cfg     *Config
	ls      *listenSet
	exe     string
	gen     int
	slots   []*slot
	target  int // slots wanted
	workers map[*wproc]bool
	nextID  int

	events chan event
	cmds   chan command
	poke   chan struct{}
	sig    struct{ hup, usr2, term, quit, ttin, ttou atomic.Int32 }
	// leaving is set when the pool stops or hands over: from then on the
	// workers that end are not reaped by the master (see waitWorker).
	leaving atomic.Bool

	reloading    bool
	reloadBroken bool
	upgrade      *upgrade
	parent       *os.File // a new master's link to the old one
	announced    bool     // READY sent (sd_notify, old master)
	handedOver   bool     // an old master whose successor is ready
	stopping     bool
	immediate    bool
	stopBy       time.Time
	control      *net.UnixListener
	controlPath  string
	cg           *cgroups
	notify       *notifier
	lastRSS      time.Time
	lastScale    time.Time
	lastIdle     time.Time
	overSpare    int // scale intervals in a row with spare above MaxSpare
	oomCount     func() uint64
	steerDirty   bool
	servingPrev  []bool
	lwatch       *listenWatch // ondemand: the listeners' watch
	watching     bool         // the watch is armed
	parkedFrom   *wproc       // the worker a park retired, until it closes its listeners
	statusSent   string       // the last sd_notify STATUS
	// controlConns counts the control socket's accept loop and the
	// connections it serves.
	controlConns sync.WaitGroup
}

func (m *master) logf(format string, args ...any) { m.cfg.Logger.Printf(format, args...) }

// runMaster is Run in the master.
func runMaster(cfg *Config) error {
	m := &master{
		cfg:     cfg,
		gen:     1,
		target:  cfg.Workers,
		workers: make(map[*wproc]bool),
		events:  make(chan event, 256),
		cmds:    make(chan command),
		poke:    make(chan struct{}, 1),
		notify:  newNotifier(),
		oomCount: func() uint64 {
			return readVmstat("oom_kill")
		},
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("prefork: own executable: %w", err)
	}
	m.exe = exe

	inherited, err := systemdListeners(cfg)
	if err != nil {
		return err
	}
	for name := range inherited {
		m.logf("prefork: listener %q: the socket systemd passed (LISTEN_FDS)", name)
	}
	controlFD := -1
	if s := os.Getenv(masterEnv); s != "" {
		os.Unsetenv(masterEnv)
		var spec masterSpec
		if err := json.Unmarshal([]byte(s), &spec); err != nil {
			return fmt.Errorf("prefork: bad %s: %w", masterEnv, err)
		}
		inherited = spec.Listeners
		for _, slots := range inherited {
			for _, fds := range slots {
				for _, fd := range fds {
					unix.CloseOnExec(fd)
				}
			}
		}
		m.gen = spec.Gen
		if spec.Slots > 0 || cfg.ondemand() {
			m.target = min(max(spec.Slots, cfg.MinWorkers), cfg.MaxWorkers)
		}
		controlFD = spec.Control
		if spec.Parent >= 0 {
			unix.CloseOnExec(spec.Parent)
			if m.parent, err = pollable(spec.Parent, "prefork-parent"); err != nil {
				return err
			}
		}
		m.logf("prefork: master %d: taking over from master %d, generation %d", os.Getpid(), os.Getppid(), m.gen)
	}
	m.ls, err = newListenSet(cfg, max(m.target, 1), inherited, m.logf)
	if err != nil {
		return err
	}
	if cfg.ControlSocket != "" {
		if err := m.openControl(controlFD); err != nil {
			m.ls.close(false)
			return err
		}
	}
	m.cg = newCgroups(cfg, m.logf)
	if cfg.ondemand() {
		if m.lwatch, err = newListenWatch(m.events); err != nil {
			m.logf("prefork: ondemand: %v; the pool keeps one worker", err)
			m.target = max(m.target, 1)
		}
	}

	signal.Ignore(syscall.SIGPIPE)
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, syscall.SIGHUP, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTTIN, syscall.SIGTTOU)
	defer signal.Stop(sigc)
	go m.pumpSignals(sigc)

	for i := range max(m.target, 1) {
		m.slots = append(m.slots, &slot{index: i, parked: m.target == 0})
	}
	modes := make([]string, 0, len(cfg.Listen))
	for a, l := range cfg.Listen {
		mode := ReusePort
		if m.ls.shared[a] {
			mode = Shared
		}
		modes = append(modes, fmt.Sprintf("%s %s (%v)", l.Network, m.ls.addrs[a], mode))
	}
	m.logf("prefork: master %d: %d worker(s) × %d scheduler(s) on %v", os.Getpid(), m.target, cfg.Cores, modes)
	for _, sl := range m.slots {
		if !sl.parked {
			m.start(sl, false)
		}
	}
	m.steerDirty = true
	m.checkProgress() // an ondemand pool at zero is ready at once
	return m.loop()
}

// pumpSignals turns signals into counts for the loop. It never blocks,
// so the runtime's signal queue never overflows into sigc's buffer and
// drops one; a signal that arrives while its action runs is counted and
// acted on after it (two SIGHUPs: two reloads, the second starting
// from the generation the first reached).
func (m *master) pumpSignals(sigc chan os.Signal) {
	for s := range sigc {
		switch s {
		case syscall.SIGHUP:
			m.sig.hup.Add(1)
		case syscall.SIGUSR2:
			m.sig.usr2.Add(1)
		case syscall.SIGTERM, syscall.SIGINT:
			m.sig.term.Add(1)
		case syscall.SIGQUIT:
			m.sig.quit.Add(1)
		case syscall.SIGTTIN:
			m.sig.ttin.Add(1)
		case syscall.SIGTTOU:
			m.sig.ttou.Add(1)
		}
		select {
		case m.poke <- struct{}{}:
		default:
		}
	}
}

func (m *master) loop() error {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-m.poke:
			m.handleSignals()
		case ev := <-m.events:
			m.handle(ev)
		case c := <-m.cmds:
			m.command(c)
		case <-t.C:
		}
		m.tick(time.Now())
		if m.done() {
			break
		}
	}
	return m.finish()
}

func (m *master) handleSignals() {
	if m.sig.quit.Swap(0) > 0 {
		m.stop(true, "SIGQUIT")
	}
	if m.sig.term.Swap(0) > 0 {
		m.stop(false, "SIGTERM")
	}
	for n := m.sig.hup.Swap(0); n > 0; n-- {
		m.reload("SIGHUP")
	}
	if m.sig.usr2.Swap(0) > 0 {
		m.startUpgrade("SIGUSR2") // it logs its failure
	}
	if n := m.sig.ttin.Swap(0) - m.sig.ttou.Swap(0); n != 0 {
		m.scale(m.target+int(n), "SIGTTIN/SIGTTOU")
	}
}

// start starts a worker for sl, as its current worker or (successor)
// as the one that will replace it.
func (m *master) start(sl *slot, successor bool) {
	if m.stopping || m.handedOver {
		return
	}
	w, err := m.spawn(sl)
	now := time.Now()
	if err != nil {
		m.logf("prefork: slot %d: %v", sl.index, err)
		sl.lastExit = err.Error()
		m.failed(sl, now, successor)
		return
	}
	if successor {
		sl.next = w
	} else {
		sl.cur = w
	}
}

// spawn starts a worker process for sl.
func (m *master) spawn(sl *slot) (*wproc, error) {
	m.nextID++
	id := m.nextID
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socketpair", err)
	}
	// The master's end of the control channel is ready before the worker
	// starts: a worker without it could be neither told to stop nor seen
	// to close, so this failing must leave no worker behind (it used to
	// be dropped, and the worker ran without).
	ctl, err := pollable(sp[0], "prefork-ctl")
	if err != nil {
		unix.Close(sp[0])
		unix.Close(sp[1])
		return nil, err
	}
	pagefd, err := newPageFile()
	if err != nil {
		ctl.Close()
		unix.Close(sp[1])
		return nil, err
	}
	pg, mem, err := mapPage(pagefd)
	if err != nil {
		ctl.Close()
		unix.Close(sp[1])
		unix.Close(pagefd)
		return nil, err
	}
	files := []int{0, 1, 2, sp[1], pagefd}
	fds := m.ls.slotFDs(sl.index)
	spec := workerSpec{ID: id, Slot: sl.index, Gen: m.gen, Ctl: 3, Page: 4, Shared: m.ls.shared}
	for a := range fds {
		var mine []int
		for _, fd := range fds[a] {
			mine = append(mine, len(files))
			files = append(files, fd)
		}
		spec.Listeners = append(spec.Listeners, mine)
	}
	spec.ConnLimit = connLimit(m.cfg.MaxConns, m.cfg.MaxConnsJitter)
	js, _ := json.Marshal(spec)
	cg := m.cg.forWorker(id)
	cgfd := -1
	if cg != nil {
		cgfd = cg.fd
	}
	oom := m.oomCount()
	p, err := startProc("/proc/self/exe", m.cfg.args(), childEnv(m.cfg.Env, workerEnv+"="+string(js)), files, cgfd)
	unix.Close(sp[1])
	unix.Close(pagefd)
	if cg != nil {
		cg.closeFD()
	}
	if err != nil {
		ctl.Close()
		unix.Munmap(mem)
		if cg != nil {
			cg.remove()
		}
		return nil, err
	}
	now := time.Now()
	w := &wproc{proc: p, id: id, slot: sl.index, gen: m.gen, ctl: ctl, page: pg, mem: mem,
		started: now, cgroup: cg, oomBefore: oom}
	if m.cfg.MaxAge > 0 {
		w.maxAge = time.Duration(jitter(float64(m.cfg.MaxAge), m.cfg.MaxConnsJitter))
	}
	m.workers[w] = true
	go m.waitWorker(w)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := ctl.Read(buf)
			if n == 0 && (err == nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
				// The worker's descriptors are closed: it is exiting
				// (or gone), whether or not the kernel has said so.
				m.events <- event{kind: evClosed, w: w}
				return
			}
			if err != nil {
				return // the master closed it
			}
			m.events <- event{kind: evMsg, w: w, msg: string(buf[:n])}
		}
	}()
	m.logf("prefork: started worker %d (slot %d, generation %d)", p.pid, sl.index, m.gen)
	return w, nil
}

// waitWorker waits for w to end and tells the loop.
//
// While the pool runs, it reaps w, and the loop hears of w's end once w
// is reaped, or after reapWait if the kernel is slow to release it, so
// that a replacement never waits on the kernel's bookkeeping; the reap
// then goes on in the background (exited).
//
// Once the pool is stopping or handing over, it does not reap w: reaping
// can hold the reaping thread in the kernel for seconds (see
// proc.waitEnd), and a process cannot exit until every one of its
// threads has left the kernel, so a master that reaped its last workers
// as it stopped exited seconds late (examples/farm's rolling restart:
// "did not exit within 11s" for a host whose workers had exited 1 s
// after SIGTERM). Those workers are left as zombies to whoever adopts
// them when the master exits: init or the service manager, which reap
// them.
func (m *master) waitWorker(w *wproc) {
	st, err := w.waitEnd()
	if err != nil || m.leaving.Load() {
		m.events <- event{kind: evExit, w: w, st: st, err: err}
		return
	}
	reaped := make(chan error, 1)
	go func() { reaped <- w.reap() }()
	select {
	case rerr := <-reaped:
		m.events <- event{kind: evExit, w: w, st: st, reapErr: rerr}
	case <-time.After(reapWait):
		m.events <- event{kind: evExit, w: w, st: st, reaping: reaped}
	}
}

// reapWait is how long waitWorker lets a reap hold the news of a
// worker's end.
const reapWait = 100 * time.Millisecond

// connLimit returns a worker's limit of connections for MaxConns max
// and its jitter j, rounded, and at least 1: 0 means none, for max 0.
func connLimit(max int, j float64) uint64 {
	if max <= 0 {
		return 0
	}
	return uint64(math.Max(1, math.Round(jitter(float64(max), j))))
}

// jitter returns v give or take the fraction j, at random.
func jitter(v, j float64) float64 {
	return v * (1 + j*(2*rand.Float64()-1))
}

// send sends w an order. Its error is not w's business nor the loop's: a
// write fails only once w has closed its end (EPIPE, ECONNRESET), that
// is, w is exiting, and its end is on its way; an order lost so is
// covered by the deadline retire and watch set (killAt).
func (m *master) send(w *wproc, msg string) {
	if w.ctl != nil {
		w.ctl.Write([]byte(msg))
	}
}

func (m *master) handle(ev event) {
	now := time.Now()
	switch ev.kind {
	case evMsg:
		m.message(ev.w, ev.msg, now)
	case evExit:
		m.exited(ev.w, ev.st, ev.err, ev.reapErr, ev.reaping, now)
	case evChildMsg:
		if ev.msg == msgReady && m.upgrade != nil {
			m.handOver(now)
		}
	case evPending:
		m.pending(ev.err)
	case evClosed:
		if m.workers[ev.w] && ev.w.closedAt.IsZero() {
			ev.w.closedAt = now
		}
	case evChildExit:
		if m.upgrade != nil && m.upgrade.p == ev.w.proc {
			how := ev.st.String()
			if ev.err != nil {
				// Not "killed by signal 0", the status it did not read.
				how = fmt.Sprintf("ended (waiting for it: %v)", ev.err)
			}
			m.logf("prefork: upgrade failed: the new master %d %s before it was ready; this master (%d) goes on serving", m.upgrade.p.pid, how, os.Getpid())
			m.upgrade.p.release()
			m.upgrade.ctl.Close()
			m.upgrade = nil
		}
	}
}

func (m *master) message(w *wproc, msg string, now time.Time) {
	if !m.workers[w] {
		return
	}
	switch msg {
	case msgReady:
		if w.state != starting {
			return
		}
		w.state, w.readyAt = ready, now
		w.idleAcc, w.idleSince = w.page.accepted.Load(), now
		for c := range m.cfg.Cores {
			w.beats[c], w.beatAt[c] = w.page.beats[c].n.Load(), now
		}
		sl := m.slotOf(w)
		if sl == nil {
			m.retire(w, false)
			return
		}
		m.logf("prefork: worker %d (slot %d, generation %d) ready in %v", w.pid, w.slot, w.gen, now.Sub(w.started).Round(time.Millisecond))
		sl.failures, sl.crashLoop = 0, false
		if sl.next == w {
			old := sl.cur
			sl.cur, sl.next, sl.replace, sl.reload = w, nil, "", false
			if old != nil {
				m.retire(old, sl.retiring)
			}
		}
		m.steerDirty = true
		m.checkProgress()
	case msgRecycle:
		if sl := m.slotOf(w); sl != nil && sl.cur == w && sl.replace == "" {
			sl.replace = fmt.Sprintf("recycle: served %d connections", w.page.accepted.Load())
			m.logf("prefork: worker %d (slot %d): %s", w.pid, sl.index, sl.replace)
		}
	case msgClosed:
		if w == m.parkedFrom {
			m.parkedFrom = nil // it takes no more connections: watch
		}
	case msgDumped:
		if w.hung {
			w.killAt = now // the dump is out: no need to wait longer
		}
	}
}

// slotOf returns the slot w serves or is about to serve, or nil.
func (m *master) slotOf(w *wproc) *slot {
	if w.slot < len(m.slots) {
		if sl := m.slots[w.slot]; sl.cur == w || sl.next == w {
			return sl
		}
	}
	return nil
}

// retire asks w to drain (or, with ReloadImmediate, to stop at once).
func (m *master) retire(w *wproc, emptyQueues bool) {
	if w.asked {
		return
	}
	w.asked = true
	msg := msgDrain
	switch {
	case m.immediate:
		msg = msgStop
	case emptyQueues:
		msg = msgRetire
	}
	if w.state == starting {
		msg = msgStop
	}
	if msg == msgDrain && m.stopping && m.cfg.StopDelay > 0 {
		// The pool stops: the workers are all there is, so each keeps
		// serving, failing its health checks, while the balancer in
		// front takes the host out.
		msg = msgStopLater
	}
	w.state = draining
	if msg == msgStop {
		w.state = stopping
	}
	grace := m.cfg.DrainTimeout + 2*time.Second
	switch msg {
	case msgStop:
		grace = 2 * time.Second
	case msgStopLater:
		grace += m.cfg.StopDelay
	}
	if w.killAt.IsZero() || time.Now().Add(grace).Before(w.killAt) {
		w.killAt = time.Now().Add(grace)
	}
	m.send(w, msg)
}

func (m *master) exited(w *wproc, st exitStatus, werr, rerr error, reaping chan error, now time.Time) {
	if !m.workers[w] {
		return
	}
	reason := m.classify(w, st, werr) // before forget removes its cgroup
	m.forget(w)
	if reaping == nil {
		w.release()
	} else {
		// The kernel is still releasing it: its pidfd is closed once it
		// has, by then no business of the loop's.
		go func() {
			if err := <-reaping; err != nil {
				m.logf("prefork: worker %d (slot %d, generation %d): %v", w.pid, w.slot, w.gen, err)
			}
			w.release()
		}()
	}
	if rerr != nil {
		m.logf("prefork: worker %d (slot %d, generation %d): %v", w.pid, w.slot, w.gen, rerr)
	}
	sl := m.slotOf(w)
	if w.asked && sl == nil {
		m.logf("prefork: worker %d (slot %d, generation %d) %s after %v", w.pid, w.slot, w.gen, reason, now.Sub(w.started).Round(time.Millisecond))
		m.checkProgress()
		return
	}
	if sl == nil {
		return
	}
	m.logf("prefork: worker %d (slot %d, generation %d) %s", w.pid, w.slot, w.gen, reason)
	sl.lastExit = reason
	m.steerDirty = true
	if sl.next == w {
		// A successor that failed: the current worker goes on serving.
		sl.next = nil
		m.failed(sl, now, true)
		return
	}
	sl.cur = nil
	sl.restarts++
	if sl.next != nil {
		sl.cur, sl.next = sl.next, nil
		sl.replace, sl.reload = "", false
		return
	}
	if sl.retiring {
		return
	}
	if !w.readyAt.IsZero() && now.Sub(w.readyAt) >= m.cfg.StableAfter && w.killed == "" {
		sl.failures = 0
		sl.restartAt = now // it ran well: replace it at once
		return
	}
	if w.readyAt.IsZero() || now.Sub(w.readyAt) < m.cfg.StableAfter {
		m.failed(sl, now, false)
		return
	}
	sl.restartAt = now
}

// failed records a failed start in sl (or a worker that did not last) and
// sets the back-off before the next try: BackoffMin doubling to
// BackoffMax, with ±20% jitter.
func (m *master) failed(sl *slot, now time.Time, successor bool) {
	sl.failures++
	d := m.cfg.BackoffMin << min(sl.failures-1, 30)
	if d > m.cfg.BackoffMax || d <= 0 {
		d = m.cfg.BackoffMax
	}
	d = time.Duration(jitter(float64(d), 0.2))
	if sl.failures >= m.cfg.CrashLoop {
		if !sl.crashLoop {
			m.logf("prefork: slot %d is crash-looping: %d failed starts in a row, the last %s; retrying every %v", sl.index, sl.failures, sl.lastExit, m.cfg.BackoffMax)
		}
		sl.crashLoop = true
		if successor && m.reloading && !m.reloadBroken {
			m.reloadBroken = true
			m.logf("prefork: reload to generation %d stopped: its workers do not start (%s); the previous generation goes on serving", m.gen, sl.lastExit)
			m.notify.send("READY=1\nSTATUS=reload failed")
		}
	}
	if successor {
		sl.retryAt = now.Add(d)
	} else {
		sl.restartAt = now.Add(d)
	}
}

// reload starts a new generation: every slot's worker is replaced by one
// of it, MaxSurge slots at a time, each new worker ready before the old
// one drains.
func (m *master) reload(why string) {
	if m.stopping || m.handedOver {
		return
	}
	m.gen++
	m.reloading, m.reloadBroken = true, false
	m.logf("prefork: %s: reloading to generation %d", why, m.gen)
	m.notify.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	for _, sl := range m.slots {
		sl.failures, sl.crashLoop, sl.retryAt = 0, false, time.Time{}
		if sl.cur != nil && (sl.replace == "" || sl.reload) {
			sl.replace, sl.reload = why, true
		}
	}
	m.checkProgress() // an ondemand pool at zero has nothing to replace
}

// checkProgress notices the end of a start, a reload or a stop.
func (m *master) checkProgress() {
	readyAll := true
	genAll := true
	for _, sl := range m.slots {
		if sl.retiring || sl.parked {
			continue
		}
		if sl.cur == nil || sl.cur.state != ready {
			readyAll = false
		}
		if sl.cur == nil || sl.cur.gen != m.gen || sl.next != nil {
			genAll = false
		}
	}
	if readyAll && !m.announced {
		m.announced = true
		m.logf("prefork: master %d: all %d workers ready", os.Getpid(), len(m.activeSlots()))
		if m.parent != nil {
			if _, err := m.parent.Write([]byte(msgReady)); err != nil {
				// The old master will not hand over: it kills this one
				// after its UpgradeTimeout, or it is gone already.
				m.logf("prefork: master %d: telling the old master %d it is ready: %v", os.Getpid(), os.Getppid(), err)
			}
			m.notify.send(fmt.Sprintf("MAINPID=%d\nREADY=1", os.Getpid()))
		} else {
			m.notify.send("READY=1")
		}
	}
	if m.reloading && readyAll && genAll {
		m.reloading = false
		m.logf("prefork: reload to generation %d done", m.gen)
		m.notify.send("READY=1")
	}
}

// activeSlots returns the slots that have, or are to have, a worker: not
// being retired, not parked.
func (m *master) activeSlots() []*slot {
	var out []*slot
	for _, sl := range m.slots {
		if !sl.retiring && !sl.parked {
			out = append(out, sl)
		}
	}
	return out
}

// tick does what time decides: restarts after back-off, replacements,
// heartbeats, deadlines, recycling by age and memory, scaling.
func (m *master) tick(now time.Time) {
	m.handleSignals()
	for w := range m.workers {
		m.watch(w, now)
	}
	if !m.stopping && !m.handedOver {
		m.recycleChecks(now)
		surging := 0
		for _, sl := range m.slots {
			if sl.next != nil {
				surging++
			}
		}
		for _, sl := range m.slots {
			if sl.reload && sl.cur != nil && sl.cur.gen == m.gen {
				sl.replace, sl.reload = "", false // restarted in the new generation already
			}
			if m.reloading && !m.reloadBroken && sl.cur != nil && sl.cur.gen < m.gen && sl.replace == "" {
				// A successor of an earlier generation took over while
				// this reload ran: it is replaced in turn.
				sl.replace, sl.reload = fmt.Sprintf("reload to generation %d", m.gen), true
			}
			switch {
			case sl.parked:
			case sl.retiring:
				if sl.cur == nil && sl.next == nil {
					m.dropSlot(sl)
				} else if sl.cur != nil && !sl.cur.asked && now.After(sl.retireAt) {
					m.retire(sl.cur, true)
				}
			case sl.cur == nil && sl.next == nil:
				if now.After(sl.restartAt) {
					m.start(sl, false)
				}
			case sl.replace != "" && sl.next == nil && sl.cur != nil && sl.cur.state == ready:
				hung := sl.cur.hung
				if m.reloadBroken && !hung && sl.reload {
					break // the new generation does not start: keep this one
				}
				if (surging < m.cfg.MaxSurge || hung) && now.After(sl.retryAt) {
					m.start(sl, true)
					if sl.next != nil {
						surging++
					}
				}
			}
		}
		m.adapt(now)
	}
	m.updateWatch()
	if m.steerDirty {
		m.steerDirty = false
		serving := make([]bool, len(m.slots))
		some := false
		for i, sl := range m.slots {
			serving[i] = !sl.retiring && sl.cur != nil && sl.cur.state == ready && !sl.cur.hung
			some = some || serving[i]
		}
		if !some {
			// Nothing serves: queue where a worker comes next (a parked
			// slot 0, a slot starting or in back-off), never in a slot
			// being removed, whose queue would be reset.
			for i, sl := range m.slots {
				serving[i] = !sl.retiring
			}
		}
		if !equalBools(serving, m.servingPrev) {
			m.servingPrev = serving
			m.ls.steer(serving)
		}
	}
	if u := m.upgrade; u != nil && !u.killed && now.Sub(u.started) > m.cfg.UpgradeTimeout {
		// Once: the news of its end comes after it is reaped, which can
		// take seconds (see proc.waitEnd), and every tick meanwhile said
		// "killing it" again.
		m.logf("prefork: upgrade failed: the new master %d was not ready within %v; killing it, this master goes on serving", u.p.pid, m.cfg.UpgradeTimeout)
		m.killUpgrade()
	}
	m.notify.watchdog(now)
	if m.notify.addr != nil {
		if line := m.statusLine(); line != m.statusSent {
			m.statusSent = line
			m.notify.send("STATUS=" + line)
		}
	}
	if m.stopping && now.After(m.stopBy) {
		for w := range m.workers {
			if w.killed == "" && !w.ended() {
				m.kill(w, "killed: the stop timed out", now)
			}
		}
	}
	if m.stopping || m.handedOver {
		m.unreported(now)
	}
}

// How long a stopping master waits for the kernel to report the end of a
// worker that has closed its end of their socket pair (it is exiting: its
// descriptors are closed, as they are early in the kernel's exit), and
// for the end of one it sent SIGKILL.
const (
	exitReportWait = time.Second
	killWait       = 2 * time.Second
)

// unreported stops waiting for workers whose end the kernel has not
// reported in time, once the pool is stopping, so that the stop is
// bounded: the kernel took 2 to 10 s to report workers that had exited
// (their threads' exits, or the master's reap, held in
// shrink_dcache_parent on a busy 2-vCPU VM), and a worker stuck in the
// kernel, which SIGKILL cannot end, would hold the master for ever. Each
// is logged, saying which.
func (m *master) unreported(now time.Time) {
	for w := range m.workers {
		var why string
		switch {
		case !w.closedAt.IsZero() && now.Sub(w.closedAt) > exitReportWait:
			why = fmt.Sprintf("is exiting (its end of the control socket closed %v ago), but the kernel has not reported its end",
				now.Sub(w.closedAt).Round(time.Millisecond))
		case !w.killedAt.IsZero() && now.Sub(w.killedAt) > killWait:
			why = fmt.Sprintf("has not ended %v after the master's SIGKILL (%s)", now.Sub(w.killedAt).Round(time.Millisecond), w.killed)
		default:
			continue
		}
		m.logf("prefork: worker %d (slot %d, generation %d) %s; the master stops waiting for it", w.pid, w.slot, w.gen, why)
		m.forget(w)
	}
}

// forget drops w from the pool: its control socket, status page, cgroup
// and place. exited calls it for a worker that ended; a stopping pool
// calls it alone for a worker whose end the master no longer waits for,
// whose pidfd then stays open until the master exits (its waiting
// goroutine may still be using it).
func (m *master) forget(w *wproc) {
	delete(m.workers, w)
	if w.ctl != nil {
		w.ctl.Close()
	}
	unix.Munmap(w.mem)
	w.page = nil
	if w == m.parkedFrom {
		m.parkedFrom = nil
	}
	if w.cgroup != nil {
		w.cgroup.remove()
	}
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// killUpgrade sends the new master of the upgrade under way SIGKILL;
// the upgrade ends when its end is reported (evChildExit).
func (m *master) killUpgrade() {
	u := m.upgrade
	u.killed = true
	if err := u.p.signal(syscall.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		m.logf("prefork: upgrade: SIGKILL not sent to the new master %d: %v", u.p.pid, err)
	}
}

// kill sends w SIGKILL, for why, and logs it then: its end is logged when
// the kernel reports it, which can be seconds later (see proc.waitEnd).
func (m *master) kill(w *wproc, why string, now time.Time) {
	w.killed, w.killedAt = why, now
	m.logf("prefork: worker %d (slot %d, generation %d): sending SIGKILL (%s)", w.pid, w.slot, w.gen, why)
	// ESRCH: it has ended, and the news is on its way (see proc.ended).
	// Any other failure is said, so that the wait that follows does not
	// read as a SIGKILL that was sent.
	if err := w.signal(syscall.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		m.logf("prefork: worker %d (slot %d, generation %d): SIGKILL not sent: %v", w.pid, w.slot, w.gen, err)
	}
}

// watch checks one worker's deadlines and heartbeats.
func (m *master) watch(w *wproc, now time.Time) {
	if w.killed != "" {
		return
	}
	switch {
	case w.state == starting && now.Sub(w.started) > m.cfg.ReadyTimeout:
		m.kill(w, fmt.Sprintf("killed: not ready within %v", m.cfg.ReadyTimeout), now)
		return
	case !w.killAt.IsZero() && now.After(w.killAt):
		if w.ended() {
			// It stopped; only the news is late (see proc.ended). A
			// SIGKILL would do nothing, and "killed: did not stop in
			// time" would say what did not happen.
			return
		}
		if w.hung {
			m.kill(w, "killed: hung", now)
		} else {
			m.kill(w, "killed: did not stop in time", now)
		}
		return
	}
	// Heartbeats count from the ready message, which takes their
	// baseline: a worker stopped before it was ready never had one (it
	// was reported "hung for 2562047h", the zero time's distance).
	if w.readyAt.IsZero() || w.hung || m.cfg.HangTimeout < 0 {
		return
	}
	for c := range m.cfg.Cores {
		n := w.page.beats[c].n.Load()
		if n != w.beats[c] {
			w.beats[c], w.beatAt[c] = n, now
			continue
		}
		if silent := now.Sub(w.beatAt[c]); silent > m.cfg.HangTimeout {
			w.hung = true
			m.logf("prefork: worker %d (slot %d, generation %d) is hung: scheduler %d has not beaten for %v; asking for a dump, killing it in %v",
				w.pid, w.slot, w.gen, c, silent.Round(time.Millisecond), m.cfg.DumpWait)
			m.send(w, msgDump)
			w.signal(syscall.SIGCONT) // a stopped worker cannot dump
			w.killAt = now.Add(m.cfg.DumpWait)
			if sl := m.slotOf(w); sl != nil && sl.cur == w {
				sl.replace, sl.reload = "hang", false
			}
			m.steerDirty = true
			return
		}
	}
}

// recycleChecks flags workers past their age or memory limits.
func (m *master) recycleChecks(now time.Time) {
	readRSS := m.cfg.MaxRSS > 0 && now.Sub(m.lastRSS) >= 250*time.Millisecond
	if readRSS {
		m.lastRSS = now
	}
	for _, sl := range m.slots {
		w := sl.cur
		if w == nil || w.state != ready || sl.replace != "" {
			continue
		}
		if w.maxAge > 0 && now.Sub(w.started) > w.maxAge {
			sl.replace = fmt.Sprintf("recycle: older than %v", w.maxAge.Round(time.Millisecond))
		}
		if readRSS {
			if rss := processRSS(w.pid); rss > 0 {
				w.rss = rss
				if rss > m.cfg.MaxRSS {
					sl.replace = fmt.Sprintf("recycle: resident set %d MiB over the %d MiB limit", rss>>20, m.cfg.MaxRSS>>20)
				}
			}
		}
		if sl.replace != "" {
			m.logf("prefork: worker %d (slot %d): %s", w.pid, sl.index, sl.replace)
		}
	}
}

// stop begins a graceful (or immediate) stop of the pool.
func (m *master) stop(immediate bool, why string) {
	if m.stopping && (!immediate || m.immediate) {
		return
	}
	m.stopping, m.immediate = true, immediate
	m.leaving.Store(true)
	timeout := m.cfg.StopDelay + m.cfg.StopTimeout + 2*time.Second
	if immediate {
		timeout = 2 * time.Second
	}
	m.stopBy = time.Now().Add(timeout)
	m.logf("prefork: %s: stopping (%s)", why, map[bool]string{true: "immediately", false: "gracefully"}[immediate])
	m.notify.send("STOPPING=1")
	if m.upgrade != nil && !m.upgrade.killed {
		m.logf("prefork: %s: killing the new master %d of the upgrade under way", why, m.upgrade.p.pid)
		m.killUpgrade()
	}
	// Every worker reports Draining from now on, together: the orders
	// below arrive one by one, each read by a goroutine of its worker
	// whenever that runs (100 µs to 11 ms apart under -race on 2 CPUs),
	// and a health check that one worker failed must not let a kept-alive
	// request to another be answered as if nothing stopped.
	for w := range m.workers {
		if w.page != nil {
			w.page.stopping.Store(1)
		}
	}
	for w := range m.workers {
		w.asked = false // an immediate stop overrides a drain
		m.retire(w, false)
	}
	if m.control != nil && !m.handedOver {
		m.control.Close()
	}
}

func (m *master) done() bool {
	return (m.stopping || m.handedOver) && len(m.workers) == 0 && m.upgrade == nil
}

func (m *master) finish() error {
	final := !m.handedOver
	if m.lwatch != nil {
		m.lwatch.close() // before the sockets it may watch are closed
	}
	m.ls.close(final)
	if m.control != nil {
		m.control.Close()
	}
	m.waitControlReplies()
	if final && m.controlPath != "" {
		os.Remove(m.controlPath)
	}
	m.cg.close()
	if m.handedOver {
		m.logf("prefork: master %d: handed over; exiting", os.Getpid())
	} else {
		m.logf("prefork: master %d: stopped", os.Getpid())
	}
	return nil
}

// processRSS reads a process's resident set in bytes, or 0.
func processRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0
	}
	var size, res int64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		return 0
	}
	return res * int64(os.Getpagesize())
}

func monotonicUsec() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}

// sortedWorkers lists the live workers by slot and age, for the status.
func (m *master) sortedWorkers() []*wproc {
	ws := make([]*wproc, 0, len(m.workers))
	for w := range m.workers {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].slot != ws[j].slot {
			return ws[i].slot < ws[j].slot
		}
		return ws[i].id < ws[j].id
	})
	return ws
}

var errStopping = errors.New("prefork: the pool is stopping")
