package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
	"github.com/coopgo/coop/internal/proctest"
)

// A realClient is an IRC client program nobody here wrote, driven by the
// test: it joins a channel, says things, and its screen, output file or
// standard output is searched for what others said.
type realClient interface {
	name() string // its nick
	join(ch string)
	say(ch, text string)
	// saw reports whether text has shown up in the client's output.
	saw(text string) bool
	output() string
}

// waitSaw waits up to ten seconds for text to show up in c's output.
func waitSaw(t *testing.T, c realClient, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.saw(text) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q; its output:\n%s", c.name(), text, c.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectFrom reads u's lines until one equal to want, failing on
// anything but the joins and mode changes a real client causes.
func (u *user) expectFrom(want string) {
	u.t.Helper()
	for {
		l := u.line()
		if l == want {
			return
		}
		if !strings.Contains(l, " JOIN ") && !strings.Contains(l, " MODE ") {
			u.t.Fatalf("%s: got %q while waiting for %q", u.nick, l, want)
		}
	}
}

// --- irssi, driven through tmux ---

var tmuxServers atomic.Int64

type irssi struct {
	t      *testing.T
	nick   string
	socket string // tmux -L: a tmux server of the test's own
}

func startIrssi(t *testing.T, addr, nick string) *irssi {
	t.Helper()
	exampletest.Need(t, "irssi", "tmux")
	host, port, _ := net.SplitHostPort(addr)
	home := t.TempDir()
	// irssi paces its own commands (cmd_queue_speed 2200 ms after the
	// first cmds_max_at_once 5), and its connect burst used that up: the
	// test's /join then waited 5 s and its /msg 2.5 s more, in every
	// test. The server's flood control is another test's (TestFlood).
	config := `settings = { "irc/core" = { cmd_queue_speed = "0msec"; cmds_max_at_once = "100"; }; };` + "\n"
	if err := os.WriteFile(filepath.Join(home, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// A tmux server of its own for every irssi: a killed one may still
	// be exiting when the next starts.
	c := &irssi{t: t, nick: nick, socket: fmt.Sprintf("coop-chat-test-%d-%d", os.Getpid(), tmuxServers.Add(1))}
	// irssi in a detached tmux session: the terminal program a person
	// uses, on a terminal of 200×50.
	cmd := fmt.Sprintf("irssi --home=%s -c %s -p %s -n %s", home, host, port, nick)
	if out, err := c.tmux("new-session", "-d", "-s", "irc", "-x", "200", "-y", "50", cmd); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	// kill-server only signals irssi: it may still be writing into its
	// home as it exits, and the home's removal (an earlier cleanup) would
	// then fail with "directory not empty". Wait for it to have exited.
	pid := 0
	if out, err := c.tmux("display-message", "-p", "-t", "irc", "#{pane_pid}"); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(out))
	}
	t.Cleanup(func() {
		c.tmux("kill-server")
		if pid <= 0 {
			return
		}
		killed := false
		for end := time.Now().Add(5 * time.Second); proctest.Running(pid); time.Sleep(10 * time.Millisecond) {
			if time.Now().Before(end) {
				continue
			}
			if killed {
				t.Errorf("irssi (pid %d) still running 5 s after SIGKILL: %s", pid, proctest.Stat(pid))
				return
			}
			syscall.Kill(pid, syscall.SIGKILL)
			killed, end = true, time.Now().Add(5*time.Second)
		}
	})
	return c
}

func (c *irssi) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-L", c.socket}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *irssi) name() string { return c.nick }

func (c *irssi) keys(line string) {
	c.t.Helper()
	if out, err := c.tmux("send-keys", "-t", "irc", "-l", line); err != nil {
		c.t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
	if out, err := c.tmux("send-keys", "-t", "irc", "Enter"); err != nil {
		c.t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
}

func (c *irssi) join(ch string) { c.keys("/join " + ch) }

func (c *irssi) say(ch, text string) { c.keys("/msg " + ch + " " + text) }

// output is what the active window shows now.
func (c *irssi) output() string {
	out, _ := c.tmux("capture-pane", "-p", "-t", "irc")
	return out
}

func (c *irssi) saw(text string) bool { return strings.Contains(c.output(), text) }

// --- ii, driven through its FIFOs and files ---

type ii struct {
	t    *testing.T
	nick string
	dir  string // ii's tree: <dir>/<host>/in, out, <channel>/in, out
	cmd  *exec.Cmd
}

func startII(t *testing.T, addr, nick string) *ii {
	t.Helper()
	exampletest.Need(t, "ii")
	host, port, _ := net.SplitHostPort(addr)
	c := &ii{t: t, nick: nick, dir: filepath.Join(t.TempDir(), "irc")}
	c.cmd = exec.Command("ii", "-s", host, "-p", port, "-n", nick, "-i", c.dir, "-f", nick+" Real")
	c.cmd.Stdout, c.cmd.Stderr = io.Discard, io.Discard
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	c.dir = filepath.Join(c.dir, host)
	return c
}

func (c *ii) name() string { return c.nick }

// write writes a line to one of ii's FIFOs, once ii has made it.
func (c *ii) write(fifo, line string) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Non-blocking: a FIFO nobody reads yet fails with ENXIO.
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			_, err = io.WriteString(f, line+"\n")
			f.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("ii: write %q to %s: %v", line, fifo, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *ii) join(ch string) { c.write(filepath.Join(c.dir, "in"), "/j "+ch) }

func (c *ii) say(ch, text string) { c.write(filepath.Join(c.dir, ch, "in"), text) }

// output is every out file ii has written.
func (c *ii) output() string {
	var b strings.Builder
	filepath.Walk(c.dir, func(path string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == "out" {
			data, _ := os.ReadFile(path)
			fmt.Fprintf(&b, "== %s\n%s", path, data)
		}
		return nil
	})
	return b.String()
}

func (c *ii) saw(text string) bool { return strings.Contains(c.output(), text) }

// --- sic, driven through its standard input and output ---

type sic struct {
	t    *testing.T
	nick string
	in   io.WriteCloser
	mu   sync.Mutex
	out  strings.Builder
}

func startSic(t *testing.T, addr, nick string) *sic {
	t.Helper()
	exampletest.Need(t, "sic")
	host, port, _ := net.SplitHostPort(addr)
	c := &sic{t: t, nick: nick}
	cmd := exec.Command("sic", "-h", host, "-p", port, "-n", nick)
	var err error
	if c.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.out.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *sic) name() string { return c.nick }

func (c *sic) line(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, s+"\n"); err != nil {
		c.t.Fatalf("sic: %v", err)
	}
}

func (c *sic) join(ch string) { c.line(":j " + ch) }

func (c *sic) say(ch, text string) { c.line(":m " + ch + " " + text) }

func (c *sic) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *sic) saw(text string) bool { return strings.Contains(c.output(), text) }

// talkWith checks a real client against a scripted user: the client
// registers (the welcome shows), joins the user's channel (the user sees
// the JOIN), receives the user's message, and its own message reaches
// the user.
func talkWith(t *testing.T, mode string, start func(t *testing.T, addr, nick string) realClient) {
	s := exampletest.Start(t, bin, "-mode", mode)
	obs := login(t, s.Addr, "obs")
	obs.join("#coop")
	c := start(t, s.Addr, "real")
	waitSaw(t, c, "Welcome to the Internet Relay Network real!")
	prefix := ":real!" + userOf(t, obs, "real") + "@127.0.0.1"
	c.join("#coop")
	obs.expectFrom(prefix + " JOIN #coop")
	obs.send("PRIVMSG #coop :hello real client")
	waitSaw(t, c, "hello real client")
	c.say("#coop", "hello from "+mode+" mode")
	obs.expectFrom(prefix + " PRIVMSG #coop :hello from " + mode + " mode")
}

// userOf asks the server (WHOIS) for the user name a client registered
// with: each program picks its own. It is called before the client joins
// a channel of u's, so that no line of the client's is skipped here.
func userOf(t *testing.T, u *user, nick string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		u.send("WHOIS " + nick)
		l := u.line()
		if f := strings.Fields(l); len(f) > 4 && f[1] == "311" {
			u.skipTo(":coop.chat 318 " + u.nick + " " + nick + " :End of WHOIS list")
			return f[4]
		}
		u.skipTo(":coop.chat 318 " + u.nick + " " + nick + " :End of WHOIS list")
		if time.Now().After(deadline) {
			t.Fatalf("%s never registered", nick)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIrssi, TestII, TestSic and TestInterop run in parallel with each
// other, after the package's other tests: they mostly wait on the
// clients' own pacing and exits, share nothing (a server, a tmux server,
// a home each) and keep no timing.
func TestIrssi(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, mode string) {
		talkWith(t, mode, func(t *testing.T, addr, nick string) realClient { return startIrssi(t, addr, nick) })
	})
}

func TestII(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, mode string) {
		talkWith(t, mode, func(t *testing.T, addr, nick string) realClient { return startII(t, addr, nick) })
	})
}

func TestSic(t *testing.T) {
	t.Parallel()
	modes(t, func(t *testing.T, mode string) {
		talkWith(t, mode, func(t *testing.T, addr, nick string) realClient { return startSic(t, addr, nick) })
	})
}

// TestInterop puts irssi, ii and sic in one channel: each one's message
// reaches the other two, through the server alone.
func TestInterop(t *testing.T) {
	t.Parallel()
	exampletest.Need(t, "irssi", "tmux", "ii", "sic")
	modes(t, func(t *testing.T, mode string) {
		s := exampletest.Start(t, bin, "-mode", mode)
		clients := []realClient{startIrssi(t, s.Addr, "irssi1"), startII(t, s.Addr, "ii1"), startSic(t, s.Addr, "sic1")}
		for _, c := range clients {
			waitSaw(t, c, "Welcome to the Internet Relay Network "+c.name()+"!")
		}
		// Every client joins and sees the others' joins, so that all
		// three are in before anyone talks.
		watch := login(t, s.Addr, "watch")
		watch.join("#mix")
		for _, c := range clients {
			c.join("#mix")
			for {
				l := watch.line()
				if strings.HasPrefix(l, ":"+c.name()+"!") && strings.HasSuffix(l, " JOIN #mix") {
					break
				}
			}
		}
		for i, c := range clients {
			c.say("#mix", "greetings "+strconv.Itoa(i)+" from "+c.name())
		}
		for i, from := range clients {
			for _, to := range clients {
				if to != from {
					waitSaw(t, to, "greetings "+strconv.Itoa(i)+" from "+from.name())
				}
			}
		}
	})
}
