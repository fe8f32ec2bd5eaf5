package prefork_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/internal/proctest"
	"github.com/coopgo/coop/netio/prefork"
)

// TestKillWorker: a worker killed with SIGKILL under wrk is replaced, the
// replacement started within a second (read from the master's log: how
// long the replacement then takes to be ready is its own start, a
// race-built process on a loaded machine); wrk's only failures are on the
// killed worker's connections.
func TestKillWorker(t *testing.T) {
	need(t, "wrk")
	p := startPool(t, poolConfig{Workers: 2})
	wrk := runWrk(t, 50, "http://"+p.addr+"/")
	time.Sleep(500 * time.Millisecond)
	st := p.status()
	victim := st.Processes[0]
	killed := time.Now()
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = p.waitFor("a replacement", 15*time.Second, func(st *prefork.Status) bool {
		return st.Ready == 2 && !pids(st)[victim.PID]
	})
	var repl prefork.WorkerStatus
	for _, w := range st.Processes {
		if w.Slot == victim.Slot {
			repl = w
		}
	}
	if repl.Restarts != 1 || !strings.Contains(repl.LastExit, "killed by signal 9") {
		t.Errorf("slot %d after the kill: restarts %d, last exit %q", victim.Slot, repl.Restarts, repl.LastExit)
	}
	started := logAt(t, p.out.String(), fmt.Sprintf("started worker %d (slot %d,", repl.PID, victim.Slot), killed)
	if d := started.Sub(killed); d > time.Second {
		t.Errorf("replacement started %v after the kill, want ≤ 1s", d)
	}
	out := wrk.interrupt(t)
	// Failures only on the killed worker's connections: at most the
	// ones it held (about half of 50), never more.
	var reads, conns int
	if i := strings.Index(out, "Socket errors:"); i >= 0 {
		fmt.Sscanf(out[i:], "Socket errors: connect %d, read %d", &conns, &reads)
	}
	if reads+conns > 50 || strings.Contains(out, "Non-2xx") {
		t.Errorf("wrk: more failures than the killed worker's connections:\n%s", out)
	}
	t.Logf("killed worker %d: %d read errors on its connections; replacement %d started %v after the kill", victim.PID, reads, repl.PID, started.Sub(killed).Round(time.Millisecond))
}

// TestKillMaster: every worker is gone within a second of the master's
// SIGKILL (the lifeline), and no worker is left.
func TestKillMaster(t *testing.T) {
	p := startPool(t, poolConfig{Workers: 3})
	workers := pids(p.status())
	// Timed from the SIGKILL: the wait for the master returns only once
	// the pool's output pipe is closed, that is once every worker that
	// holds it has exited too.
	killed := time.Now()
	p.signal(syscall.SIGKILL)
	p.wait(5 * time.Second)
	for time.Since(killed) < 5*time.Second {
		alive := 0
		for pid := range workers {
			if proctest.Running(pid) {
				alive++
			}
		}
		if alive == 0 {
			if d := time.Since(killed); d > time.Second {
				t.Errorf("workers gone after %v, want ≤ 1s", d)
			}
			t.Logf("all %d workers gone %v after the master's SIGKILL", len(workers), time.Since(killed).Round(time.Millisecond))
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("workers outlived their master by 5s")
}

// TestHang: a worker stopped with SIGSTOP, and one whose task holds its
// scheduler's thread, are detected, dumped to the log, killed within the
// hard timeout (HangTimeout + DumpWait, read from the master's log) and
// replaced. How long the replacement takes to be ready is its own start
// (a race-built process on a loaded machine), and when the kernel
// reports the hung worker's end its own business: neither is the hang
// detector's, and the replacement is only waited for.
func TestHang(t *testing.T) {
	for _, how := range []string{"SIGSTOP", "busy task"} {
		t.Run(how, func(t *testing.T) {
			p := startPool(t, poolConfig{Workers: 2, HangMs: 500})
			st := p.status()
			victim, other := st.Processes[0], st.Processes[1]
			start := time.Now()
			if how == "SIGSTOP" {
				stop(t, victim.PID)
			} else {
				// Any connection may land on either worker: make sure the
				// victim gets a /hang by asking until its pid answers.
				for i := 0; ; i++ {
					if get(t, p.addr, "/pid") == strconv.Itoa(victim.PID)+"\n" {
						break
					}
					if i > 200 {
						t.Fatal("never reached the victim")
					}
				}
				go func() {
					for range 20 {
						c, err := net.Dial("tcp", p.addr)
						if err == nil {
							fmt.Fprintf(c, "GET /hang/%d HTTP/1.1\r\nHost: x\r\n\r\n", victim.PID)
							defer c.Close()
						}
					}
					time.Sleep(5 * time.Second)
				}()
			}
			st = p.waitFor("a replacement", 15*time.Second, func(st *prefork.Status) bool {
				return st.Ready == 2 && !pids(st)[victim.PID]
			})
			if !pids(st)[other.PID] {
				t.Errorf("worker %d, which was not hung, was replaced too: %+v", other.PID, st.Processes)
			}
			// The replacement can be ready before the kernel has torn
			// the victim down (a stopped, race-built process): its end
			// is logged when the master hears of it, up to 130 ms after
			// the replacement in a -race run. Wait for that line; only
			// the SIGKILL is timed.
			out := p.waitLog("killed: hung (killed by signal 9", 15*time.Second)
			limit := 500*time.Millisecond + time.Second + 500*time.Millisecond // HangTimeout + DumpWait + the master's ticks
			killed := logAt(t, out, fmt.Sprintf("worker %d (slot %d, generation %d): sending SIGKILL (killed: hung)", victim.PID, victim.Slot, victim.Generation), start)
			if d := killed.Sub(start); d > limit {
				t.Errorf("killed %v after the hang, want ≤ %v", d, limit)
			}
			for _, want := range []string{"is hung", "dump requested by the master", "goroutines:"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			if how == "busy task" && !strings.Contains(out, "respond") {
				t.Errorf("the dump lacks the stuck task's stack (respond):\n%s", out)
			}
		})
	}
}

// TestCrashLoop: a worker that fails at start is retried with back-off
// up to its cap, without spinning, and the log says why. The gaps are
// read from the log's timestamps, from each exit to the next start, so
// the test waits for seven starts rather than a fixed time, and a loaded
// machine can only lengthen what it checks from below.
func TestCrashLoop(t *testing.T) {
	t.Parallel() // mostly waiting out back-offs, which load can only lengthen
	const (
		backoff    = 50 * time.Millisecond
		backoffMax = 400 * time.Millisecond
		starts     = 7
	)
	p := startPool(t, poolConfig{Workers: 1, Crash: true, BackoffMs: int(backoff / time.Millisecond), BackoffMax: int(backoffMax / time.Millisecond)})
	began := time.Now()
	// 50, 100, 200, 400, 400, 400 ms (±20%) between the seven starts; a
	// spinning master would start hundreds in that time.
	for strings.Count(p.out.String(), "started worker") < starts {
		if time.Since(began) > 10*time.Second {
			t.Fatalf("fewer than %d starts in 10s with back-off %v doubling to %v:\n%s", starts, backoff, backoffMax, p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(began)
	p.signal(syscall.SIGTERM)
	p.wait(5 * time.Second)
	out := p.out.String()
	if !strings.Contains(out, "crash-looping") || !strings.Contains(out, "this worker fails on purpose") ||
		!strings.Contains(out, "exited with status 1") {
		t.Fatalf("log:\n%s", out)
	}
	gaps := backoffGaps(t, out)
	if len(gaps) < starts-1 {
		t.Fatalf("%d exit-to-start gaps in the log, want %d:\n%s", len(gaps), starts-1, out)
	}
	want := backoff
	for i, gap := range gaps[:starts-1] {
		// At least the back-off less its jitter; at most twice the cap,
		// which a back-off that went on doubling (800 ms, 1.6 s) exceeds.
		if gap < want*8/10 || gap > 2*backoffMax {
			t.Errorf("gap %d (exit to next start): %v, want %v ±20%%", i+1, gap, want)
		}
		want = min(2*want, backoffMax)
	}
	st := p.cmd.ProcessState
	cpu := st.UserTime() + st.SystemTime()
	if cpu > 500*time.Millisecond {
		t.Errorf("the master used %v of CPU in %v of crash loop", cpu, took)
	}
	t.Logf("%d starts in %v, gaps %v; master CPU %v", starts, took.Round(time.Millisecond), gaps[:starts-1], cpu)
}

// logAt returns the time of the first line of a pool's log, at or after
// from, that contains s; the test fails if there is none. The log's
// stamps are times of day (log.Lmicroseconds), on from's day.
func logAt(t *testing.T, out, s string, from time.Time) time.Time {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		stamp, msg, ok := strings.Cut(line, " ")
		if !ok || !strings.Contains(msg, s) {
			continue
		}
		tod, err := time.ParseInLocation("15:04:05.000000", stamp, from.Location())
		if err != nil {
			continue
		}
		at := time.Date(from.Year(), from.Month(), from.Day(), tod.Hour(), tod.Minute(), tod.Second(), tod.Nanosecond(), from.Location())
		if !at.Before(from.Truncate(time.Microsecond)) {
			return at
		}
	}
	t.Fatalf("no log line with %q since %v:\n%s", s, from.Format("15:04:05.000000"), out)
	return time.Time{}
}

// backoffGaps reads the master's log (log.Lmicroseconds) and returns the
// time from each worker's exit to the next worker's start.
func backoffGaps(t *testing.T, out string) []time.Duration {
	t.Helper()
	var gaps []time.Duration
	var exited time.Time
	for _, line := range strings.Split(out, "\n") {
		stamp, msg, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(msg, "prefork: ") {
			continue
		}
		at, err := time.Parse("15:04:05.000000", stamp)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(msg, "exited with status"):
			exited = at
		case strings.Contains(msg, "started worker") && !exited.IsZero():
			gaps = append(gaps, at.Sub(exited))
			exited = time.Time{}
		}
	}
	return gaps
}

// TestRecycleByConns: workers recycle after about 200 connections each,
// surge before retire: the ready count never drops below 2, read from
// the control socket throughout.
func TestRecycleByConns(t *testing.T) {
	need(t, "ab")
	p := startPool(t, poolConfig{Workers: 2, MaxConns: 200})
	first := pids(p.status())
	stop := make(chan struct{})
	minReady := make(chan int, 1)
	go func() {
		low := 2
		for {
			select {
			case <-stop:
				minReady <- low
				return
			default:
			}
			if st, err := prefork.ReadStatus(p.control); err == nil {
				low = min(low, st.Ready)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	// ab without -k: one connection per request.
	out := runBackground(t, "ab", "-n", "2000", "-c", "10", "http://"+p.addr+"/").wait(t, 30*time.Second)
	close(stop)
	low := <-minReady
	if !strings.Contains(out, "Failed requests:        0") || !strings.Contains(out, "Complete requests:      2000") {
		t.Errorf("ab:\n%s", out)
	}
	if low < 2 {
		t.Errorf("ready workers dropped to %d during recycling", low)
	}
	// Every worker past its limit (200 ± 10%) is replaced in the end; how
	// many recycles that takes depends on how fast workers start (-race).
	st := p.waitFor("workers past their limit recycled", 15*time.Second, func(st *prefork.Status) bool {
		if st.Ready != 2 || len(st.Processes) != 2 {
			return false
		}
		for _, w := range st.Processes {
			if w.Conns > 220 {
				return false
			}
		}
		return true
	})
	n := strings.Count(p.out.String(), "recycle: served")
	if n < 2 {
		t.Errorf("%d recycles for 2000 connections at ~200 each", n)
	}
	for pid := range pids(st) {
		if first[pid] {
			t.Errorf("worker %d was never recycled", pid)
		}
	}
	t.Logf("%d recycles by connections, ready never below %d", n, low)
}

// TestRecycleByRSS: a worker that leaks on purpose is recycled once its
// resident set passes MaxRSS; capacity stays at 2.
func TestRecycleByRSS(t *testing.T) {
	p := startPool(t, poolConfig{Workers: 2, MaxRSS: 48 << 20, LeakKiB: 1024})
	low := 2
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		get(t, p.addr, "/")
		if i%10 == 0 {
			low = min(low, p.status().Ready)
		}
		if strings.Contains(p.out.String(), "recycle: resident set") {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !strings.Contains(p.out.String(), "recycle: resident set") {
		t.Fatalf("no recycle by RSS:\n%s", p.out.String())
	}
	p.waitReady(2, 5*time.Second)
	if low < 2 {
		t.Errorf("ready workers dropped to %d", low)
	}
}

// TestPrivilegeDrop: started as root, the workers run as nobody and
// serve a port below 1024 that the master bound.
func TestPrivilegeDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: binding a port below 1024 and dropping to nobody need root")
	}
	var addr string
	for port := 1000; port > 900; port-- {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			addr = l.Addr().String()
			l.Close()
			break
		}
	}
	if addr == "" {
		t.Skip("skipped: no free port in 901-1000")
	}
	p := startPool(t, poolConfig{Workers: 2, Addr: addr, User: "nobody"})
	if got := get(t, addr, "/"); got != "ok\n" {
		t.Fatalf("GET: %q", got)
	}
	for _, w := range p.status().Processes {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.PID))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "Gid:") {
				if f := strings.Fields(line); len(f) != 5 || f[1] != "65534" || f[2] != "65534" || f[3] != "65534" {
					t.Errorf("worker %d: %s, want nobody everywhere", w.PID, line)
				}
			}
		}
	}
}

// TestFairness: 4 workers, 10,000 connections: with reuseport slots the
// busiest worker takes at most 1.5 times the connections of the least
// busy; the shared socket's figure is reported.
func TestFairness(t *testing.T) {
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "reuseport", true: "shared"}[shared]
		t.Run(name, func(t *testing.T) {
			p := startPool(t, poolConfig{Workers: 4, Shared: shared})
			const n = 10000
			for i := 0; i < n; i += 100 {
				var cs []net.Conn
				for range 100 {
					c, err := net.Dial("tcp", p.addr)
					if err != nil {
						t.Fatal(err)
					}
					cs = append(cs, c)
				}
				for _, c := range cs {
					c.Close()
				}
			}
			st := p.waitFor("all connections counted", 10*time.Second, func(st *prefork.Status) bool {
				var sum uint64
				for _, w := range st.Processes {
					sum += w.Conns
				}
				return sum == n
			})
			lo, hi := uint64(n), uint64(0)
			var per []string
			for _, w := range st.Processes {
				lo, hi = min(lo, w.Conns), max(hi, w.Conns)
				per = append(per, strconv.FormatUint(w.Conns, 10))
			}
			ratio := float64(hi) / float64(max(lo, 1))
			t.Logf("%s: connections per worker %s: max/min %.2f", name, strings.Join(per, ", "), ratio)
			if !shared && ratio > 1.5 {
				t.Errorf("max/min %.2f > 1.5 with reuseport slots", ratio)
			}
		})
	}
}

// TestControl: the control socket is mode 0600 and answers status,
// reload, scale and stop; sd_notify gets READY, WATCHDOG (WATCHDOG_USEC
// set), RELOADING and STOPPING.
func TestControl(t *testing.T) {
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify.sock")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := nc.ReadFromUnix(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	p := startPool(t, poolConfig{Workers: 2}, "NOTIFY_SOCKET="+notify, "WATCHDOG_USEC=200000")
	fi, err := os.Stat(p.control)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("control socket mode %v, want a socket of mode 0600", fi.Mode())
	}
	expectNotify(t, msgs, "READY=1")
	expectNotify(t, msgs, "WATCHDOG=1")
	expectNotify(t, msgs, "WATCHDOG=1")
	if _, err := prefork.Control(p.control, "reload"); err != nil {
		t.Fatal(err)
	}
	expectNotify(t, msgs, "RELOADING=1")
	expectNotify(t, msgs, "READY=1")
	p.waitFor("generation 2", 5*time.Second, func(st *prefork.Status) bool { return st.Generation == 2 && !st.Reloading })
	if _, err := prefork.Control(p.control, "scale 3"); err != nil {
		t.Fatal(err)
	}
	p.waitReady(3, 5*time.Second)
	if _, err := prefork.Control(p.control, "scale 1"); err != nil {
		t.Fatal(err)
	}
	p.waitReady(1, 10*time.Second)
	if _, err := prefork.Control(p.control, "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("bad command: %v", err)
	}
	if _, err := prefork.Control(p.control, "stop"); err != nil {
		t.Fatal(err)
	}
	expectNotify(t, msgs, "STOPPING=1")
	if err := p.wait(10 * time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
	if _, err := os.Stat(p.control); !os.IsNotExist(err) {
		t.Errorf("control socket left behind after the stop: %v", err)
	}
}

// TestCoalescedSignals: a signal is never lost. SIGHUPs the kernel
// merges still reload; a SIGHUP that arrives while a reload runs makes
// another one after it; a SIGTERM right behind a SIGHUP stops the pool.
func TestCoalescedSignals(t *testing.T) {
	p := startPool(t, poolConfig{Workers: 2})
	settled := func(gen int) func(st *prefork.Status) bool {
		return func(st *prefork.Status) bool {
			if st.Generation < gen || st.Reloading || st.Ready != 2 || len(st.Processes) != 2 {
				return false
			}
			for _, w := range st.Processes {
				if w.Generation != st.Generation {
					return false
				}
			}
			return true
		}
	}
	p.signal(syscall.SIGHUP)
	p.signal(syscall.SIGHUP) // may merge with the first: at least one reload
	st := p.waitFor("a reload", 10*time.Second, settled(2))
	gen := st.Generation
	p.signal(syscall.SIGHUP)
	// The next one only once the master has taken this one: two SIGHUPs
	// pending at once are one to the kernel, as the first two may have
	// been. 5 ms apart was not enough on a loaded machine: the master
	// had not run in between, and made one reload of them.
	p.waitFor("the third SIGHUP taken", 10*time.Second, func(st *prefork.Status) bool { return st.Generation > gen })
	p.signal(syscall.SIGHUP) // during the reload or after it: one more reload either way
	p.waitFor("two more generations", 10*time.Second, settled(gen+2))
	p.signal(syscall.SIGHUP)
	p.signal(syscall.SIGTERM)
	if err := p.wait(10 * time.Second); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestAdaptive: with LoadConns and 5 connections per worker, 12 idle
// connections grow the pool to its maximum of 3; closing them shrinks it
// back to 1.
func TestAdaptive(t *testing.T) {
	t.Parallel() // mostly waiting for the pool to scale
	p := startPool(t, poolConfig{Workers: 1, Min: 1, Max: 3, ConnsPerW: 5, MinSpare: 0.5, MaxSpare: 1.5})
	var cs []net.Conn
	for range 12 {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
		time.Sleep(20 * time.Millisecond)
	}
	p.waitReady(3, 10*time.Second)
	for _, c := range cs {
		c.Close()
	}
	p.waitReady(1, 15*time.Second)
}

// stop stops process pid (SIGSTOP) and waits until every one of its
// threads is stopped: kill returns before they are, and the master can
// only see a silence that has begun. If the test fails, it says what
// became of the process: a stopped worker let go by a SIGCONT that was
// not the master's goes on beating, and the master rightly sees no hang
// (TestHang/SIGSTOP failed once so, under GOMAXPROCS=1, both workers
// ready and beating 15 s after the SIGSTOP, with no SIGCONT of the
// master's logged). The signal goes through a pidfd, which never reaches
// a process that reused pid.
func stop(t *testing.T, pid int) {
	t.Helper()
	proc := process(t, pid)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("process %d, SIGSTOPped by the test: %s; its threads: %s", pid, proctest.Stat(pid), threadStates(pid))
		}
	})
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP to %d: %v", pid, err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		states := threadStates(pid)
		if states != "" && strings.Trim(states, "T") == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d: threads in states %q 5 s after SIGSTOP, want all stopped (T)", pid, states)
		}
	}
}

// threadStates returns the state letter of each thread of process pid
// (/proc/PID/task/*/stat), or "" if there are none to read.
func threadStates(pid int) string {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, task := range tasks {
		st, err := os.ReadFile(dir + "/" + task.Name() + "/stat")
		if err != nil {
			continue // a thread that ended meanwhile
		}
		// The state follows the command's closing parenthesis.
		if i := bytes.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) {
			b.WriteByte(st[i+2])
		}
	}
	return b.String()
}
