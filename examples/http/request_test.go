package main

import (
	"strings"
	"testing"
)

func TestHeaderEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET", 27},
		{"GET / HTTP/1.1\nHost: a\n\n", 24},
		{"GET / HTTP/1.1\r\nHost: a\r\n", -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", -1},
		{"GET / HTTP/1.1\r\nHost: a\r", -1},
		{"", -1},
	}
	for _, tt := range tests {
		if got := headerEnd([]byte(tt.in), 0); got != tt.want {
			t.Errorf("headerEnd(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	// Resuming from len-3 after each byte finds the same end.
	full := "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n"
	from := 0
	for i := 1; i <= len(full); i++ {
		n := headerEnd([]byte(full[:i]), from)
		if n >= 0 {
			if i != len(full) || n != len(full) {
				t.Fatalf("byte by byte: end %d at length %d, want %d", n, i, len(full))
			}
			break
		}
		from = max(i-3, 0)
		if i == len(full) {
			t.Fatal("byte by byte: end not found")
		}
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, in  string
		status    int
		target    string
		keepAlive bool
		length    int64
	}{
		{"hello", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, "/", true, -1},
		{"lf only", "GET /a HTTP/1.1\nHost: x\n\n", 0, "/a", true, -1},
		{"close", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n", 0, "/", false, -1},
		{"1.0", "GET / HTTP/1.0\r\n\r\n", 0, "/", false, -1},
		{"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, "/", true, -1},
		{"connection list", "GET / HTTP/1.1\r\nHost: x\r\nConnection: te, close\r\n\r\n", 0, "/", false, -1},
		{"1.2 served as 1.1", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 0, "/", true, -1},
		{"absolute form", "GET http://x/y?z HTTP/1.1\r\nHost: x\r\n\r\n", 0, "/y?z", true, -1},
		{"absolute no path", "GET http://x HTTP/1.1\r\nHost: x\r\n\r\n", 0, "/", true, -1},
		{"content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n", 0, "/", true, 12},
		{"same length twice", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n", 0, "/", true, 3},
		{"ows", "GET / HTTP/1.1\r\nHost:\t x \t\r\n\r\n", 0, "/", true, -1},

		{"no host", "GET / HTTP/1.1\r\n\r\n", 400, "", false, 0},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "", false, 0},
		{"no version", "GET /\r\n\r\n", 400, "", false, 0},
		{"lower version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400, "", false, 0},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "", false, 0},
		{"trailing space", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400, "", false, 0},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "", false, 0},
		{"bad target", "GET x HTTP/1.1\r\nHost: x\r\n\r\n", 400, "", false, 0},
		{"control in target", "GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "", false, 0},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "", false, 0},
		{"no colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "", false, 0},
		{"empty name", "GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", 400, "", false, 0},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, "", false, 0},
		{"bare cr", "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", 400, "", false, 0},
		{"nul in value", "GET / HTTP/1.1\r\nHost: x\x00\r\n\r\n", 400, "", false, 0},
		{"signed length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400, "", false, 0},
		{"length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", 400, "", false, 0},
		{"huge length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "", false, 0},
		{"conflicting lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "", false, 0},
		{"te and length", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n", 400, "", false, 0},
		{"te gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "", false, 0},
		{"te on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "", false, 0},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 411, "", false, 0},
		{"http/2", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "", false, 0},
		{"http/0.9 spelled out", "GET / HTTP/0.9\r\n\r\n", 505, "", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			n := headerEnd(in, 0)
			if n < 0 {
				t.Fatalf("headerEnd: incomplete")
			}
			var req request
			status := parseRequest(in[:n], &req)
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if status != 0 {
				return
			}
			if string(req.target) != tt.target || req.keepAlive != tt.keepAlive || req.contentLength != tt.length {
				t.Errorf("got target %q keepAlive %v length %d, want %q %v %d",
					req.target, req.keepAlive, req.contentLength, tt.target, tt.keepAlive, tt.length)
			}
		})
	}
}

func TestParseRequestAllocs(t *testing.T) {
	in := []byte("GET /hello HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nConnection: keep-alive\r\nUser-Agent: wrk\r\n\r\n")
	var req request
	allocs := testing.AllocsPerRun(100, func() {
		if parseRequest(in[:headerEnd(in, 0)], &req) != 0 {
			t.Fatal("bad request")
		}
	})
	if allocs != 0 {
		t.Errorf("parseRequest: %v allocations, want 0", allocs)
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"a.txt", "a.txt", true},
		{"d/a.txt", "d/a.txt", true},
		{"d//./a.txt", "d/a.txt", true},
		{"d/../a.txt", "a.txt", true},
		{"", ".", true},
		{"%61.txt", "a.txt", true},
		{"../a.txt", "", false},
		{"d/../../a.txt", "", false},
		{"%2e%2e/a.txt", "", false},
		{"..%2fa.txt", "", false},
		{"a%00", "", false},
		{"a%zz", "", false},
		{"a%2", "", false},
		{"..\\a.txt", "", false},
	}
	for _, tt := range tests {
		got, ok := cleanPath([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.0\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"))
	f.Add([]byte("GET http://a/b HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := headerEnd(b, 0)
		if n < 0 {
			return
		}
		var req request
		if parseRequest(b[:n], &req) == 0 {
			if len(req.target) == 0 || req.target[0] != '/' || strings.ContainsAny(string(req.target), " \r\n") {
				t.Fatalf("accepted target %q", req.target)
			}
		}
	})
}
