package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coopgo/coop/examples/internal/exampletest"
)

var bin string

func TestMain(m *testing.M) { exampletest.Main(m, map[string]*string{".": &bin}) }

// A user is a scripted chat client.
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
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &user{t: t, c: c, r: bufio.NewReader(c)}
}

// login connects and takes a nick.
func login(t testing.TB, addr, nick string) *user {
	t.Helper()
	u := connect(t, addr)
	u.nick = nick
	u.send("NICK " + nick)
	u.expect("001 " + nick + " :Welcome to coop chat, " + nick)
	return u
}

func (u *user) send(line string) {
	u.t.Helper()
	if _, err := io.WriteString(u.c, line+"\r\n"); err != nil {
		u.t.Fatalf("%s: send %q: %v", u.nick, line, err)
	}
}

func (u *user) line() string {
	u.t.Helper()
	l, err := u.r.ReadString('\n')
	if err != nil {
		u.t.Fatalf("%s: read: %v (after %q)", u.nick, err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		u.t.Fatalf("%s: line %q does not end with CRLF", u.nick, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (u *user) expect(want string) {
	u.t.Helper()
	if got := u.line(); got != want {
		u.t.Fatalf("%s: got %q, want %q", u.nick, got, want)
	}
}

// join enters room and returns the members listed on arrival.
func (u *user) join(room string) []string {
	u.t.Helper()
	u.send("JOIN " + room)
	u.expect(":" + u.nick + " JOIN " + room)
	var names []string
	for {
		l := u.line()
		if p := "353 " + u.nick + " = " + room + " :"; strings.HasPrefix(l, p) {
			names = append(names, strings.Fields(strings.TrimPrefix(l, p))...)
			continue
		}
		if l != "366 "+u.nick+" "+room+" :End of NAMES list" {
			u.t.Fatalf("%s: JOIN %s: unexpected %q", u.nick, room, l)
		}
		return names
	}
}

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

// TestManyClients runs 500 concurrent scripted clients in 10 rooms of 50:
// every client must receive exactly the room messages of the other 49,
// the private message addressed to it, and the joins it should see.
func TestManyClients(t *testing.T) {
	const (
		clients = 500
		rooms   = 10
		perUser = 3
	)
	s := exampletest.Start(t, bin)
	users := make([]*user, clients)
	var wg, joined, counted sync.WaitGroup
	joined.Add(clients)
	counted.Add(clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A client that fails still passes the barriers, so that the
			// others do not wait for it forever.
			var passedJoin, passedCount bool
			defer func() {
				if !passedJoin {
					joined.Done()
				}
				if !passedCount {
					counted.Done()
				}
			}()
			t := goT{t}
			nick := "u" + strconv.Itoa(i)
			room := "#r" + strconv.Itoa(i%rooms)
			u := login(t, s.Addr, nick)
			users[i] = u
			seen := map[string]bool{}
			for _, n := range u.join(room) {
				seen[n] = true
			}
			passedJoin = true
			joined.Done()
			joined.Wait()
			for k := range perUser {
				u.send(fmt.Sprintf("MSG %s hello %d from %s", room, k, nick))
			}
			to := "u" + strconv.Itoa((i+1)%clients)
			u.send("MSG " + to + " :private for " + to + " from " + nick)

			// Read until every expected message is in: 49 members × 3
			// room messages and one private; JOIN lines of those who
			// joined after us come in between.
			wantRoom := map[string]int{}
			for j := i % rooms; j < clients; j += rooms {
				if j != i {
					for k := range perUser {
						wantRoom[fmt.Sprintf(":u%d MSG %s :hello %d from u%d", j, room, k, j)] = 1
					}
				}
			}
			from := "u" + strconv.Itoa((i+clients-1)%clients)
			wantPriv := ":" + from + " MSG " + nick + " :private for " + nick + " from " + from
			gotPriv := 0
			for len(wantRoom) > 0 || gotPriv == 0 {
				l := u.line()
				switch {
				case strings.HasSuffix(l, " JOIN "+room):
					seen[strings.TrimPrefix(strings.TrimSuffix(l, " JOIN "+room), ":")] = true
				case l == wantPriv:
					gotPriv++
				case wantRoom[l] == 1:
					delete(wantRoom, l)
				default:
					t.Errorf("%s: unexpected %q", nick, l)
					return
				}
			}
			// Every member of the room: listed on arrival or seen joining.
			for j := i % rooms; j < clients; j += rooms {
				if !seen["u"+strconv.Itoa(j)] {
					t.Errorf("%s: never saw u%d in %s", nick, j, room)
				}
			}
			passedCount = true
			counted.Done()
			counted.Wait()
			// Nothing more was queued for us: the next line is the PONG.
			u.send("PING :end")
			if l := u.line(); l != "PONG :end" {
				t.Errorf("%s: after all messages, got %q", nick, l)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// The rooms are whole.
	u := users[0]
	u.send("NAMES #r3")
	var names []string
	for {
		l := u.line()
		if strings.HasPrefix(l, "366 ") {
			break
		}
		names = append(names, strings.Fields(l[strings.Index(l, " :")+2:])...)
	}
	if len(names) != clients/rooms || !slices.IsSorted(names) {
		t.Errorf("NAMES #r3: %d names %q", len(names), names)
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

// TestNicks checks nick validation, collisions (case-insensitive) and
// nick changes as the room sees them.
func TestNicks(t *testing.T) {
	s := exampletest.Start(t, bin)
	a := login(t, s.Addr, "alice")
	b := connect(t, s.Addr)
	b.nick = "b"
	b.send("JOIN #x")
	b.expect("451 * :You have not registered")
	b.send("NICK Alice")
	b.expect("433 * Alice :Nickname is already in use")
	b.send("NICK 9lives")
	b.expect("432 * 9lives :Erroneous nickname")
	b.send("NICK")
	b.expect("431 * :No nickname given")
	b.send("NICK bob")
	b.expect("001 bob :Welcome to coop chat, bob")
	b.nick = "bob"
	a.join("#x")
	b.join("#x")
	a.expect(":bob JOIN #x")
	b.send("NICK ALICE")
	b.expect("433 bob ALICE :Nickname is already in use")
	b.send("NICK robert")
	b.expect(":bob NICK robert")
	a.expect(":bob NICK robert")
	b.nick = "robert"
	c := login(t, s.Addr, "bob") // free again
	c.send("MSG robert hi")
	b.expect(":bob MSG robert :hi")
}

// TestErrors checks the replies to commands that cannot be carried out.
func TestErrors(t *testing.T) {
	s := exampletest.Start(t, bin)
	a := login(t, s.Addr, "alice")
	for _, tt := range []struct{ in, want string }{
		{"FROB x", "421 alice FROB :Unknown command"},
		{"JOIN", "461 alice JOIN :Not enough parameters"},
		{"JOIN nohash", "403 alice nohash :No such channel"},
		{"PART #nowhere", "403 alice #nowhere :No such channel"},
		{"MSG", "411 alice :No recipient given (MSG)"},
		{"MSG bob", "412 alice :No text to send"},
		{"MSG bob hi", "401 alice bob :No such nick/channel"},
		{"MSG #nowhere hi", "401 alice #nowhere :No such nick/channel"},
		{"PING :x y", "PONG :x y"},
		{"", ""}, // a blank line is ignored: the next reply is PING's
	} {
		a.send(tt.in)
		if tt.want != "" {
			a.expect(tt.want)
		}
	}
	a.send("PING 1")
	a.expect("PONG :1")
	b := login(t, s.Addr, "bob")
	b.join("#b")
	a.send("MSG #b hi")
	a.expect("404 alice #b :Cannot send to channel")
	a.send("PART #b")
	a.expect("442 alice #b :You're not on that channel")
}

// TestSlowReader has a client stop reading while a room is flooded: it
// must be dropped with "SendQ exceeded" while the others keep receiving
// promptly, and the server's memory stays bounded.
func TestSlowReader(t *testing.T) {
	s := exampletest.Start(t, bin, "-sendq", "524288", "-sndbuf", "16384")
	slow := login(t, s.Addr, "slow")
	slow.join("#flood")
	slow.c.(*net.TCPConn).SetReadBuffer(16384)
	fast := login(t, s.Addr, "fast")
	fast.join("#flood")
	slow.expect(":fast JOIN #flood")
	talker := login(t, s.Addr, "talker")
	talker.join("#flood")
	fast.expect(":talker JOIN #flood")

	// The talker floods; fast reads everything; slow reads nothing.
	const msgs = 6000
	pad := strings.Repeat("x", 200)
	go func() {
		w := bufio.NewWriter(talker.c)
		for i := range msgs {
			fmt.Fprintf(w, "MSG #flood %d %d %s\r\n", i, time.Now().UnixNano(), pad)
			if i%50 == 49 {
				w.Flush()
				// About 4 MB/s: the fast reader, a goroutine on a
				// loaded machine, may fall 100 ms behind without
				// reaching the 512 KiB SendQ; the slow one reaches it.
				time.Sleep(3 * time.Millisecond)
			}
		}
		w.Flush()
	}()
	dropped := false
	slowDone := make(chan struct{})
	var worst time.Duration
	for i := 0; i < msgs; {
		l := fast.line()
		if l == ":slow QUIT :SendQ exceeded" && !dropped {
			dropped = true
			// The slow client now reads: the end of its backlog, the
			// ERROR line, the close (within the server's grace).
			go func() {
				defer close(slowDone)
				slow.t = goT{t}
				slow.expectEnd("ERROR :SendQ exceeded")
			}()
			continue
		}
		f := strings.Fields(l)
		if len(f) != 6 || f[0] != ":talker" || f[3] != ":"+strconv.Itoa(i) {
			t.Fatalf("fast: got %q, want message %d", l, i)
		}
		sentAt, _ := strconv.ParseInt(f[4], 10, 64)
		worst = max(worst, time.Since(time.Unix(0, sentAt)))
		i++
	}
	if !dropped {
		t.Fatal("the slow reader was not dropped")
	}
	if worst > 2*time.Second {
		t.Errorf("fast reader waited up to %v for a message", worst)
	}
	t.Logf("fast reader: %d messages, worst delay %v", msgs, worst)
	if !strings.Contains(s.Output(), "slow (") || !strings.Contains(s.Output(), "SendQ exceeded") {
		t.Errorf("no SendQ log line:\n%s", s.Output())
	}
	<-slowDone
	if rss := rssOf(t, s.Pid()); rss > 64<<20 && !raceEnabled {
		t.Errorf("server RSS %d MiB", rss>>20)
	}
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

// TestIdleTimeout checks that an idle client is PINGed, survives by
// answering, and is dropped with "Ping timeout" when it does not.
func TestIdleTimeout(t *testing.T) {
	s := exampletest.Start(t, bin, "-idle", "300ms", "-pongtimeout", "300ms")
	idle := login(t, s.Addr, "idle")
	idle.join("#i")
	// The other client answers its PINGs and reports anything else.
	other := login(t, s.Addr, "other")
	other.join("#i")
	seen := make(chan string, 10)
	go func() {
		defer close(seen)
		for {
			l, err := other.r.ReadString('\n')
			if err != nil {
				return
			}
			if l = strings.TrimSuffix(l, "\r\n"); l == "PING :coop-chat" {
				io.WriteString(other.c, "PONG :coop-chat\r\n")
				continue
			}
			seen <- l
		}
	}()
	idle.expect(":other JOIN #i")
	start := time.Now()
	idle.expect("PING :coop-chat")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("PING after %v of silence", d)
	}
	idle.send("PONG :coop-chat")
	idle.expect("PING :coop-chat") // silent again: a new PING, no drop
	// No answer this time.
	idle.expectEnd("ERROR :Ping timeout")
	if l := <-seen; l != ":idle QUIT :Ping timeout" {
		t.Errorf("other: %q", l)
	}
}

// TestLongLine checks that over-long lines get an error, not a crash, and
// that the session goes on after them.
func TestLongLine(t *testing.T) {
	s := exampletest.Start(t, bin)
	a := login(t, s.Addr, "alice")
	a.send("MSG alice " + strings.Repeat("y", 600))
	a.expect("417 alice :Input line was too long")
	// A line of 1 MiB arriving in pieces: one error.
	for range 16 {
		io.WriteString(a.c, strings.Repeat("z", 64<<10))
	}
	a.send("")
	a.expect("417 alice :Input line was too long")
	// The longest line allowed, 512 bytes with CRLF, passes.
	msg := "MSG alice :"
	msg += strings.Repeat("k", 510-len(msg))
	a.send(msg)
	a.expect(":alice MSG alice :" + strings.Repeat("k", 510-len("MSG alice :")))
	a.send("PING :still here")
	a.expect("PONG :still here")
}

// TestNC is a smoke test with netcat: a user types NICK, JOIN and MSG
// while another is in the room.
func TestNC(t *testing.T) {
	exampletest.Need(t, "nc")
	s := exampletest.Start(t, bin)
	a := login(t, s.Addr, "alice")
	a.join("#nc")
	host, port, _ := net.SplitHostPort(s.Addr)
	in := "NICK bob\r\nJOIN #nc\r\nMSG #nc hello from nc\r\nMSG alice :psst\r\nQUIT :bye\r\n"
	out, err := exampletest.RunErr(10*time.Second, []byte(in), "nc", "-q", "1", host, port)
	if err != nil {
		t.Fatalf("nc: %v\n%s", err, out)
	}
	want := "001 bob :Welcome to coop chat, bob\r\n:bob JOIN #nc\r\n353 bob = #nc :alice bob\r\n366 bob #nc :End of NAMES list\r\nERROR :Closing link (Quit: bye)\r\n"
	if out != want {
		t.Errorf("nc got:\n%q\nwant:\n%q", out, want)
	}
	for _, l := range []string{":bob JOIN #nc", ":bob MSG #nc :hello from nc", ":bob MSG alice :psst", ":bob QUIT :Quit: bye"} {
		a.expect(l)
	}
}

// TestShutdown checks that SIGTERM tells connected clients and exits 0.
func TestShutdown(t *testing.T) {
	s := exampletest.Start(t, bin)
	a := login(t, s.Addr, "alice")
	a.join("#s")
	start := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	a.expectEnd("ERROR :Server shutting down")
}

// TestCores checks that -cores other than 1 is refused with a reason.
func TestCores(t *testing.T) {
	out, err := exampletest.Command(bin, "-addr", "127.0.0.1:0", "-cores", "2").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "one scheduler") {
		t.Errorf("chat -cores 2: %v, %q", err, out)
	}
}
