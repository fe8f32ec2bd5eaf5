//go:build linux

package irc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coopgo/coop/bench/internal/child"
	"github.com/coopgo/coop/bench/internal/harness"
)

// spec is one IRC server of the study.
type spec struct {
	name string
	what string // how it is configured, flood control included
	// tool, if set, is the installed program the server is, and how to
	// get it.
	tool, pkg string
	// find, if set, locates a server that no package provides and
	// returns its version, or why the row is skipped.
	find func(e *env) (version, skip string)
	// oper is what the senders send to lift per-client flood control
	// ("name password"), for a server that has no setting for it.
	oper string
	// dialRate, if not 0, paces the load generator's new connections
	// (see LoadConfig.DialRate).
	dialRate float64
	// start returns the server's command, not yet pinned or started.
	start func(e *env, addr string) (*exec.Cmd, error)
	// fullOnly rows run only when Plan.AllServers is set (-full).
	fullOnly bool
}

var specs = []spec{
	{name: "coop task", what: "examples/chat -mode task (a task per client), -flood-penalty 0 (flood control off), GOMAXPROCS=1",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.chat(addr, "task") }},
	{name: "coop ready", what: "examples/chat -mode ready (a task only while a client has input), -flood-penalty 0 (flood control off), GOMAXPROCS=1",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.chat(addr, "ready") }},
	{name: "coop task 5ms", fullOnly: true,
		what:  "examples/chat -mode task -flush-delay 5ms: the flusher holds output 5 ms after the first line waits, so that lines of several messages leave in one write per client, as InspIRCd's loop lets them pile up; a trade of latency for CPU, not chat's default; -flood-penalty 0, GOMAXPROCS=1",
		start: func(e *env, addr string) (*exec.Cmd, error) { return e.chat(addr, "task", "-flush-delay", "5ms") }},
	{name: "ngircd", tool: "ngircd", pkg: "ngircd", oper: "study study", dialRate: 250,
		what:  "single-threaded epoll loop; DNS, ident and PAM off, no connection limits; flood control lifted for the senders the only way ngircd allows: they OPER and set user mode +F (receivers send nothing after joining); its listen backlog is 10 (built in), so the load generator dials 250 clients a second (at 1,000 a second its queue overflowed and clients were reset)",
		start: (*env).ngircd},
	{name: "InspIRCd", tool: "inspircd", pkg: "inspircd",
		what:  "single-threaded event loop (epoll); no DNS lookups; connect class with fakelag off, threshold and commandrate 10^6 (flood control off), sendq 1 MiB",
		start: (*env).inspircd},
	{name: "Ergo", find: (*env).findErgo, start: (*env).ergo,
		what: "Go, a goroutine per client, GOMAXPROCS=1; no DNS or ident lookups, no TLS listener, no connection limits (ip-limits count and throttle off); fakelag off (flood control off); accounts, channel registration and languages off; in-memory history on as Ergo ships it (2,048 lines per channel, 256 per client); sendq 96 KiB (its default); its database in the study's temp dir"},
}

// env is what the servers of one Run share.
type env struct {
	tmp      string
	taskset  string
	chatBin  string
	buildErr error
	versions map[string]string
	// ergoGiven is the Ergo binary the study was given (Plan.Ergo), or "".
	ergoGiven string
	// ergoPath is the binary findErgo checked.
	ergoPath string
}

// chat returns the command of the chat example in mode.
func (e *env) chat(addr, mode string, extra ...string) (*exec.Cmd, error) {
	if e.buildErr != nil {
		return nil, e.buildErr
	}
	args := append([]string{"-addr", addr, "-mode", mode, "-flood-penalty", "0", "-maxclients", "100000",
		"-ping", "10m", "-register", "10m"}, extra...)
	cmd := child.External(e.chatBin, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return cmd, nil
}

// ngircd writes a configuration to a directory of its own. ngircd drops
// root for "nobody", so the directory is open to it.
func (e *env) ngircd(addr string) (*exec.Cmd, error) {
	dir, err := os.MkdirTemp(e.tmp, "ngircd-")
	if err != nil {
		return nil, err
	}
	os.Chmod(dir, 0o777)
	host, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf(`[Global]
	Name = irc.study
	Info = coop study
	AdminInfo1 = study
	AdminInfo2 = study
	AdminEMail = study@localhost
	Listen = %s
	Ports = %s
	PidFile = %s
	MotdPhrase = "study"
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 16
	PingTimeout = 600
	PongTimeout = 60
[Options]
	DNS = no
	Ident = no
	PAM = no
	NoticeBeforeRegistration = no
[Operator]
	Name = study
	Password = study
`, host, port, filepath.Join(dir, "ngircd.pid"))
	path := filepath.Join(dir, "ngircd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return child.External("ngircd", "-n", "-f", path), nil
}

// inspircd writes a configuration to a directory of its own. DNS is
// pointed at loopback and never used: the study sends nothing off this
// machine.
func (e *env) inspircd(addr string) (*exec.Cmd, error) {
	dir, err := os.MkdirTemp(e.tmp, "inspircd-")
	if err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf(`<config format="xml">
<server name="irc.study" description="coop study" network="study">
<admin name="study" nick="study" email="study@localhost">
<bind address="%[1]s" port="%[2]s" type="clients">
<path configdir="%[3]s" datadir="%[3]s" logdir="%[3]s" runtimedir="%[3]s">
<pid file="%[3]s/inspircd.pid">
<dns server="127.0.0.1" timeout="1">
<connect name="main" allow="*" maxchans="50" timeout="600" pingfreq="600" hardsendq="1048576" softsendq="1048576" recvq="65536" threshold="1000000" commandrate="1000000" fakelag="no" localmax="1000000" globalmax="1000000" useident="no" limit="1000000" resolvehostnames="no" modes="">
<performance nouserdns="yes" softlimit="30000" somaxconn="4096" clonesonconnect="no" quietbursts="yes">
<options prefixquit="Quit: " defaultmodes="nt">
<limits maxnick="30" maxchan="64">
<channels users="100" opers="100">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="%[3]s/ircd.log">
`, host, port, dir)
	path := filepath.Join(dir, "inspircd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	return child.External("inspircd", "--nofork", "--runasroot", "--config="+path), nil
}

// ErgoEnv names the environment variable that gives the study an Ergo
// binary when no -ergo flag does (Plan.Ergo).
const ErgoEnv = "COOP_BENCH_ERGO"

// ergoNotPackaged is why the study cannot install Ergo itself.
const ergoNotPackaged = "the Ergo IRC server is not packaged by Debian (Debian's \"ergo\" is a quantum chemistry program, never run by the study) and the Go module proxy refuses github.com/ergochat/ergo"

// findErgo checks the Ergo binary the study was given: it must be the
// Ergo IRC server, whose --version prints "ergo-<version>". The check runs
// in the study's temp dir, so that a wrong program (Debian's quantum
// chemistry ergo writes ergoscf.out where it runs) leaves nothing behind.
func (e *env) findErgo() (version, skip string) {
	if e.ergoGiven == "" {
		return "", "no Ergo binary given: " + ergoNotPackaged + "; build it from its source (github.com/ergochat/ergo, make build) and pass -ergo PATH or set " + ErgoEnv
	}
	path, err := exec.LookPath(e.ergoGiven)
	if err != nil {
		return "", fmt.Sprintf("-ergo %s: %v", e.ergoGiven, err)
	}
	v := firstLine(path, e.tmp, "--version")
	if !strings.HasPrefix(v, "ergo-") {
		return "", fmt.Sprintf("-ergo %s is not the Ergo IRC server: its --version printed %q, not ergo-<version>", e.ergoGiven, v)
	}
	e.ergoPath = path
	return v, ""
}

// ergo writes a configuration and an empty database (ergo initdb) to a
// directory of its own, where Ergo runs. The settings the study changes
// from Ergo's traditional.yaml are in the spec's what.
func (e *env) ergo(addr string) (*exec.Cmd, error) {
	dir, err := os.MkdirTemp(e.tmp, "ergo-")
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`network:
    name: study
server:
    name: irc.study
    listeners:
        %q: {}
    casemapping: ascii
    lookup-hostnames: false
    forward-confirm-hostnames: false
    check-ident: false
    max-sendq: 96k
    idle-timeouts:
        registration: 10m
        ping: 10m
        disconnect: 20m
    ip-limits:
        count: false
        throttle: false
accounts:
    authentication-enabled: false
    registration:
        enabled: false
channels:
    default-modes: +nt
    max-channels-per-client: 100
    registration:
        enabled: false
datastore:
    path: %[2]s/ircd.db
lock-file: %[2]s/ircd.lock
languages:
    enabled: false
logging:
    - method: stderr
      type: "* -userinput -useroutput"
      level: warn
limits:
    nicklen: 32
    identlen: 20
    realnamelen: 150
    channellen: 64
    awaylen: 390
    kicklen: 390
    topiclen: 390
    monitor-entries: 100
    whowas-entries: 100
    chan-list-modes: 100
    registration-messages: 1024
fakelag:
    enabled: false
history:
    enabled: true
    channel-length: 2048
    client-length: 256
    autoresize-window: 3d
    chathistory-maxmessages: 1000
    znc-maxmessages: 2048
`, addr, dir)
	path := filepath.Join(dir, "ircd.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	init := child.External(e.ergoPath, "initdb", "--conf", path, "--quiet")
	init.Dir = dir
	out := new(harness.Tail)
	init.Stdout, init.Stderr = out, out
	if err := child.Start(init); err != nil {
		return nil, fmt.Errorf("ergo initdb: %w", err)
	}
	timer := time.AfterFunc(30*time.Second, func() { child.Kill(init) })
	err = init.Wait()
	timer.Stop()
	child.Forget(init)
	if err != nil {
		return nil, fmt.Errorf("ergo initdb: %v: %s", err, out)
	}
	cmd := child.External(e.ergoPath, "run", "--conf", path, "--quiet")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return cmd, nil
}

// firstLine runs path with arg in dir (5 s at most) and returns the
// first line it prints.
func firstLine(path, dir, arg string) string {
	cmd := child.External(path, arg)
	cmd.Dir = dir
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if child.Start(cmd) != nil {
		return ""
	}
	timer := time.AfterFunc(5*time.Second, func() { child.Kill(cmd) })
	cmd.Wait()
	timer.Stop()
	child.Forget(cmd)
	line, _, _ := strings.Cut(strings.TrimSpace(b.String()), "\n")
	return strings.TrimSpace(line)
}

// build compiles examples/chat with the Go toolchain that runs the study.
func (e *env) build() error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("build: the study builds examples/chat with the go command: %w", err)
	}
	e.chatBin = filepath.Join(e.tmp, "chat")
	cmd := child.External(goBin, "build", "-o", e.chatBin, "github.com/coopgo/coop/examples/chat")
	out := new(harness.Tail) // run in the bench module, whose replace points at this repository
	cmd.Stdout, cmd.Stderr = out, out
	if err := child.Start(cmd); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	timer := time.AfterFunc(5*time.Minute, func() { child.Kill(cmd) })
	err = cmd.Wait()
	timer.Stop()
	child.Forget(cmd)
	if err != nil {
		return fmt.Errorf("build: go build examples/chat (run the study from the repository: go -C bench run .): %v: %s", err, out)
	}
	return nil
}

// pinned makes cmd run through taskset on cpu, so that every thread and
// process of the server has the mask from the start.
func pinned(cmd *exec.Cmd, taskset string, cpu int) {
	cmd.Args = append([]string{taskset, "-c", strconv.Itoa(cpu), cmd.Path}, cmd.Args[1:]...)
	cmd.Path = taskset
}
