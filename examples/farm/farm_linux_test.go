package farm

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coopgo/coop/examples/internal/exampletest"
	"github.com/coopgo/coop/internal/syncbuf"
	"github.com/coopgo/coop/internal/wrkout"
	"github.com/coopgo/coop/netio/prefork"
)

var long = flag.Bool("farm.long", false, "keep the farm under load for 20 s per scenario, as issue 13 states it, instead of a few seconds")

// The farm's addresses: 198.18.0.0/15 is set aside for benchmarking
// (RFC 2544); here it exists only inside the namespaces the test makes.
const (
	frontIP  = "198.18.0.2"
	clientIP = "198.18.0.100"
	port     = "8080"
	subnet   = "/24"
)

func hostIP(i int) string { return "198.18.0." + strconv.Itoa(11+i) }

// The front ends' health checks: every 100 ms, 2 failures take a host
// out, 2 successes put it back. A draining host answers its checks with
// 503 at once, so the front end takes it out within about 300 ms, well
// inside drainDelay. A check (and a connect) may take a second: a host
// that is only slow, on a machine busy with other tests, is not taken
// for dead.
const (
	checkInterval = 100 * time.Millisecond
	checkTimeout  = time.Second
	drainDelay    = time.Second
	conns         = 12 // wrk's connections
)

// TestFarm runs three hosts of examples/http (-workers 2, -proxy-protocol,
// -drain-delay) behind a real front end — HAProxy, then examples/proxy —
// in network namespaces of its own, with wrk in a client namespace, and
// checks what a farm needs of its servers: a rolling restart costs no
// request, a host whose link is cut is taken out with its losses bounded
// to the requests it held, and handlers see the client's address.
func TestFarm(t *testing.T) {
	needFarm(t)
	for _, front := range []string{"haproxy", "proxy"} {
		t.Run(front, func(t *testing.T) {
			f := newFarm(t)
			for i := range f.hosts {
				f.startHost(i)
			}
			f.startFront(front)
			t.Run("ip", f.testIP)
			t.Run("rolling-restart", f.testRollingRestart)
			t.Run("link-cut", f.testLinkCut)
		})
	}
}

// needFarm skips the test, with the reason, where the farm cannot be
// built: it needs root, the programs and network namespaces.
func needFarm(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: the farm test creates network namespaces, which needs root")
	}
	exampletest.Need(t, "ip", "haproxy", "wrk", "curl", "ss")
	if os.Getenv("COOP_TEST_EXEC") != "" {
		t.Skip("skipped under COOP_TEST_EXEC: the hosts would run emulated, too slow for health checks of 100 ms")
	}
	if testing.Short() {
		t.Skip("skipped in -short mode: it runs three hosts and a front end under load")
	}
	// Root is not always enough: a container may lack CAP_SYS_ADMIN or
	// CAP_NET_ADMIN, or mount /run read-only.
	probe := fmt.Sprintf("coopfarm-probe-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("skipped: this machine does not let the test create a network namespace (ip netns add: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("ip", "netns", "del", probe).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", probe, err, out)
	}
}

// A farm is the namespaces, the hosts and the front end of one run.
type farm struct {
	t      *testing.T
	prefix string // of the namespaces' names: unique to this run
	sw     string // the namespace holding the bridge
	front  string // the front end's namespace
	client string // wrk's and curl's
	hosts  []string
	procs  []*proc // the hosts' servers, by index
	fe     *proc   // the front end
	feName string  // "haproxy" or "proxy"
	dir    string
}

// newFarm creates the namespaces: a switch (a bridge), a front end, a
// client and three hosts, each with a veth pair to the bridge. Every
// namespace is deleted when the test ends, failed or not; the veths go
// with them. No address or interface is added outside them.
func newFarm(t *testing.T) *farm {
	t.Helper()
	var rnd [3]byte
	rand.Read(rnd[:])
	f := &farm{t: t, prefix: fmt.Sprintf("coopfarm-%d-%s-", os.Getpid(), hex.EncodeToString(rnd[:])), dir: t.TempDir()}
	f.sw = f.netns("sw")
	f.ip("-n", f.sw, "link", "add", "br0", "type", "bridge")
	f.ip("-n", f.sw, "link", "set", "br0", "up")
	f.front = f.node("front", 1, frontIP)
	f.client = f.node("client", 2, clientIP)
	for i := range 3 {
		f.hosts = append(f.hosts, f.node("h"+strconv.Itoa(i+1), 10+i, hostIP(i)))
	}
	f.procs = make([]*proc, len(f.hosts))
	return f
}

// netns creates a namespace and registers its deletion.
func (f *farm) netns(role string) string {
	f.t.Helper()
	name := f.prefix + role
	f.ip("netns", "add", name)
	f.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			f.t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

// node creates a namespace with eth0 (address addr) on the bridge, port
// p<n> of the switch.
func (f *farm) node(role string, n int, addr string) string {
	f.t.Helper()
	ns := f.netns(role)
	sport := "p" + strconv.Itoa(n)
	f.ip("-n", f.sw, "link", "add", sport, "type", "veth", "peer", "name", "eth0", "netns", ns)
	f.ip("-n", f.sw, "link", "set", sport, "master", "br0", "up")
	f.ip("-n", ns, "addr", "add", addr+subnet, "dev", "eth0")
	f.ip("-n", ns, "link", "set", "eth0", "up")
	f.ip("-n", ns, "link", "set", "lo", "up")
	return ns
}

// ip runs ip(8) with args; "-n ns" first runs it in namespace ns, from a
// thread there (see inNetns: ip's own -n gives it a mount namespace whose
// end, beside a busy loop, took up to 26 s after the link was cut).
func (f *farm) ip(args ...string) {
	f.t.Helper()
	cmdline := strings.Join(args, " ")
	var out []byte
	var err error
	run := func() error {
		out, err = exec.Command("ip", args...).CombinedOutput()
		return nil
	}
	if len(args) > 2 && args[0] == "-n" {
		ns := args[1]
		args = args[2:]
		if nerr := inNetns(ns, run); nerr != nil {
			err = nerr
		}
	} else {
		run()
	}
	if err != nil {
		f.t.Fatalf("ip %s: %v: %s", cmdline, err, out)
	}
}

// startHost starts examples/http on host i: two worker processes, PROXY
// headers accepted from the front end only, a drain of drainDelay on
// SIGTERM. It returns once the host accepts connections.
func (f *farm) startHost(i int) {
	f.t.Helper()
	addr := net.JoinHostPort(hostIP(i), port)
	// The control socket is a file: the test reads the pool's status
	// from outside the host's namespace.
	sock := filepath.Join(f.dir, fmt.Sprintf("h%d.sock", i+1))
	f.procs[i] = f.start(f.hosts[i], "h"+strconv.Itoa(i+1), httpBin,
		"-addr", addr, "-workers", "2", "-control", sock, "-proxy-protocol", "-proxy-trusted", frontIP+"/32",
		"-drain-delay", drainDelay.String(), "-grace", "3s")
	f.procs[i].quit = syscall.SIGQUIT // the pool's immediate stop: the test's end needs no drain
	f.waitListening(f.front, addr, f.procs[i])
	// The master's sockets accept before its workers are ready, and a
	// pool stopped while its workers start stops at once, not draining.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := prefork.ReadStatus(sock)
		if err == nil && st.Ready == 2 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("host %d: its 2 workers not ready within 15s (%+v, %v)\n%s", i+1, st, err, f.procs[i].output())
		}
	}
}

// startFront starts the front end: HAProxy or examples/proxy, the same
// checks (GET /healthz every 100 ms, fall 2, rise 2), PROXY v2 to the
// hosts.
func (f *farm) startFront(name string) {
	f.t.Helper()
	f.feName = name
	addr := net.JoinHostPort(frontIP, port)
	var backends []string
	for i := range f.hosts {
		backends = append(backends, net.JoinHostPort(hostIP(i), port))
	}
	switch name {
	case "haproxy":
		cfg := filepath.Join(f.dir, "haproxy.cfg")
		if err := os.WriteFile(cfg, []byte(haproxyConfig(addr, backends)), 0o644); err != nil {
			f.t.Fatal(err)
		}
		f.fe = f.start(f.front, "haproxy", "haproxy", "-db", "-f", cfg)
	case "proxy":
		f.fe = f.start(f.front, "proxy", proxyBin, "-addr", addr, "-backends", strings.Join(backends, ","),
			"-send-proxy", "-health-path", "/healthz", "-health-interval", checkInterval.String(),
			"-health-timeout", checkTimeout.String(), "-fall", "2", "-rise", "2",
			"-dial-timeout", checkTimeout.String(), "-shutdown-sessions")
	}
	f.waitListening(f.client, addr, f.fe)
}

// haproxyConfig is the front end as the README shows it: TCP mode, PROXY
// v2 to the hosts (and on the checks), an HTTP check of /healthz. A
// host that drains answers 503 and is taken out while it still serves;
// its connections end themselves (each closes after its next response).
// A host that stops answering holds its connections: "timeout server"
// ends them (shutdown-sessions would too, but would also cut the
// draining host's last responses). A connect that fails is retried on
// another host.
func haproxyConfig(addr string, backends []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	maxconn 4096
defaults
	mode tcp
	timeout connect %[2]dms
	timeout client 30s
	timeout server 2s
	timeout check %[2]dms
	retries 1
	option redispatch
frontend fe
	bind %[1]s
	default_backend farm
backend farm
	balance roundrobin
	option httpchk GET /healthz
	default-server check inter %[3]dms fall 2 rise 2 send-proxy-v2 check-send-proxy
`, addr, checkTimeout.Milliseconds(), checkInterval.Milliseconds())
	for i, be := range backends {
		fmt.Fprintf(&b, "\tserver h%d %s\n", i+1, be)
	}
	return b.String()
}

// upLog and downLog are the front end's log line for host i going in and
// out of rotation.
func (f *farm) upLog(i int) string {
	if f.feName == "haproxy" {
		return fmt.Sprintf("Server farm/h%d is UP", i+1)
	}
	return fmt.Sprintf("backend %s up", net.JoinHostPort(hostIP(i), port))
}

func (f *farm) downLog(i int) string {
	if f.feName == "haproxy" {
		return fmt.Sprintf("Server farm/h%d is DOWN", i+1)
	}
	return fmt.Sprintf("backend %s down", net.JoinHostPort(hostIP(i), port))
}

// waitLog waits until the front end has logged line more than n times.
func (f *farm) waitLog(line string, n int) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if strings.Count(f.fe.output(), line) >= n {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the front end did not log %q %d time(s) within 10s:\n%s", line, n, f.fe.output())
		}
	}
}

// testIP: /ip, the client's address as the host's handler sees it,
// equals the address curl has in the client namespace, through the
// front end, on every host.
func (f *farm) testIP(t *testing.T) {
	url := "http://" + net.JoinHostPort(frontIP, port) + "/ip"
	for range 2 * len(f.hosts) {
		out, err := f.run(10*time.Second, f.client, "curl", "-sS", "--max-time", "5", "-w", "%{local_ip}:%{local_port}", url)
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
		body, local, _ := strings.Cut(out, "\n")
		if body != local || !strings.HasPrefix(local, clientIP+":") {
			t.Errorf("/ip through %s: %q; curl's own address is %q", f.feName, body, local)
		}
	}
}

// testRollingRestart restarts the hosts one after the other under wrk:
// SIGTERM (the host drains: /healthz fails, each connection closes after
// its next response, then it stops), a clean exit, a start, and the
// front end putting it back, before the next. Not one request may fail.
func (f *farm) testRollingRestart(t *testing.T) {
	w := f.startWrk(t)
	start := time.Now()
	time.Sleep(500 * time.Millisecond) // the load is on
	rounds := 0
	for rounds == 0 || (*long && time.Since(start) < 20*time.Second) {
		rounds++
		for i := range f.hosts {
			ups := strings.Count(f.fe.output(), f.upLog(i))
			downs := strings.Count(f.fe.output(), f.downLog(i))
			old := f.procs[i]
			if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := old.wait(drainDelay + 10*time.Second); err != nil {
				t.Fatalf("host %d after SIGTERM: %v\n%s", i+1, err, old.output())
			}
			if strings.Count(f.fe.output(), f.downLog(i)) == downs {
				t.Errorf("host %d stopped before the front end took it out:\n%s", i+1, f.fe.output())
			}
			f.startHost(i)
			f.waitLog(f.upLog(i), ups+1)
		}
	}
	time.Sleep(500 * time.Millisecond) // load on the last host restarted
	st := w.stop(t)
	t.Logf("%s: %d rolling restart(s) of %d hosts in %v: %d requests, %d failed", f.feName, rounds, len(f.hosts),
		time.Since(start).Round(time.Millisecond), st.Requests, st.Failed())
	if st.Failed() != 0 || st.Requests == 0 {
		t.Errorf("rolling restart behind %s: %d requests, %d failed (non-2xx %d, connect %d, read %d, write %d, timeout %d); want none failed\n%s",
			f.feName, st.Requests, st.Failed(), st.Non2xx, st.Connect, st.Read, st.Write, st.Timeout, st.out)
	}
}

// testLinkCut cuts host 2's link under wrk: the front end takes it out,
// and what fails is bounded by the connections the host held at the cut
// (one request in flight each): new connections go elsewhere.
func (f *farm) testLinkCut(t *testing.T) {
	const victim = 1
	w := f.startWrk(t)
	time.Sleep(500 * time.Millisecond)
	held := f.established(t, f.hosts[victim])
	downs := strings.Count(f.fe.output(), f.downLog(victim))
	cut := time.Now()
	f.ip("-n", f.hosts[victim], "link", "set", "eth0", "down")
	f.waitLog(f.downLog(victim), downs+1)
	out := time.Since(cut)
	rest := 2 * time.Second
	if *long {
		rest = 20*time.Second - out
	}
	time.Sleep(rest)
	st := w.stop(t)
	t.Logf("%s: host 2's link cut, taken out after %v; it held %d of wrk's %d connections; %d requests, %d failed (read %d, write %d, timeout %d, connect %d, non-2xx %d)",
		f.feName, out.Round(time.Millisecond), held, conns, st.Requests, st.Failed(), st.Read, st.Write, st.Timeout, st.Connect, st.Non2xx)
	if st.Failed() > held {
		t.Errorf("link cut behind %s: %d requests failed, more than the %d connections host 2 held\n%s", f.feName, st.Failed(), held, st.out)
	}
	if st.Requests < 100 {
		t.Errorf("link cut behind %s: only %d requests served\n%s", f.feName, st.Requests, st.out)
	}
}

// established counts the TCP connections established to the server
// port in namespace ns: the front end's, which carry wrk's.
func (f *farm) established(t *testing.T, ns string) int {
	t.Helper()
	out, err := f.run(5*time.Second, ns, "ss", "-Htn", "state", "established", "( sport = :"+port+" )")
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	return strings.Count(out, "\n")
}

// A proc is a process the test started in a namespace.
type proc struct {
	cmd  *exec.Cmd
	out  syncbuf.Buffer
	done chan error
	quit syscall.Signal // what stops it at the end of the test: SIGTERM unless set
}

// start runs bin with args in namespace ns, and stops it (SIGTERM, then
// SIGKILL) when the test ends; it dies with the test process too.
func (f *farm) start(ns, name, bin string, args ...string) *proc {
	f.t.Helper()
	p := &proc{done: make(chan error, 1), quit: syscall.SIGTERM}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := inNetns(ns, p.cmd.Start); err != nil {
		f.t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t := f.t
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) output() string { return p.out.String() }

// wait waits for the process to exit by itself and returns its status.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		return fmt.Errorf("did not exit within %v", timeout)
	}
}

// stop ends the process if it still runs: p.quit, SIGKILL 10 s later.
func (p *proc) stop() error {
	select {
	case err := <-p.done:
		p.done <- err
		return nil // exited already, its status checked where it mattered
	default:
	}
	p.cmd.Process.Signal(p.quit)
	select {
	case err := <-p.done:
		p.done <- err
		return nil
	case <-time.After(10 * time.Second):
	}
	p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
	return fmt.Errorf("did not exit within 10s of %v; killed", p.quit)
}

// waitListening waits until addr accepts a connection made from
// namespace ns.
func (f *farm) waitListening(ns, addr string, p *proc) {
	f.t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := dialIn(ns, addr)
		if err == nil {
			return
		}
		select {
		case err := <-p.done:
			p.done <- err
			f.t.Fatalf("exited before listening on %s: %v\n%s", addr, err, p.output())
		default:
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s not listening within 15s: %v\n%s", addr, err, p.output())
		}
	}
}

// dialIn connects to addr from namespace ns and closes the connection.
func dialIn(ns, addr string) error {
	return inNetns(ns, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// inNetns runs fn on a thread that joined namespace ns, and then returns
// the thread to the namespace it came from. A socket fn makes is in ns,
// and so is a program it starts: a child gets the network namespace of
// the thread that forked it.
//
// Programs start this way rather than under "ip netns exec", which gives
// each a mount namespace of its own (to mount ns's /sys): when the last
// process of a mount namespace exits, the kernel waits for an expedited
// RCU grace period (synchronize_rcu_expedited, from free_nsproxy), and on
// the 2 vCPUs beside a busy loop that wait took over 7 s: ss had printed
// its answer and was still exiting when the test's 5 s timeout killed it
// (2 failures in 3 runs of the farm test). Hosts, wrk and curl exit under
// timeouts too.
//
// The thread must not end locked (it would be thrown away, and the
// processes it forked, with their Pdeathsig, killed): if it cannot return
// to its namespace, inNetns fails.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		const self = "/proc/thread-self/ns/net"
		home, err := unix.Open(self, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- &os.PathError{Op: "open", Path: self, Err: err} // a bare errno says nothing of which
			return
		}
		defer unix.Close(home)
		path := filepath.Join("/run/netns", ns)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- &os.PathError{Op: "open", Path: path, Err: err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		err = fn()
		if berr := unix.Setns(home, unix.CLONE_NEWNET); berr != nil {
			// Left locked: the thread, in ns still, ends with the
			// goroutine.
			errc <- fmt.Errorf("back from %s: %w (after %v)", ns, berr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// run runs a program in namespace ns with a timeout.
func (f *farm) run(timeout time.Duration, ns, name string, args ...string) (out string, err error) {
	if nerr := inNetns(ns, func() error {
		out, err = exampletest.RunErr(timeout, nil, name, args...)
		return nil
	}); nerr != nil {
		return "", nerr
	}
	return out, err
}

// wrk is a wrk run in the client namespace, through the front end,
// until stopped.
type wrk struct{ p *proc }

type wrkStats struct {
	wrkout.Stats
	out string
}

// startWrk starts wrk with conns connections for up to two minutes; stop
// ends it (SIGINT: wrk reports what it did so far).
func (f *farm) startWrk(t *testing.T) *wrk {
	t.Helper()
	url := "http://" + net.JoinHostPort(frontIP, port) + "/"
	return &wrk{f.start(f.client, "wrk", "wrk", "-t1", "-c"+strconv.Itoa(conns), "-d120s", "--timeout", "5s", url)}
}

func (w *wrk) stop(t *testing.T) wrkStats {
	t.Helper()
	w.p.cmd.Process.Signal(syscall.SIGINT)
	if err := w.p.wait(10 * time.Second); err != nil {
		t.Fatalf("wrk: %v\n%s", err, w.p.output())
	}
	out := w.p.output()
	st, err := wrkout.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	return wrkStats{st, out}
}
