package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
)

var bin string

func TestMain(m *testing.M) { exampletest.Main(m, map[string]*string{".": &bin}) }

// modes runs a test against the server in each of its modes.
func modes(t *testing.T, f func(t *testing.T, mode string)) {
	for _, mode := range []string{"task", "ready"} {
		t.Run(mode, func(t *testing.T) { f(t, mode) })
	}
}

// start runs the server in mode with args, flood control off unless args
// set it.
func start(t *testing.T, mode string, args ...string) *exampletest.Server {
	t.Helper()
	return exampletest.Start(t, bin, append([]string{"-mode", mode, "-flood-penalty", "0"}, args...)...)
}

// A user is a scripted IRC client.
type user struct {
	t    testing.TB
	nick string
	c    net.Conn
	r    *bufio.Reader
}

func connect(t testing.TB, addr string) *user {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return &user{t: t, c: c, r: bufio.NewReader(c), nick: "*"}
}

// login connects and registers as nick, and reads the welcome burst up
// to the end of the MOTD.
func login(t testing.TB, addr, nick string) *user {
	t.Helper()
	u := connect(t, addr)
	u.send("NICK " + nick)
	u.send("USER " + nick + " 0 * :" + nick + " Real")
	u.expect(":coop.chat 001 " + nick + " :Welcome to the Internet Relay Network " + nick + "!" + nick + "@127.0.0.1")
	u.nick = nick
	u.skipTo(":coop.chat 376 " + nick + " :End of MOTD command")
	return u
}

func (u *user) send(line string) {
	u.t.Helper()
	if _, err := io.WriteString(u.c, line+"\r\n"); err != nil {
		u.t.Fatalf("%s: send %q: %v", u.nick, line, err)
	}
}

// line reads one line, which must end with CR LF and fit in 512 bytes.
func (u *user) line() string {
	u.t.Helper()
	l, err := u.r.ReadString('\n')
	if err != nil {
		u.t.Fatalf("%s: read: %v (after %q)", u.nick, err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		u.t.Fatalf("%s: line %q does not end with CR LF", u.nick, l)
	}
	if len(l) > 512 {
		u.t.Fatalf("%s: line of %d bytes: %q", u.nick, len(l), l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (u *user) expect(want string) {
	u.t.Helper()
	if got := u.line(); got != want {
		u.t.Fatalf("%s: got %q, want %q", u.nick, got, want)
	}
}

// skipTo reads lines until one equal to want.
func (u *user) skipTo(want string) []string {
	u.t.Helper()
	var skipped []string
	for {
		l := u.line()
		if l == want {
			return skipped
		}
		skipped = append(skipped, l)
	}
}

// join enters a channel and returns the names listed on arrival.
func (u *user) join(ch string) []string {
	u.t.Helper()
	u.send("JOIN " + ch)
	u.expect(":" + u.nick + "!" + u.nick + "@127.0.0.1 JOIN " + ch)
	var names []string
	for {
		l := u.line()
		if p := ":coop.chat 353 " + u.nick + " = " + ch + " :"; strings.HasPrefix(l, p) {
			names = append(names, strings.Fields(strings.TrimPrefix(l, p))...)
			continue
		}
		if l != ":coop.chat 366 "+u.nick+" "+ch+" :End of NAMES list" {
			u.t.Fatalf("%s: JOIN %s: unexpected %q", u.nick, ch, l)
		}
		return names
	}
}

// prefix is the user's nick!user@host.
func (u *user) prefix() string { return u.nick + "!" + u.nick + "@127.0.0.1" }

// expectEnd reads what is left and checks that the server closed the
// connection after a line with the prefix last.
func (u *user) expectEnd(last string) {
	u.t.Helper()
	var lines []string
	for {
		l, err := u.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				u.t.Fatalf("%s: not closed; read %q", u.nick, lines)
			}
			break
		}
		lines = append(lines, strings.TrimSuffix(l, "\r\n"))
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], last) {
		u.t.Fatalf("%s: lines before the close %q; want the last to start with %q", u.nick, lines, last)
	}
}

// goT is a testing.TB for a goroutine of a test: Fatal marks the test
// failed and ends the goroutine (FailNow is only for the test's own).
type goT struct{ testing.TB }

func (t goT) Fatal(args ...any) {
	t.TB.Helper()
	t.TB.Error(args...)
	runtime.Goexit()
}

func (t goT) Fatalf(format string, args ...any) {
	t.TB.Helper()
	t.TB.Errorf(format, args...)
	runtime.Goexit()
}

// rssOf returns a process's resident set size from /proc (Linux).
func rssOf(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
