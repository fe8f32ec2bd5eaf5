//go:build linux

package clients

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/coopgo/coop/bench/internal/child"
)

// The reference servers written in Go for the study run as roles of the
// bench binary (package child): net/http, and a minimal RESP server on
// package net.
const (
	netHTTPRole = "clients-nethttp"
	netRESPRole = "clients-netresp"
)

func init() {
	child.Register(netHTTPRole, netHTTPMain)
	child.Register(netRESPRole, netRESPMain)
}

// helloBody is examples/http's body for / and /hello, and its
// Content-Type; the net/http and nginx references answer with the same.
const (
	helloPath  = "/hello"
	helloBody  = "Hello, World!\n"
	helloCType = "text/plain; charset=utf-8"
)

func addrFlag(role string, args []string) (string, error) {
	fs := flag.NewFlagSet(role, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	return *addr, nil
}

// netHTTPMain serves "/" and "/hello" as examples/http does, with
// net/http: the same body and Content-Type, an explicit Content-Length,
// and "Server: net/http" standing for examples/http's "Server: coop", so
// that the responses have the same header fields (net/http adds Date).
func netHTTPMain(args []string) error {
	addr, err := addrFlag(netHTTPRole, args)
	if err != nil {
		return err
	}
	ctype, clen, server := []string{helloCType}, []string{strconv.Itoa(len(helloBody))}, []string{"net/http"}
	body := []byte(helloBody)
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != helloPath {
			http.NotFound(w, r)
			return
		}
		hdr := w.Header()
		hdr["Server"], hdr["Content-Type"], hdr["Content-Length"] = server, ctype, clen
		if r.Method != http.MethodHead {
			w.Write(body)
		}
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	return (&http.Server{Handler: http.HandlerFunc(h)}).Serve(l)
}

// netRESPMain is a minimal Redis-protocol server on package net, a
// goroutine per connection: a reference for examples/kv under
// redis-benchmark, not a Redis. It knows PING, SET key value, GET key and
// CONFIG GET (an empty array: redis-benchmark asks for two parameters at
// start-up); anything else gets an error. The keys are a map behind a
// mutex. Commands arrive as multibulk arrays or inline lines. Its flush
// policy is examples/kv's: every command already in the read buffer is
// answered, and the replies go out in one write once the buffer is empty
// (or the 64 KiB write buffer is full).
func netRESPMain(args []string) error {
	addr, err := addrFlag(netRESPRole, args)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	st := &respStore{m: make(map[string][]byte)}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go st.serve(c)
	}
}

type respStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Limits as examples/kv's defaults: most arguments, longest argument.
const (
	respMaxArgs = 1 << 20
	respMaxBulk = 64 << 20
)

var errProto = errors.New("Protocol error")

func (st *respStore) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 16<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	var args [][]byte
	var scratch []byte
	for {
		var err error
		args, scratch, err = readCommand(r, args[:0], scratch[:0])
		if err != nil {
			if errors.Is(err, errProto) {
				w.WriteString("-ERR " + err.Error() + "\r\n")
				w.Flush()
			}
			return
		}
		if len(args) > 0 {
			st.exec(w, args)
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// readCommand reads one command, a multibulk array or an inline line, into
// args; the arguments point into scratch, which it returns grown.
func readCommand(r *bufio.Reader, args [][]byte, scratch []byte) ([][]byte, []byte, error) {
	line, err := readLine(r)
	if err != nil {
		return args, scratch, err
	}
	if len(line) == 0 || line[0] != '*' {
		// Inline: words separated by spaces.
		for _, f := range bytes.Fields(line) {
			scratch = append(scratch, f...)
		}
		off := 0
		for _, f := range bytes.Fields(line) {
			args = append(args, scratch[off:off+len(f)])
			off += len(f)
		}
		return args, scratch, nil
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n > respMaxArgs {
		return args, scratch, fmt.Errorf("%w: invalid multibulk length", errProto)
	}
	var endsBuf [8]int
	ends := endsBuf[:0]
	for range max(n, 0) {
		line, err := readLine(r)
		if err != nil {
			return args, scratch, err
		}
		if len(line) == 0 || line[0] != '$' {
			return args, scratch, fmt.Errorf("%w: expected '$', got '%c'", errProto, firstByte(line))
		}
		size, err := strconv.Atoi(string(line[1:]))
		if err != nil || size < 0 || size > respMaxBulk {
			return args, scratch, fmt.Errorf("%w: invalid bulk length", errProto)
		}
		start := len(scratch)
		scratch = slices.Grow(scratch, size+2)[:start+size+2]
		if _, err := io.ReadFull(r, scratch[start:]); err != nil {
			return args, scratch, err
		}
		if !bytes.HasSuffix(scratch, []byte("\r\n")) {
			return args, scratch, fmt.Errorf("%w: bulk not ended by CRLF", errProto)
		}
		scratch = scratch[:len(scratch)-2]
		ends = append(ends, len(scratch))
	}
	start := 0
	for _, e := range ends {
		args = append(args, scratch[start:e])
		start = e
	}
	return args, scratch, nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return ' '
	}
	return b[0]
}

// readLine reads a line ended by LF (CRLF, or a bare LF as Redis accepts
// inline) without its end; at most 64 KiB.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: too big inline request", errProto)
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (st *respStore) exec(w *bufio.Writer, args [][]byte) {
	is := func(name string) bool { return bytes.EqualFold(args[0], []byte(name)) }
	switch {
	case is("GET") && len(args) == 2:
		st.mu.Lock()
		v, ok := st.m[string(args[1])]
		st.mu.Unlock()
		if !ok {
			w.WriteString("$-1\r\n")
		} else {
			writeBulk(w, v)
		}
	case is("SET") && len(args) == 3:
		v := bytes.Clone(args[2])
		st.mu.Lock()
		st.m[string(args[1])] = v
		st.mu.Unlock()
		w.WriteString("+OK\r\n")
	case is("PING") && len(args) == 1:
		w.WriteString("+PONG\r\n")
	case is("PING") && len(args) == 2:
		writeBulk(w, args[1])
	case is("CONFIG") && len(args) >= 3 && bytes.EqualFold(args[1], []byte("GET")):
		w.WriteString("*0\r\n")
	case is("PING") || is("SET") || is("GET") || is("CONFIG"):
		w.WriteString("-ERR wrong number of arguments for '" + string(bytes.ToLower(args[0])) + "' command\r\n")
	default:
		w.WriteString("-ERR unknown command '" + string(args[0]) + "'\r\n")
	}
}

func writeBulk(w *bufio.Writer, v []byte) {
	var buf [24]byte
	w.WriteByte('$')
	w.Write(strconv.AppendInt(buf[:0], int64(len(v)), 10))
	w.WriteString("\r\n")
	w.Write(v)
	w.WriteString("\r\n")
}
