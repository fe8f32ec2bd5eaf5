//go:build linux

package clients

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The testdata files are real output of wrk 4.1.0 (Debian) and
// redis-benchmark 7.0.15, captured against examples/http and examples/kv
// and redis-server on this study's machine.
func TestParseWrk(t *testing.T) {
	for _, tc := range []struct {
		file     string
		want     WrkResult
		wantRPS  float64
		wantSecs float64
	}{
		{"wrk-latency.txt", WrkResult{Requests: 40269, P50: 701 * time.Microsecond, P99: 10430 * time.Microsecond}, 39322.43, 1.02},
		{"wrk-non2xx.txt", WrkResult{Requests: 33644, P50: 731 * time.Microsecond, P99: 266580 * time.Microsecond, Non2xx: 33644}, 30211.36, 1.11},
		{"wrk-socket-errors.txt", WrkResult{Requests: 18323, P50: 706 * time.Microsecond, P99: 72520 * time.Microsecond, SocketErrors: 100 + 13323}, 16959.43, 1.08},
	} {
		got, err := ParseWrk(readTestdata(t, tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if got.RPS != tc.wantRPS || got.Duration != time.Duration(tc.wantSecs*float64(time.Second)) {
			t.Errorf("%s: rps %v in %v, want %v in %vs", tc.file, got.RPS, got.Duration, tc.wantRPS, tc.wantSecs)
		}
		got.RPS, got.Duration = 0, 0
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.file, got, tc.want)
		}
	}
}

func TestParseWrkErrors(t *testing.T) {
	full := readTestdata(t, "wrk-latency.txt")
	noLatency := strings.Replace(full, "Latency Distribution", "", 1)
	for name, out := range map[string]string{
		"empty":            "",
		"connection error": "unable to connect to 127.0.0.1:18399 Connection refused\n",
		"no --latency":     noLatency,
		"truncated":        full[:strings.Index(full, "Requests/sec")],
	} {
		if _, err := ParseWrk(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseWrkTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"701.00us": 701 * time.Microsecond,
		"2.46ms":   2460 * time.Microsecond,
		"1.20s":    1200 * time.Millisecond,
		"1.50m":    90 * time.Second,
	} {
		if got, err := parseWrkTime(in); err != nil || got != want {
			t.Errorf("parseWrkTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWrkTime("12"); err == nil {
		t.Error("no error for a time without unit")
	}
}

func TestParseRedisBenchmarkCSV(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []BenchResult
	}{
		{"redis-benchmark-P1.csv", []BenchResult{
			{"SET", 17995.32, 583 * time.Microsecond, 23247 * time.Microsecond},
			{"GET", 22583.56, 559 * time.Microsecond, 17231 * time.Microsecond},
		}},
		{"redis-benchmark-P16.csv", []BenchResult{
			{"SET", 339750.84, 639 * time.Microsecond, 11831 * time.Microsecond},
			{"GET", 363636.38, 639 * time.Microsecond, 8343 * time.Microsecond},
		}},
	} {
		got, err := ParseRedisBenchmarkCSV(readTestdata(t, tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d results, want %d", tc.file, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: result %d: %+v, want %+v", tc.file, i, got[i], tc.want[i])
			}
		}
	}
	for name, out := range map[string]string{
		"empty":       "",
		"header only": `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"` + "\n",
		"no p99":      "\"test\",\"rps\",\"p50_latency_ms\"\n\"SET\",\"1\",\"2\"\n",
		"bad number":  `"test","rps","p50_latency_ms","p99_latency_ms"` + "\n" + `"SET","x","1","2"` + "\n",
		"not csv":     "Could not connect to Redis at 127.0.0.1:18399: Connection refused\n",
	} {
		if _, err := ParseRedisBenchmarkCSV(out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestNetRESP talks to the RESP reference over loopback: multibulk and
// inline commands, pipelining, CONFIG GET, errors, a protocol error.
func TestNetRESP(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st := &respStore{m: make(map[string][]byte)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go st.serve(c)
		}
	}()
	exchange := func(req string, replies int) string {
		t.Helper()
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		var out strings.Builder
		for range replies {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%q: after %q: %v", req, out.String(), err)
			}
			out.WriteString(line)
			if line[0] == '$' && line != "$-1\r\n" {
				bulk, err := r.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				out.WriteString(bulk)
			}
		}
		return out.String()
	}
	for _, tc := range []struct {
		req     string
		replies int
		want    string
	}{
		{"PING\r\n", 1, "+PONG\r\n"},
		{"ping\n", 1, "+PONG\r\n"},
		{"*1\r\n$4\r\nPING\r\n", 1, "+PONG\r\n"},
		{"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n", 1, "$2\r\nhi\r\n"},
		{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*2\r\n$3\r\nget\r\n$1\r\nk\r\n*2\r\n$3\r\nGET\r\n$4\r\nnone\r\n", 3,
			"+OK\r\n$5\r\nvalue\r\n$-1\r\n"},
		{"SET a b\r\nGET a\r\n", 2, "+OK\r\n$1\r\nb\r\n"},
		{"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nsave\r\n", 1, "*0\r\n"},
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$3\r\nGET\r\n", 2, "$5\r\nvalue\r\n-ERR wrong number of arguments for 'get' command\r\n"},
		{"FLUSHALL\r\n", 1, "-ERR unknown command 'FLUSHALL'\r\n"},
		{"*1\r\n+PING\r\n", 1, "-ERR Protocol error: expected '$', got '+'\r\n"},
		{"*x\r\n", 1, "-ERR Protocol error: invalid multibulk length\r\n"},
	} {
		if got := exchange(tc.req, tc.replies); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.req, got, tc.want)
		}
	}
	// A pipeline larger than the read buffer, answered in order.
	var req strings.Builder
	var want strings.Builder
	for i := range 2000 {
		req.WriteString("*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
		if i%2 == 0 {
			req.WriteString("PING\r\n")
		}
		want.WriteString("$1\r\nb\r\n")
		if i%2 == 0 {
			want.WriteString("+PONG\r\n")
		}
	}
	if got := exchange(req.String(), 3000); got != want.String() {
		t.Errorf("pipeline of 3000 commands: got %d bytes, want %d", len(got), want.Len())
	}
	if err := checkRESP(l.Addr().String()); err != nil {
		t.Errorf("checkRESP: %v", err)
	}
}
