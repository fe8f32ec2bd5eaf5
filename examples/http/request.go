package main

import "bytes"

// A request is the parsed header of one HTTP/1.x request. Its byte slices
// point into the connection's read buffer: they are valid until the buffer
// is compacted or refilled, which happens only between batches.
type request struct {
	method        []byte
	target        []byte // as sent: origin-form, or the path of absolute-form
	minor         int    // HTTP/1.minor; minor ≥ 1 is served as HTTP/1.1
	keepAlive     bool   // the connection persists after the response
	contentLength int64  // -1 when absent
}

// Status codes the parser reports. Zero means the header is valid.
const (
	statusBadRequest     = 400
	statusLengthRequired = 411
	statusHeaderTooLarge = 431
	statusURITooLong     = 414
	statusBadVersion     = 505
)

// headerEnd returns the length of the header block at the start of b,
// through its empty line, or -1 if b does not hold a complete one yet. The
// search starts at from (≥ 0): a caller that saw -1 passes len(b)-3 next
// time, so that a header trickling in a byte at a time (slowloris) is
// scanned once, not once per byte. Lines may end in CRLF or a bare LF, as
// RFC 9112 §2.2 allows a recipient to accept.
func headerEnd(b []byte, from int) int {
	i := max(from, 0)
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
		if i+1 >= len(b) {
			return -1
		}
	}
}

// parseRequest parses the complete header block h (as measured by
// headerEnd) into req and returns 0, or the status code with which to
// refuse the request: 400 for bad syntax, a missing or repeated Host on
// HTTP/1.1, a bad or conflicting Content-Length, or a Transfer-Encoding
// that does not end in chunked (RFC 9112 §6.3); 411 for a chunked body,
// which this server does not decode (it reads bodies by Content-Length
// only); 505 for an HTTP major version other than 1. It does not allocate.
func parseRequest(h []byte, req *request) int {
	*req = request{contentLength: -1}
	line, rest := nextLine(h)
	if status := parseRequestLine(line, req); status != 0 {
		return status
	}
	req.keepAlive = req.minor >= 1
	hosts := 0
	te := false
	chunked := false
	for {
		line, rest = nextLine(rest)
		if len(line) == 0 {
			break // the empty line that ends the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			return statusBadRequest // obs-fold: RFC 9112 §5.2 allows rejecting it
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return statusBadRequest // also catches "Name : value"
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !validValue(value) {
			return statusBadRequest
		}
		switch {
		case equalFold(name, "host"):
			hosts++
		case equalFold(name, "content-length"):
			n, ok := parseLength(value)
			if !ok || (req.contentLength >= 0 && n != req.contentLength) {
				return statusBadRequest
			}
			req.contentLength = n
		case equalFold(name, "transfer-encoding"):
			te = true
			// Only the last coding matters for framing; a request whose
			// final coding is not chunked has no reliable length.
			chunked = equalFold(lastToken(value), "chunked")
		case equalFold(name, "connection"):
			for v := value; len(v) > 0; {
				var tok []byte
				tok, v = nextToken(v)
				if equalFold(tok, "close") {
					req.keepAlive = false
				} else if equalFold(tok, "keep-alive") && req.minor == 0 {
					req.keepAlive = true
				}
			}
		}
	}
	switch {
	case req.minor >= 1 && hosts != 1, hosts > 1:
		return statusBadRequest // RFC 9112 §3.2
	case te && (req.contentLength >= 0 || req.minor == 0 || !chunked):
		return statusBadRequest // smuggling hazards, RFC 9112 §6.1 and §6.3
	case te:
		return statusLengthRequired
	}
	return 0
}

// parseRequestLine parses "METHOD SP target SP HTTP/d.d".
func parseRequestLine(line []byte, req *request) int {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !isToken(line[:sp]) {
		return statusBadRequest
	}
	req.method, line = line[:sp], line[sp+1:]
	sp = bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return statusBadRequest
	}
	target, version := line[:sp], line[sp+1:]
	for _, c := range target {
		if c <= ' ' || c == 0x7f {
			return statusBadRequest
		}
	}
	if len(version) != 8 || string(version[:5]) != "HTTP/" || !isDigit(version[5]) ||
		version[6] != '.' || !isDigit(version[7]) {
		return statusBadRequest
	}
	if version[5] != '1' {
		return statusBadVersion
	}
	req.minor = int(version[7] - '0')
	// The absolute form (RFC 9112 §3.2.2) must be accepted by servers:
	// serve its path.
	if target[0] != '/' {
		var ok bool
		if target, ok = absolutePath(target); !ok {
			return statusBadRequest
		}
	}
	req.target = target
	return 0
}

// absolutePath returns the path of an absolute-form target such as
// "http://example.com/x", or "/" when it has none.
func absolutePath(target []byte) ([]byte, bool) {
	i := bytes.Index(target, []byte("://"))
	if i <= 0 || !(equalFold(target[:i], "http") || equalFold(target[:i], "https")) {
		return nil, false
	}
	rest := target[i+3:]
	if j := bytes.IndexByte(rest, '/'); j >= 0 {
		return rest[j:], true
	}
	return []byte("/"), true
}

// nextLine splits b after its first line, dropping the line ending (CRLF
// or LF). A bare CR stays in the line, where validValue refuses it.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parseLength parses a Content-Length value: digits only, no sign, no
// list, at most 18 digits (no overflow).
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// nextToken splits the first element off a comma-separated list.
func nextToken(v []byte) (tok, rest []byte) {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return trimOWS(v[:i]), v[i+1:]
	}
	return trimOWS(v), nil
}

// lastToken returns the last element of a comma-separated list.
func lastToken(v []byte) []byte {
	if i := bytes.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return trimOWS(v)
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// validValue reports whether a field value has no control characters but
// HTAB (RFC 9110 §5.5; obs-text, bytes ≥ 0x80, is allowed).
func validValue(v []byte) bool {
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// equalFold reports whether b equals the lower-case ASCII string s,
// ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isToken reports whether b is a non-empty RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChar[c] {
			return false
		}
	}
	return true
}

// tokenChar is RFC 9110's tchar.
var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
