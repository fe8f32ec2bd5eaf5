package main

import (
	"bytes"
	"math"
	"strconv"
)

// The request side of RESP2, parsed in place: a command's arguments are
// slices of the client's input buffer, valid until the next read. The
// parser follows redis-server's processMultibulkBuffer and
// processInlineBuffer (networking.c) byte for byte where the wire shows
// it: the same error texts, the same limits, the same leniency (the two
// bytes after a bulk argument are skipped unchecked, as Redis does).

// maxInline is PROTO_INLINE_MAX_SIZE: the longest inline command, and the
// longest a multibulk or bulk header may go without its "\r".
const maxInline = 64 << 10

// A protoError is a protocol error: the client gets it as an error reply
// and the connection is closed after the reply, as Redis does.
type protoError string

func (e protoError) Error() string { return string(e) }

var (
	errBigInline    = protoError("Protocol error: too big inline request")
	errBigMbulk     = protoError("Protocol error: too big mbulk count string")
	errBigBulkCount = protoError("Protocol error: too big bulk count string")
	errMbulkLen     = protoError("Protocol error: invalid multibulk length")
	errBulkLen      = protoError("Protocol error: invalid bulk length")
	errUnbalanced   = protoError("Protocol error: unbalanced quotes in request")
)

// errExpectedDollar is the error for a bulk header that does not start
// with '$'. Like every Redis error reply, it has CR and LF blanked out.
func errExpectedDollar(got byte) protoError {
	if got == '\r' || got == '\n' {
		got = ' '
	}
	return protoError("Protocol error: expected '$', got '" + string(rune(got)) + "'")
}

// span is an argument, as offsets from the start of its command.
type span struct{ off, len int }

// A parser splits a byte stream into commands. It keeps its progress
// through an incomplete command, so a command that arrives in many reads
// is scanned once, and the buffer that holds it may move or grow between
// calls: the parser's state is offsets from the command's first byte.
type parser struct {
	maxArgs int // longest multibulk; longer is "invalid multibulk length"
	maxBulk int // longest bulk argument; longer is "invalid bulk length"
	// slowOnly turns the fast path (whole) off, for tests that compare
	// it with the general parser.
	slowOnly bool

	pos   int    // next byte of the command to look at
	left  int    // multibulk: arguments still to read; 0 before the header
	bulk  int    // length of the bulk whose header was read; -1 if none
	spans []span // arguments of a multibulk read so far
	args  [][]byte
}

func newParser(maxArgs, maxBulk int) *parser {
	return &parser{maxArgs: maxArgs, maxBulk: maxBulk, bulk: -1}
}

// next parses the command at the start of b, which holds the unconsumed
// input: b must start at the same byte on every call until next returns
// n > 0. It returns the command's length n and its arguments (slices of b,
// empty for the commands Redis skips: "*0", "*-1", a blank inline line);
// or n == 0 and no error when the command is not complete yet; or a
// *protoError.
func (p *parser) next(b []byte) (n int, args [][]byte, err error) {
	if len(b) == 0 {
		return 0, nil, nil
	}
	if b[0] != '*' {
		return p.inline(b)
	}
	if p.left == 0 && !p.slowOnly {
		if n, args, ok := p.whole(b); ok {
			return n, args, nil
		}
	}
	if p.left == 0 {
		i := bytes.IndexByte(b, '\r')
		if i < 0 {
			if len(b) > maxInline {
				return 0, nil, errBigMbulk
			}
			return 0, nil, nil
		}
		if i+2 > len(b) { // the "\n" (not checked, as in Redis) is missing
			return 0, nil, nil
		}
		ll, ok := string2ll(b[1:i])
		if !ok || ll > math.MaxInt32 || ll > int64(p.maxArgs) {
			return 0, nil, errMbulkLen
		}
		if ll <= 0 {
			return i + 2, p.args[:0], nil
		}
		p.pos = i + 2
		p.left = int(ll)
		p.bulk = -1
		p.spans = p.spans[:0]
	}
	for p.left > 0 {
		if p.bulk < 0 {
			i := bytes.IndexByte(b[p.pos:], '\r')
			if i < 0 {
				if len(b)-p.pos > maxInline {
					return 0, nil, p.fail(errBigBulkCount)
				}
				return 0, nil, nil
			}
			i += p.pos
			if i+2 > len(b) {
				return 0, nil, nil
			}
			if b[p.pos] != '$' {
				return 0, nil, p.fail(errExpectedDollar(b[p.pos]))
			}
			ll, ok := string2ll(b[p.pos+1 : i])
			if !ok || ll < 0 || ll > int64(p.maxBulk) {
				return 0, nil, p.fail(errBulkLen)
			}
			p.pos = i + 2
			p.bulk = int(ll)
		}
		if len(b)-p.pos < p.bulk+2 {
			return 0, nil, nil
		}
		p.spans = append(p.spans, span{p.pos, p.bulk})
		p.pos += p.bulk + 2
		p.bulk = -1
		p.left--
	}
	args = p.args[:0]
	for _, s := range p.spans {
		args = append(args, b[s.off:s.off+s.len:s.off+s.len])
	}
	p.args = args
	n = p.pos
	p.reset()
	return n, args, nil
}

// whole is next's fast path for a multibulk command that is all in b
// and well formed, as a pipelined client sends them: one pass, lengths
// parsed as they are scanned, the arguments sliced out at once. It gives
// up (ok false, nothing changed) on anything else — an incomplete
// command, a malformed or unusual header, a limit crossed — and next
// then parses the command from its start the general way, which gives
// the same result as Redis for every input (FuzzParse and
// TestParseFastPath compare the two).
func (p *parser) whole(b []byte) (n int, args [][]byte, ok bool) {
	left, i, ok := header(b, 1)
	if !ok || left == 0 || left > p.maxArgs {
		return 0, nil, false
	}
	args = p.args[:0]
	for ; left > 0; left-- {
		if i >= len(b) || b[i] != '$' {
			return 0, nil, false
		}
		var l int
		if i+4 <= len(b) && b[i+2] == '\r' && b[i+1]-'0' <= 9 {
			// One digit, the common case, without a call.
			l, i = int(b[i+1]-'0'), i+4
		} else if l, i, ok = header(b, i+1); !ok {
			return 0, nil, false
		}
		if l > p.maxBulk || len(b)-i < l+2 {
			return 0, nil, false
		}
		args = append(args, b[i:i+l:i+l])
		i += l + 2 // the "\r\n" after a bulk is not checked, as in Redis
	}
	p.args = args
	return i, args, true
}

// header parses the length of a multibulk or bulk header in b from i:
// digits then "\r" and one more byte (the "\n", not checked, as Redis
// does not). It returns the length and the index after the header, or
// ok false for what the general parser must handle: no digits, a leading
// zero (but "0" itself), a sign, more than 9 digits, or the header not
// all in b. The lengths it accepts are those string2ll accepts, read the
// same.
func header(b []byte, i int) (v, next int, ok bool) {
	start := i
	for ; i < len(b) && i-start < 10; i++ {
		c := b[i]
		if c == '\r' {
			if i == start || b[start] == '0' && i-start > 1 || i+2 > len(b) {
				return 0, 0, false
			}
			return v, i + 2, true
		}
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		v = v*10 + int(c-'0')
	}
	return 0, 0, false
}

// fail resets the parser and returns err.
func (p *parser) fail(err error) error {
	p.reset()
	return err
}

func (p *parser) reset() {
	p.pos, p.left, p.bulk = 0, 0, -1
	p.spans = p.spans[:0]
}

// need returns how many bytes of the command at the start of the input
// the parser needs before it can make progress: the whole of a bulk
// argument whose header it has read, else just one more byte.
func (p *parser) need(have int) int {
	if p.left > 0 && p.bulk >= 0 {
		return p.pos + p.bulk + 2
	}
	return have + 1
}

// inline parses a command written as a line of words, as typed into
// telnet: Redis's sdssplitargs rules, quotes and escapes included. The
// words are decoded in place: a decoded word is never longer than its
// spelling, and the line is consumed anyway.
func (p *parser) inline(b []byte) (int, [][]byte, error) {
	i := bytes.IndexByte(b[p.pos:], '\n')
	if i < 0 {
		if len(b) > maxInline {
			p.pos = 0
			return 0, nil, errBigInline
		}
		p.pos = len(b) // scan only the new bytes next time
		return 0, nil, nil
	}
	i += p.pos
	p.pos = 0
	line := b[:i]
	if i > 0 && b[i-1] == '\r' {
		line = b[:i-1]
	}
	args, ok := splitArgs(line, p.args[:0])
	p.args = args
	if !ok {
		return 0, nil, errUnbalanced
	}
	return i + 1, args, nil
}

// splitArgs splits line into arguments the way Redis's sdssplitargs does,
// decoding into line itself, and appends them to args. It reports false
// for unbalanced quotes. Like the C original, it stops at a NUL byte.
func splitArgs(line []byte, args [][]byte) ([][]byte, bool) {
	if k := bytes.IndexByte(line, 0); k >= 0 {
		line = line[:k]
	}
	at := func(i int) byte { // the C string's byte i: 0 past the end
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	r, w := 0, 0 // read and write positions
	for {
		for r < len(line) && isSpace(line[r]) {
			r++
		}
		if r == len(line) {
			return args, true
		}
		start := w
		inq, insq, done := false, false, false
		for !done {
			c := at(r)
			switch {
			case inq:
				switch {
				case c == '\\' && at(r+1) == 'x' && isHex(at(r+2)) && isHex(at(r+3)):
					line[w] = unhex(at(r+2))<<4 | unhex(at(r+3))
					w++
					r += 3
				case c == '\\' && at(r+1) != 0:
					r++
					switch e := line[r]; e {
					case 'n':
						line[w] = '\n'
					case 'r':
						line[w] = '\r'
					case 't':
						line[w] = '\t'
					case 'b':
						line[w] = '\b'
					case 'a':
						line[w] = '\a'
					default:
						line[w] = e
					}
					w++
				case c == '"':
					// A closing quote must be followed by a space or
					// nothing at all.
					if n := at(r + 1); n != 0 && !isSpace(n) {
						return args, false
					}
					done = true
				case c == 0:
					return args, false // unterminated quotes
				default:
					line[w] = c
					w++
				}
			case insq:
				switch {
				case c == '\\' && at(r+1) == '\'':
					r++
					line[w] = '\''
					w++
				case c == '\'':
					if n := at(r + 1); n != 0 && !isSpace(n) {
						return args, false
					}
					done = true
				case c == 0:
					return args, false
				default:
					line[w] = c
					w++
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					line[w] = c
					w++
				}
			}
			if c != 0 {
				r++
			}
		}
		args = append(args, line[start:w:w])
	}
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// string2ll parses a decimal int64 exactly as Redis's string2ll does: no
// sign but '-', no leading zeros, no spaces, fewer than 21 bytes.
func string2ll(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) >= 21 {
		return 0, false
	}
	if len(s) == 1 && s[0] == '0' {
		return 0, true
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
		if len(s) == 0 {
			return 0, false
		}
	}
	if s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > math.MaxUint64/10 {
			return 0, false
		}
		v *= 10
		if v > math.MaxUint64-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// appendCommand serializes args as a multibulk command, as clients send
// them (and as the fuzz test round-trips them).
func appendCommand(b []byte, args ...[]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, "\r\n"...)
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}
