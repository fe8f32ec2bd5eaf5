package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coopgo/coop/examples/internal/exampletest"
)

var bin string

func TestMain(m *testing.M) { exampletest.Main(m, map[string]*string{".": &bin}) }

var modes = []string{"task", "ready"}

// forModes runs f as a subtest for each -mode, with a server started with
// args.
func forModes(t *testing.T, f func(t *testing.T, s *exampletest.Server), args ...string) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			f(t, exampletest.Start(t, bin, append([]string{"-mode", mode}, args...)...))
		})
	}
}

func hostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

// cli runs redis-cli with formatted (typed) output, as on a terminal.
func cli(t testing.TB, addr string, args ...string) string {
	t.Helper()
	h, p := hostPort(t, addr)
	out := exampletest.Run(t, 10*time.Second, "redis-cli", append([]string{"--no-raw", "-h", h, "-p", p}, args...)...)
	return strings.TrimRight(out, "\n")
}

// dial connects a raw client with a deadline for the whole test.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t testing.TB, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// expect reads exactly len(want) bytes and compares them with want.
func expect(t testing.TB, c net.Conn, want string) {
	t.Helper()
	got := make([]byte, len(want))
	n, err := io.ReadFull(c, got)
	if err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got[:n], err, want)
	}
}

// expectClosed checks that the server closes c without sending more.
func expectClosed(t testing.TB, c net.Conn) {
	t.Helper()
	var b [64]byte
	n, err := c.Read(b[:])
	if n > 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("want the connection closed, read %q, %v", b[:n], err)
	}
}

// cmd is a command in RESP form.
func cmd(args ...string) string {
	var bs [][]byte
	for _, a := range args {
		bs = append(bs, []byte(a))
	}
	return string(appendCommand(nil, bs...))
}

// TestRedisCLI drives every command with redis-cli and checks the replies,
// error texts included.
func TestRedisCLI(t *testing.T) {
	exampletest.Need(t, "redis-cli")
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		steps := []struct {
			args []string
			want string
		}{
			{[]string{"PING"}, "PONG"},
			{[]string{"ping", "hi"}, `"hi"`},
			{[]string{"PING", "a", "b"}, "(error) ERR wrong number of arguments for 'ping' command"},
			{[]string{"ECHO", "hello world"}, `"hello world"`},
			{[]string{"GET", "k"}, "(nil)"},
			{[]string{"SET", "k", "v1"}, "OK"},
			{[]string{"GET", "k"}, `"v1"`},
			{[]string{"SET", "k", "v2", "NX"}, "(nil)"},
			{[]string{"SET", "k", "v2", "XX", "GET"}, `"v1"`},
			{[]string{"SET", "new", "v", "XX"}, "(nil)"},
			{[]string{"SET", "k", "v", "NX", "XX"}, "(error) ERR syntax error"},
			{[]string{"SET", "k", "v", "EX"}, "(error) ERR syntax error"},
			{[]string{"SET", "k", "v", "EX", "10", "PX", "10"}, "(error) ERR syntax error"},
			{[]string{"SET", "k", "v", "EX", "ten"}, "(error) ERR value is not an integer or out of range"},
			{[]string{"SET", "k", "v", "EX", "0"}, "(error) ERR invalid expire time in 'set' command"},
			{[]string{"SET", "k", "v", "PX", "-5"}, "(error) ERR invalid expire time in 'set' command"},
			{[]string{"SET", "k", "v", "EX", "100"}, "OK"},
			{[]string{"TTL", "k"}, "(integer) 100"},
			{[]string{"SET", "k", "w", "KEEPTTL"}, "OK"},
			{[]string{"TTL", "k"}, "(integer) 100"},
			{[]string{"SET", "k", "x"}, "OK"},
			{[]string{"TTL", "k"}, "(integer) -1"},
			{[]string{"TTL", "missing"}, "(integer) -2"},
			{[]string{"GET"}, "(error) ERR wrong number of arguments for 'get' command"},
			{[]string{"INCR", "k"}, "(error) ERR value is not an integer or out of range"},
			{[]string{"INCR", "n"}, "(integer) 1"},
			{[]string{"INCRBY", "n", "41"}, "(integer) 42"},
			{[]string{"DECR", "n"}, "(integer) 41"},
			{[]string{"DECRBY", "n", "x"}, "(error) ERR value is not an integer or out of range"},
			{[]string{"SET", "big", "9223372036854775807"}, "OK"},
			{[]string{"INCR", "big"}, "(error) ERR increment or decrement would overflow"},
			{[]string{"MSET", "a", "1", "b", "2"}, "OK"},
			{[]string{"MSET", "a", "1", "b"}, "(error) ERR wrong number of arguments for 'mset' command"},
			{[]string{"MGET", "a", "b", "nope"}, "1) \"1\"\n2) \"2\"\n3) (nil)"},
			{[]string{"EXISTS", "a", "b", "nope", "a"}, "(integer) 3"},
			{[]string{"DEL", "a", "nope"}, "(integer) 1"},
			{[]string{"EXPIRE", "b", "50"}, "(integer) 1"},
			{[]string{"TTL", "b"}, "(integer) 50"},
			{[]string{"EXPIRE", "b", "60", "NX"}, "(integer) 0"},
			{[]string{"EXPIRE", "b", "60", "GT"}, "(integer) 1"},
			{[]string{"EXPIRE", "b", "60", "NX", "XX"}, "(error) ERR NX and XX, GT or LT options at the same time are not compatible"},
			{[]string{"EXPIRE", "b", "60", "FOO"}, "(error) ERR Unsupported option FOO"},
			{[]string{"EXPIRE", "nope", "60"}, "(integer) 0"},
			{[]string{"PERSIST", "b"}, "(integer) 1"},
			{[]string{"TTL", "b"}, "(integer) -1"},
			{[]string{"EXPIRE", "b", "-1"}, "(integer) 1"},
			{[]string{"EXISTS", "b"}, "(integer) 0"},
			{[]string{"DBSIZE"}, "(integer) 3"},
			{[]string{"KEYS", "[bk]*"}, "1) \"big\"\n2) \"k\""},
			{[]string{"SELECT", "0"}, "OK"},
			{[]string{"SELECT", "1"}, "(error) ERR DB index is out of range"},
			{[]string{"CONFIG", "GET", "appendonly"}, "1) \"appendonly\"\n2) \"no\""},
			{[]string{"CONFIG", "GET", "save"}, "1) \"save\"\n2) \"\""},
			{[]string{"CONFIG", "GET"}, "(error) ERR wrong number of arguments for 'config|get' command"},
			{[]string{"CONFIG", "SET", "x", "y"}, "(error) ERR unknown subcommand 'SET'. Try CONFIG HELP."},
			{[]string{"COMMAND"}, "(empty array)"},
			{[]string{"FOO", "bar", "baz"}, "(error) ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' "},
			{[]string{"FLUSHALL"}, "OK"},
			{[]string{"DBSIZE"}, "(integer) 0"},
		}
		for _, st := range steps {
			got := cli(t, s.Addr, st.args...)
			if got == "(empty list or set)" {
				got = "(empty array)" // older redis-cli
			}
			if st.args[0] == "KEYS" {
				got = sortLines(got)
			}
			if got != st.want {
				t.Errorf("redis-cli %q:\n got %q\nwant %q", st.args, got, st.want)
			}
		}
	})
}

// sortLines sorts the elements of a redis-cli array (KEYS: the order is
// the hash table's), keeping the "n) " numbering in place.
func sortLines(s string) string {
	lines := strings.Split(s, "\n")
	var vals []string
	for _, l := range lines {
		_, v, _ := strings.Cut(l, ") ")
		vals = append(vals, v)
	}
	slices.Sort(vals)
	for i := range lines {
		lines[i] = strconv.Itoa(i+1) + ") " + vals[i]
	}
	return strings.Join(lines, "\n")
}

// TestRedisBenchmark runs a short redis-benchmark: every test completes,
// with no error replies.
func TestRedisBenchmark(t *testing.T) {
	exampletest.Need(t, "redis-benchmark")
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		h, p := hostPort(t, s.Addr)
		for _, pipe := range []string{"1", "16"} {
			out, err := exampletest.RunErr(60*time.Second, nil, "redis-benchmark", "-h", h, "-p", p,
				"-n", "20000", "-c", "20", "-P", pipe, "-t", "get,set,incr,mset", "-q")
			if err != nil {
				t.Fatalf("redis-benchmark -P %s: %v\n%s", pipe, err, out)
			}
			// -q still prints progress lines ending in \r; keep the results.
			var results []string
			for _, l := range strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' }) {
				if strings.Contains(l, "requests per second") {
					results = append(results, strings.TrimSpace(l))
				}
				if strings.Contains(strings.ToLower(l), "error") {
					t.Errorf("redis-benchmark -P %s: %s", pipe, l)
				}
			}
			for _, test := range []string{"SET:", "GET:", "INCR:", "MSET (10 keys):"} {
				found := false
				for _, r := range results {
					found = found || strings.HasPrefix(r, test)
				}
				if !found {
					t.Errorf("redis-benchmark -P %s: no result for %s in\n%s", pipe, test, strings.Join(results, "\n"))
				}
			}
			t.Logf("-P %s: %s", pipe, strings.Join(results, "; "))
		}
		if got := cli(t, s.Addr, "PING"); got != "PONG" {
			t.Errorf("PING after the benchmark: %q", got)
		}
	})
}

// TestGoRedis drives the server with go-redis, on one core, on two
// (where keys are spread over two shards and commands are forwarded) and
// on two sharing one store under a mutex (-shared mutex).
func TestGoRedis(t *testing.T) {
	for _, args := range [][]string{{"-cores", "1"}, {"-cores", "2"}, {"-cores", "2", "-shared", "mutex"}} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			forModes(t, func(t *testing.T, s *exampletest.Server) { testGoRedis(t, s.Addr) }, args...)
		})
	}
}

func testGoRedis(t *testing.T, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 8})
	defer rdb.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rdb.Ping(ctx).Err())
	must(rdb.Set(ctx, "greeting", "hello", 0).Err())
	if v, err := rdb.Get(ctx, "greeting").Result(); v != "hello" || err != nil {
		t.Fatalf("GET greeting = %q, %v", v, err)
	}
	if _, err := rdb.Get(ctx, "missing").Result(); err != redis.Nil {
		t.Fatalf("GET missing: %v, want redis.Nil", err)
	}
	if ok, err := rdb.Expire(ctx, "greeting", time.Minute).Result(); !ok || err != nil {
		t.Fatalf("EXPIRE = %v, %v", ok, err)
	}
	if d, err := rdb.TTL(ctx, "greeting").Result(); err != nil || d < 59*time.Second || d > time.Minute {
		t.Fatalf("TTL = %v, %v", d, err)
	}
	if err := rdb.Incr(ctx, "greeting").Err(); err == nil || err.Error() != "ERR value is not an integer or out of range" {
		t.Fatalf("INCR on a string: %v", err)
	}
	if ok, err := rdb.SetNX(ctx, "greeting", "x", 0).Result(); ok || err != nil {
		t.Fatalf("SETNX on an existing key = %v, %v", ok, err)
	}

	// A pipeline of 1000 SETs and GETs, and MSET/MGET over many keys.
	const n = 1000
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			p.Set(ctx, "key:"+strconv.Itoa(i), i, 0)
		}
		for i := range n {
			p.Get(ctx, "key:"+strconv.Itoa(i))
		}
		return nil
	})
	must(err)
	for i, c := range cmds[n:] {
		if v, _ := c.(*redis.StringCmd).Result(); v != strconv.Itoa(i) {
			t.Fatalf("pipelined GET key:%d = %q", i, v)
		}
	}
	var kv []any
	var keys []string
	for i := range 100 {
		kv = append(kv, "m:"+strconv.Itoa(i), "v"+strconv.Itoa(i))
		keys = append(keys, "m:"+strconv.Itoa(i))
	}
	must(rdb.MSet(ctx, kv...).Err())
	vals, err := rdb.MGet(ctx, append(keys, "m:none")...).Result()
	must(err)
	for i, v := range vals[:100] {
		if v != "v"+strconv.Itoa(i) {
			t.Fatalf("MGET m:%d = %v", i, v)
		}
	}
	if vals[100] != nil {
		t.Fatalf("MGET m:none = %v", vals[100])
	}
	if got, err := rdb.Exists(ctx, keys[:10]...).Result(); got != 10 || err != nil {
		t.Fatalf("EXISTS = %d, %v", got, err)
	}
	if got, err := rdb.Del(ctx, keys[:10]...).Result(); got != 10 || err != nil {
		t.Fatalf("DEL = %d, %v", got, err)
	}
	if ks, err := rdb.Keys(ctx, "m:*").Result(); len(ks) != 90 || err != nil {
		t.Fatalf("KEYS m:* = %d keys, %v", len(ks), err)
	}
	if size, err := rdb.DBSize(ctx).Result(); size != n+90+1 || err != nil {
		t.Fatalf("DBSIZE = %d, %v; want %d", size, err, n+90+1)
	}

	// Concurrent INCRs of one counter from several connections (and, with
	// two cores, from both schedulers): none is lost.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if err := rdb.Incr(ctx, "counter").Err(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if v, err := rdb.Get(ctx, "counter").Int(); v != 1600 || err != nil {
		t.Fatalf("counter = %d, %v; want 1600", v, err)
	}
	must(rdb.FlushAll(ctx).Err())
	if size, err := rdb.DBSize(ctx).Result(); size != 0 || err != nil {
		t.Fatalf("DBSIZE after FLUSHALL = %d, %v", size, err)
	}
}

// TestProtocolErrors sends malformed requests and checks Redis's exact
// error reply and that the connection is then closed.
func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bad multibulk length", "*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"too many arguments", "*2000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"negative bulk length", "*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"huge bulk length", "*1\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"no dollar", "*1\r\nx3\r\nGET\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n"},
		{"unbalanced quotes", "ECHO \"abc\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{"good then bad", "PING\r\n*1\r\n$4\r\nPING\r\n*-\r\n", "+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"},
		{"inline too big", strings.Repeat("a", 70000), "-ERR Protocol error: too big inline request\r\n"},
		{"quit", "QUIT\r\nPING\r\n", "+OK\r\n"},
		{"http", "POST / HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	}
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := dial(t, s.Addr)
				send(t, c, tt.in)
				expect(t, c, tt.want)
				expectClosed(t, c)
			})
		}
		// The server is still there.
		c := dial(t, s.Addr)
		send(t, c, "PING\r\n")
		expect(t, c, "+PONG\r\n")
	}, "-maxbulk", "1000000")
}

// TestRequests checks inline commands, a pipelined mix of inline and
// multibulk commands, commands split across writes byte by byte, and a
// value of several megabytes.
func TestRequests(t *testing.T) {
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		t.Run("inline", func(t *testing.T) {
			c := dial(t, s.Addr)
			send(t, c, "SET k \"hello world\"\r\nGET k\nexists k nope\r\n")
			expect(t, c, "+OK\r\n$11\r\nhello world\r\n:1\r\n")
		})
		t.Run("unknown command", func(t *testing.T) {
			c := dial(t, s.Addr)
			send(t, c, cmd("foo", "a\r\nb", strings.Repeat("x", 200))+"PING\r\n")
			expect(t, c, "-ERR unknown command 'foo', with args beginning with: 'a  b' '"+strings.Repeat("x", 121)+"' \r\n+PONG\r\n")
		})
		t.Run("pipelined mix", func(t *testing.T) {
			c := dial(t, s.Addr)
			var in, want strings.Builder
			for i := range 500 {
				k := "p" + strconv.Itoa(i)
				if i%2 == 0 {
					in.WriteString("SET " + k + " " + strconv.Itoa(i) + "\r\n")
				} else {
					in.WriteString(cmd("SET", k, strconv.Itoa(i)))
				}
				in.WriteString(cmd("INCR", k))
				want.WriteString("+OK\r\n:" + strconv.Itoa(i+1) + "\r\n")
			}
			send(t, c, in.String())
			expect(t, c, want.String())
		})
		t.Run("byte by byte", func(t *testing.T) {
			c := dial(t, s.Addr)
			in := cmd("SET", "split", "a value\r\nwith CRLF") + "GET split\r\n" + cmd("ECHO", "done")
			for i := range len(in) {
				send(t, c, in[i:i+1])
				if i%8 == 0 {
					time.Sleep(time.Millisecond) // let the server see partial commands
				}
			}
			expect(t, c, "+OK\r\n$18\r\na value\r\nwith CRLF\r\n$4\r\ndone\r\n")
		})
		t.Run("big value", func(t *testing.T) {
			c := dial(t, s.Addr)
			val := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
			go func() {
				// Written in pieces, as it arrives over a real network.
				w := bufio.NewWriterSize(c, 100000)
				w.WriteString(cmd("SET", "bigval", string(val)))
				w.WriteString(cmd("GET", "bigval"))
				w.Flush()
			}()
			expect(t, c, "+OK\r\n$"+strconv.Itoa(len(val))+"\r\n"+string(val)+"\r\n")
		})
	})
}

// TestMaxClients checks that a client over -maxclients gets Redis's error
// and is closed, and that a slot freed is usable again.
func TestMaxClients(t *testing.T) {
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		c1, c2 := connected(t, s.Addr), connected(t, s.Addr)
		c3 := dial(t, s.Addr)
		expect(t, c3, "-ERR max number of clients reached\r\n")
		expectClosed(t, c3)
		c1.Close()
		connected(t, s.Addr)
		send(t, c2, "PING\r\n")
		expect(t, c2, "+PONG\r\n")
	}, "-maxclients", "2")
}

// connected returns a connection the server has accepted as a client. A
// client that has just left (exampletest.Start's probe, a closed test
// connection) may still count against -maxclients for a moment: retry.
func connected(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := dial(t, addr)
		send(t, c, "PING\r\n")
		buf := make([]byte, 7)
		if _, err := io.ReadFull(c, buf); err == nil && string(buf) == "+PONG\r\n" {
			return c
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("not served: %q", buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOutputLimit pipelines GETs of a 1 MiB value without reading the
// replies: the server must drop that client once its pending replies pass
// -maxoutput, keep its own memory bounded, and go on serving others.
func TestOutputLimit(t *testing.T) {
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		c := dial(t, s.Addr)
		send(t, c, cmd("SET", "mb", strings.Repeat("x", 1<<20)))
		expect(t, c, "+OK\r\n")
		// 300 MiB of replies asked for, none read.
		get := cmd("GET", "mb")
		var werr error
		for range 300 {
			if _, werr = io.WriteString(c, get); werr != nil {
				break // the server dropped us already
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.Output(), "output buffer limit") {
			if time.Now().After(deadline) {
				t.Fatalf("client not dropped (write error %v)", werr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// What arrives before the end is bounded by the limit and the
		// kernel's buffers.
		n, err := io.Copy(io.Discard, c)
		if err != nil && !isReset(err) {
			out, _ := exec.Command("ss", "-tnoip", "sport", "= :"+strings.Split(s.Addr, ":")[1]).CombinedOutput()
			t.Fatalf("after the drop: %v (read %d)\n%s", err, n, out)
		}
		if n > 64<<20 {
			t.Errorf("read %d MiB before the close", n>>20)
		}
		limit := 128 << 20
		if raceEnabled {
			limit *= 4 // the race detector's shadow memory
		}
		if rss := rssOf(t, s.Pid()); rss > limit {
			t.Errorf("server RSS %d MiB", rss>>20)
		} else {
			t.Logf("server RSS %d MiB; client read %d MiB before the close", rss>>20, n>>20)
		}
		c2 := dial(t, s.Addr)
		send(t, c2, "PING\r\n")
		expect(t, c2, "+PONG\r\n")
	}, "-maxoutput", strconv.Itoa(8<<20))
}

// rssOf returns a process's resident set size from /proc (Linux).
func rssOf(t *testing.T, pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
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

// TestExpiry checks short TTLs: lazy expiry on access, and the active
// sweep that reclaims keys nobody reads again.
func TestExpiry(t *testing.T) {
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		c := dial(t, s.Addr)
		r := bufio.NewReader(c)
		do := func(args ...string) string {
			t.Helper()
			send(t, c, cmd(args...))
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line[0] == '$' && line != "$-1\r\n" {
				n, _ := strconv.Atoi(line[1 : len(line)-2])
				b := make([]byte, n+2)
				io.ReadFull(r, b)
				return string(b[:n])
			}
			return strings.TrimRight(line, "\r\n")
		}
		// Before expiry, a key with a time to live that no machine
		// outlasts: a 100 ms one expired before its PTTL and GET on a
		// slow one (arm64 under qemu, a loaded -race run). Its PTTL, in
		// milliseconds, is at most the TTL and at least the TTL less the
		// time the test has taken since it sent the SET (the server set
		// the TTL after that), give or take the clock's millisecond.
		const ttl = 600_000
		sent := time.Now()
		if got := do("SET", "long", "v", "PX", strconv.Itoa(ttl)); got != "+OK" {
			t.Fatal(got)
		}
		got, _ := strconv.Atoi(strings.TrimPrefix(do("PTTL", "long"), ":"))
		if took := int(time.Since(sent).Milliseconds()); got > ttl || got < ttl-took-2 {
			t.Errorf("PTTL = %d, %d ms after a SET with PX %d", got, took, ttl)
		}
		if got := do("GET", "long"); got != "v" {
			t.Errorf("GET before expiry = %s", got)
		}
		if got := do("DEL", "long"); got != ":1" {
			t.Errorf("DEL = %s", got)
		}
		// After expiry: the server set the 100 ms when it answered at
		// the latest.
		if got := do("SET", "short", "v", "PX", "100"); got != "+OK" {
			t.Fatal(got)
		}
		time.Sleep(150 * time.Millisecond)
		for _, q := range [][2]string{{"GET", "$-1"}, {"EXISTS", ":0"}, {"TTL", ":-2"}} {
			if got := do(q[0], "short"); got != q[1] {
				t.Errorf("%s after expiry = %s, want %s", q[0], got, q[1])
			}
		}
		// 500 keys with a 50 ms TTL, never read: only the sweep can
		// reclaim them, and DBSIZE counts them until it does.
		var in strings.Builder
		for i := range 500 {
			in.WriteString(cmd("SET", "t"+strconv.Itoa(i), "v", "PX", "50"))
		}
		send(t, c, in.String())
		for range 500 {
			if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
				t.Fatalf("SET: %q, %v", line, err)
			}
		}
		// A cycle every 100 ms reclaims 20 keys at least and, within its
		// 1 ms budget, all of them on a fast machine: up to 25 cycles on a
		// slow one, plus the scheduler's delays; 3 s was close to that.
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := do("DBSIZE")
			if got == ":0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("DBSIZE = %s 30 s after the keys expired", got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestShutdown checks that SIGTERM ends the server promptly with status
// 0, closing a client that is connected and idle.
func TestShutdown(t *testing.T) {
	forModes(t, func(t *testing.T, s *exampletest.Server) {
		c := dial(t, s.Addr)
		send(t, c, "PING\r\n")
		expect(t, c, "+PONG\r\n")
		if err := s.Stop(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.Output())
		}
		// Held up, the shutdown would have waited out its 3 s grace and
		// said so ("shutdown: context deadline exceeded"). Asked of the
		// server's log, not of a clock: a bound of 2 s on the whole
		// stop, against the 3 s grace, was a bound on how fast a loaded
		// machine runs the server.
		if strings.Contains(s.Output(), "shutdown: ") {
			t.Errorf("the idle client held the shutdown up to its grace:\n%s", s.Output())
		}
		expectClosed(t, c)
	})
}

// TestBadFlags checks that bad flags are refused with a message.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-cores", "0"}, {"-mode", "fork"}, {"-maxclients", "0"}, {"-shared", "spin"}} {
		out, err := exampletest.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), args[0]) {
			t.Errorf("kv %q: %v, %q; want a failure naming the flag", args, err, out)
		}
	}
}

// TestSameAsRedis sends the same requests to kv and to a real
// redis-server and compares the raw replies byte for byte.
func TestSameAsRedis(t *testing.T) {
	exampletest.Need(t, "redis-server")
	raddr := exampletest.FreeAddr(t)
	_, rport := hostPort(t, raddr)
	dir := t.TempDir()
	redisSrv := exampletest.StartAt(t, raddr, "redis-server", "--port", rport, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--databases", "1")
	kv := exampletest.Start(t, bin)

	// One session of commands, replies compared one by one.
	session := []string{
		cmd("PING"), cmd("PING", "x"), cmd("PING", "a", "b"), cmd("ECHO", ""), cmd("ECHO"),
		cmd("SET", "k", "v"), cmd("GET", "k"), cmd("get", "k", "extra"), cmd("SET", "k"),
		cmd("SET", "k", "v", "nx"), cmd("SET", "k", "w", "XX", "GET"), cmd("SET", "k", "v", "GET", "NX"),
		cmd("SET", "k", "v", "EX", "1", "EX", "2"), cmd("SET", "k", "v", "EX", "1", "PX", "2"),
		cmd("SET", "k", "v", "KEEPTTL", "EX", "1"), cmd("SET", "k", "v", "EX", "1", "KEEPTTL"),
		cmd("SET", "k", "v", "EX", "9223372036854775807"), cmd("SET", "k", "v", "PX", "9223372036854775807"),
		cmd("SET", "k", "v", "EXAT", "1"), cmd("GET", "k"), cmd("SET", "k", "v", "PXAT", "0"),
		cmd("SET", "k", "v", "EX", "01"), cmd("SET", "k", "v", "EX", " 1"), cmd("SET", "k", "v", "BOGUS"),
		cmd("SET", "n", "10"), cmd("INCR", "n"), cmd("DECR", "n"), cmd("INCRBY", "n", "-20"), cmd("DECRBY", "n", "-9223372036854775808"),
		cmd("SET", "n", " 1"), cmd("INCR", "n"), cmd("SET", "n", "-9223372036854775808"), cmd("DECR", "n"), cmd("INCRBY", "n", "-1"),
		cmd("INCR", "fresh"), cmd("INCR", "a", "b"),
		cmd("MSET", "a", "1"), cmd("MSET", "a"), cmd("MSET", "a", "1", "b"), cmd("MGET", "a", "zz", "a"), cmd("MGET"),
		cmd("EXISTS", "a", "a", "zz"), cmd("DEL", "a", "a", "zz"), cmd("DEL"),
		cmd("SET", "e", "1"), cmd("EXPIRE", "e", "100"), cmd("TTL", "e"), cmd("EXPIRE", "e", "50", "LT"),
		cmd("EXPIRE", "e", "500", "LT"), cmd("EXPIRE", "e", "10", "GT"), cmd("EXPIRE", "e", "10", "GT", "LT"),
		cmd("EXPIRE", "e", "10", "nx", "xx"), cmd("EXPIRE", "e", "x"), cmd("EXPIRE", "e", "9223372036854775807"),
		cmd("EXPIRE", "e", "-9223372036854775808"), cmd("TTL", "e"), cmd("TTL", "e", "f"), cmd("PERSIST", "e"),
		cmd("SET", "p", "1", "PX", "100000"), cmd("PERSIST", "p"), cmd("PERSIST", "p"), cmd("TTL", "p"),
		cmd("EXPIRE", "p", "0"), cmd("EXISTS", "p"),
		cmd("DBSIZE"), cmd("DBSIZE", "x"), cmd("KEYS"), cmd("SELECT", "0"), cmd("SELECT", "1"), cmd("SELECT", "x"),
		cmd("FLUSHALL", "x"), cmd("FLUSHALL", "ASYNC", "x"),
		cmd("FOO"), cmd("foo", "a", "b"), cmd("foo", strings.Repeat("y", 300)), cmd("f\r\no", "a\nb"),
		cmd("CONFIG"), cmd("CONFIG", "GET"), cmd("CONFIG", "GET", "appendonly"), cmd("CONFIG", "BOGUS"),
		cmd("CLIENT", "SETNAME", "me"), cmd("CLIENT", "GETNAME"), cmd("CLIENT", "NOPE"),
		// Client names: printable ASCII but space, or empty (no name).
		cmd("CLIENT", "SETNAME", "a b"), cmd("CLIENT", "SETNAME", "a\nb"), cmd("CLIENT", "SETNAME", "\xc3\xa9"),
		cmd("CLIENT", "SETNAME", "\x7f"), cmd("CLIENT", "SETNAME", "\x00"), cmd("CLIENT", "GETNAME"),
		cmd("CLIENT", "SETNAME", "!x~"), cmd("CLIENT", "GETNAME"), cmd("CLIENT", "SETNAME", ""), cmd("CLIENT", "GETNAME"),
		cmd("HELLO", "2", "SETNAME", "a b"), cmd("HELLO", "2", "SETNAME", "ok", "SETNAME", "a\tb"),
		cmd("HELLO", "2", "SETNAME", "ok", "BOGUS"), cmd("HELLO", "2", "SETNAME", "a b", "BOGUS"), cmd("CLIENT", "GETNAME"),
		cmd("COMMAND", "COUNT", "x"), cmd("COMMAND", "FOO"), cmd("COMMAND", "count", "x", "y"),
		"SET inl \"a\\x41\\n\" 'b'\r\n", "GET inl\r\n", cmd("HELLO", "x"), cmd("HELLO", "4"),
		cmd("FLUSHALL"), cmd("DBSIZE"),
	}
	// KEYS with patterns, on a set of keys made for them.
	keys := []string{"", "a", "ab", "abc", "b", "[", "]", "*", "?", "\\", "a*c", "aXc", "hello", "hallo", "hillo", "h\x80llo"}
	for _, k := range keys {
		session = append(session, cmd("SET", k, "1"))
	}
	for _, p := range []string{"a*", "*c", "a?c", "[ab]*", "[^a]*", "[a-b]", "[b-a]", "h[ae]llo", "h[^e]llo", "\\*",
		"a\\*c", "[", "[a", "[]", "[]]", "[\\]]", "**", "?", "*?*", "h[a-\x7f]llo", "h[\x7f-\x81]llo", "\\"} {
		session = append(session, cmd("KEYS", p))
	}
	rc, kc := dial(t, redisSrv.Addr), dial(t, kv.Addr)
	rr, kr := bufio.NewReader(rc), bufio.NewReader(kc)
	for _, req := range session {
		send(t, rc, req)
		send(t, kc, req)
		want, got := readReply(t, rr), readReply(t, kr)
		if strings.HasPrefix(req, "*2\r\n$4\r\nKEYS") {
			want, got = sortReply(want), sortReply(got)
		}
		if want != got {
			t.Errorf("%q:\n redis %q\n    kv %q", req, want, got)
		}
	}

	// Replies that differ by design, compared by kind: COMMAND COUNT is
	// an integer, the size of each server's own table; HELLO's map names
	// the server, and a name it sets is what CLIENT GETNAME answers.
	for _, req := range []string{cmd("COMMAND", "COUNT"), cmd("command", "count")} {
		send(t, rc, req)
		send(t, kc, req)
		want, got := readReply(t, rr), readReply(t, kr)
		if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(got, ":"))); !strings.HasPrefix(want, ":") || !strings.HasPrefix(got, ":") || err != nil || n <= 0 {
			t.Errorf("%q: redis %q, kv %q; want a positive integer from both", req, want, got)
		}
	}
	for _, req := range []string{cmd("HELLO", "2", "SETNAME", "named"), cmd("CLIENT", "GETNAME")} {
		send(t, rc, req)
		send(t, kc, req)
		want, got := readReply(t, rr), readReply(t, kr)
		if strings.HasPrefix(want, "*") && strings.HasPrefix(got, "*") {
			continue // HELLO's reply: a map of the server's own
		}
		if want != got {
			t.Errorf("%q:\n redis %q\n    kv %q", req, want, got)
		}
	}

	// Protocol errors, each on its own connection: the reply, then the
	// close.
	for _, in := range []string{
		"*x\r\n", "*-1\r\n*0\r\n\r\n \r\nPING\r\n", "*1\r\n$x\r\n", "*1\r\n$-1\r\n", "*1\r\n$1\r\n\r\n\r\n",
		"*1\r\n:1\r\n", "*1\r\n\r\n\r\n", "*2147483648\r\n", "*1\r\n$4\r\nPINGxxPING\r\n",
		"PING \"x\"y\r\n", "PING 'x\r\n", "*01\r\n", "*1\r\n$01\r\nx\r\n", "QUIT\r\nPING\r\n",
		"post / HTTP/1.1\r\n", "Host: x\r\n",
	} {
		rc, kc := dial(t, redisSrv.Addr), dial(t, kv.Addr)
		send(t, rc, in)
		send(t, kc, in)
		// Until the close, or half a second of silence.
		rc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		want, wantErr := io.ReadAll(rc)
		kc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		got, gotErr := io.ReadAll(kc)
		if string(want) != string(got) || closedKind(wantErr) != closedKind(gotErr) {
			t.Errorf("%q:\n redis %q, %v\n    kv %q, %v", in, want, wantErr, got, gotErr)
		}
	}
}

// closedKind says how a read ended: closed by the server, or still open.
func closedKind(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "open"
	}
	return "closed"
}

// readReply reads one RESP2 reply, raw.
func readReply(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		if n < 0 {
			return line
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		return line + string(b)
	case '*':
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		for range max(n, 0) {
			line += readReply(t, r)
		}
	}
	return line
}

// sortReply sorts the elements of an array of bulk strings (KEYS).
func sortReply(s string) string {
	head, rest, _ := strings.Cut(s, "\r\n")
	var elems []string
	for len(rest) > 0 {
		hdr, after, _ := strings.Cut(rest, "\r\n")
		n, _ := strconv.Atoi(hdr[1:])
		elems = append(elems, hdr+"\r\n"+after[:n+2])
		rest = after[n+2:]
	}
	slices.Sort(elems)
	return head + "\r\n" + strings.Join(elems, "")
}
