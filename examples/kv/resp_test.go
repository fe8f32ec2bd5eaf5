package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// event is what parsing yields: a command's arguments or an error.
type event struct {
	Args []string
	Err  string
}

// parseStream parses data as a client's connection delivers it, in
// chunks of chunk bytes (0: all at once), with the parser's limits set
// low for testing, and returns the events up to the first error or the
// end of the complete commands, and the bytes left unconsumed.
func parseStream(t testing.TB, data []byte, chunk int) (events []event, rest int) {
	return parseStreamWith(t, newParser(1024, 1<<20), data, chunk)
}

// parseStreamWith is parseStream with the parser p.
func parseStreamWith(t testing.TB, p *parser, data []byte, chunk int) (events []event, rest int) {
	var buf []byte // unconsumed input, as the client's buffer
	fed := 0
	for steps := 0; ; steps++ {
		if steps > 4*len(data)+8 {
			t.Fatalf("parser does not terminate on %q", data)
		}
		n, args, err := p.next(buf)
		if err != nil {
			return append(events, event{Err: err.Error()}), len(buf) + len(data) - fed
		}
		if n > 0 {
			if n > len(buf) {
				t.Fatalf("parser consumed %d bytes of %d", n, len(buf))
			}
			if len(args) > 0 {
				ev := event{Args: []string{}}
				for _, a := range args {
					ev.Args = append(ev.Args, string(a))
				}
				events = append(events, ev)
			}
			buf = buf[n:]
			continue
		}
		if fed == len(data) {
			return events, len(buf)
		}
		k := len(data) - fed
		if chunk > 0 {
			k = min(k, chunk)
		}
		if steps&(steps-1) == 0 {
			// Move the input: the parser must keep only offsets.
			buf = append([]byte(nil), buf...)
		}
		buf = append(buf, data[fed:fed+k]...)
		fed += k
	}
}

func TestParse(t *testing.T) {
	cmd := func(args ...string) event { return event{Args: args} }
	perr := func(s string) event { return event{Err: "Protocol error: " + s} }
	tests := []struct {
		name string
		in   string
		want []event
		rest int
	}{
		{"multibulk", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", []event{cmd("GET", "k")}, 0},
		{"pipeline", "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", []event{cmd("PING"), cmd("ECHO", "")}, 0},
		{"binary bulk", "*1\r\n$4\r\n\r\n\x00\n\r\n", []event{cmd("\r\n\x00\n")}, 0},
		{"trailer not checked, as Redis", "*1\r\n$4\r\nPINGxx", []event{cmd("PING")}, 0},
		{"empty multibulk skipped", "*0\r\n*-1\r\n*1\r\n$1\r\na\r\n", []event{cmd("a")}, 0},
		{"incomplete", "*2\r\n$3\r\nGET\r\n$1\r\n", nil, 17},
		{"bad multibulk length", "*x\r\n", []event{perr("invalid multibulk length")}, 0},
		{"multibulk length leading zero", "*01\r\n", []event{perr("invalid multibulk length")}, 0},
		{"multibulk length plus sign", "*+1\r\n", []event{perr("invalid multibulk length")}, 0},
		{"multibulk length over limit", "*1025\r\n", []event{perr("invalid multibulk length")}, 0},
		{"multibulk length over int32", "*2147483648\r\n", []event{perr("invalid multibulk length")}, 0},
		{"bad bulk length", "*1\r\n$-1\r\n", []event{perr("invalid bulk length")}, 0},
		{"bulk over limit", "*1\r\n$1048577\r\n", []event{perr("invalid bulk length")}, 0},
		{"expected dollar", "*1\r\nx4\r\nPING\r\n", []event{perr("expected '$', got 'x'")}, 0},
		{"expected dollar, CR blanked", "*1\r\n\r\n", []event{perr("expected '$', got ' '")}, 0},
		{"error after good commands", "*1\r\n$4\r\nPING\r\n*z\r\n", []event{cmd("PING"), perr("invalid multibulk length")}, 0},
		{"inline", "SET k v\r\n", []event{cmd("SET", "k", "v")}, 0},
		{"inline LF only", "GET k\nPING\n", []event{cmd("GET", "k"), cmd("PING")}, 0},
		{"inline blank skipped", "\r\n  \n\t\r\nPING\r\n", []event{cmd("PING")}, 0},
		{"inline quotes", `SET "a b" 'c d' "\x41\n\"" 'it\'s'` + "\r\n", []event{cmd("SET", "a b", "c d", "A\n\"", "it's")}, 0},
		{"inline word glued to quotes", `a"b c"` + "\n", []event{cmd(`ab c`)}, 0},
		{"inline empty quotes", `ECHO ""` + "\n", []event{cmd("ECHO", "")}, 0},
		{"inline NUL ends the line", "ECHO a\x00b c\n", []event{cmd("ECHO", "a")}, 0},
		{"inline vertical tab inside a word", "ECHO a\vb\n", []event{cmd("ECHO", "a\vb")}, 0},
		{"inline unbalanced", `ECHO "abc` + "\r\n", []event{perr("unbalanced quotes in request")}, 0},
		{"inline closing quote glued", `ECHO "a"b` + "\r\n", []event{perr("unbalanced quotes in request")}, 0},
		{"inline incomplete", "PING", nil, 4},
		{"inline too big", strings.Repeat("a", maxInline+1), []event{perr("too big inline request")}, 0},
		{"mbulk count too big", "*" + strings.Repeat("1", maxInline+1), []event{perr("too big mbulk count string")}, 0},
		{"bulk count too big", "*1\r\n$" + strings.Repeat("1", maxInline), []event{perr("too big bulk count string")}, 0},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 3} {
			t.Run(fmt.Sprintf("%s/chunk=%d", tt.name, chunk), func(t *testing.T) {
				got, rest := parseStream(t, []byte(tt.in), chunk)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("parse %q (-want +got):\n%s", tt.in, diff)
				}
				if len(got) > 0 && got[len(got)-1].Err != "" {
					return // what follows an error is not read
				}
				if rest != tt.rest {
					t.Errorf("parse %q: %d bytes left, want %d", tt.in, rest, tt.rest)
				}
			})
		}
	}
}

// slowParser is the parser of parseStream with its fast path off.
func slowParser() *parser {
	p := newParser(1024, 1<<20)
	p.slowOnly = true
	return p
}

// TestParseFastPath checks that the fast path for a whole multibulk
// command takes what pipelined clients send, and that where it gives up
// — or on input that looks like a command but is not — the result is the
// general parser's.
func TestParseFastPath(t *testing.T) {
	for _, in := range []string{
		"*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n",
		"*2\r\n$3\r\nGET\r\n$0\r\n\r\n",
		"*1\r\n$1048576\r\n" + strings.Repeat("v", 1<<20) + "\r\n", // at maxBulk
	} {
		p := newParser(1024, 1<<20)
		if n, args, ok := p.whole([]byte(in)); !ok || n != len(in) || len(args) == 0 {
			t.Errorf("whole(%.40q) = %d, %d args, %v; want the whole command", in, n, len(args), ok)
		}
	}
	for _, in := range []string{
		"*1\r\n$4\r\nPING\r\n",
		"*1\r\n$4\r\nPINGxx",            // trailer not checked
		"*1\r\n$4\r\nPING\r",            // trailer cut short: incomplete
		"*1\r\n$4\r\nPIN",               // incomplete bulk
		"*1\r\n$4\r",                    // header without its "\n" yet
		"*1\r",                          // count without its "\n" yet
		"*1\rx$4\rxPING\r\n",            // the byte after "\r" not checked
		"*0\r\n*1\r\n$1\r\na\r\n",       // empty multibulk
		"*01\r\n$1\r\na\r\n",            // leading zero in the count
		"*1\r\n$01\r\na\r\n",            // leading zero in a length
		"*1\r\n$00\r\n\r\n",             // "00"
		"*1\r\n$-1\r\n",                 // negative length
		"*-1\r\n*1\r\n$1\r\na\r\n",      // negative count
		"*+1\r\n", "*1\r\n$+1\r\na\r\n", // signs
		"*1\r\n$\r\n\r\n", "*\r\n", // no digits
		"*1\r\n$1 \r\na\r\n",                 // a space after the digits
		"*1\r\nx1\r\na\r\n",                  // no '$'
		"*1025\r\n",                          // over maxArgs
		"*1024\r\n",                          // at maxArgs, incomplete
		"*1\r\n$1048577\r\n",                 // over maxBulk
		"*1\r\n$999999999\r\n",               // 9 digits, over maxBulk
		"*1\r\n$1000000000\r\n",              // 10 digits
		"*1\r\n$0000000001\r\na\r\n",         // 10 digits, leading zeros
		"*2147483648\r\n",                    // over int32
		"*2\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n", // a command where an argument should be
	} {
		for _, chunk := range []int{0, 1} {
			fast, restF := parseStream(t, []byte(in), chunk)
			slow, restS := parseStreamWith(t, slowParser(), []byte(in), chunk)
			if diff := cmp.Diff(slow, fast); diff != "" || restF != restS {
				t.Errorf("parse %q, chunk %d: fast path and general parser differ (-general +fast):\n%s\n%d vs %d bytes left", in, chunk, diff, restS, restF)
			}
		}
	}
}

func TestString2ll(t *testing.T) {
	for in, want := range map[string]any{
		"0": int64(0), "1": int64(1), "-1": int64(-1), "10": int64(10),
		"9223372036854775807": int64(9223372036854775807), "-9223372036854775808": int64(-9223372036854775808),
		"9223372036854775808": false, "-9223372036854775809": false, "18446744073709551616": false,
		"": false, "-": false, "-0": false, "01": false, "+1": false, " 1": false, "1 ": false, "1x": false,
		"000000000000000000001": false,
	} {
		v, ok := string2ll([]byte(in))
		if w, isInt := want.(int64); isInt != ok || isInt && v != w {
			t.Errorf("string2ll(%q) = %d, %v; want %v", in, v, ok, want)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", false}, // as Redis: KEYS * has its own shortcut
		{"*", "anything", true},
		{"foo*", "foobar", true},
		{"foo*", "fo", false},
		{"*bar", "foobar", true},
		{"f?o", "foo", true},
		{"f?o", "fo", false},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[b-a]llo", "hallo", true}, // reversed ranges work, as in Redis
		{"h[a-b]llo", "hcllo", false},
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hallo", false},
		{`[\]]`, "]", true},
		{"[abc", "a", true}, // an unclosed class runs to the end
		{"[abc", "ab", false},
		{"a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 60), false}, // not exponential
		{"**x", "abx", true},
		{"x**", "x", true},
		{"", "", true},
		{"", "a", false},
		{"a", "", false},
	}
	for _, tt := range tests {
		if got := globMatch([]byte(tt.pat), []byte(tt.s)); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

// inlineQuote writes args as an inline command that spells every byte as
// a "\xHH" escape.
func inlineQuote(args [][]byte) []byte {
	var b []byte
	for i, a := range args {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, '"')
		for _, c := range a {
			b = fmt.Appendf(b, `\x%02x`, c)
		}
		b = append(b, '"')
	}
	return append(b, "\r\n"...)
}

// FuzzParse feeds arbitrary bytes to the parser, whole and byte by byte.
// It checks that the parser terminates without panicking, that how the
// input is split into reads changes nothing, and that every command it
// yields survives a round trip: serialized as a multibulk (and, when
// short, as an inline command of escapes), it parses back the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n",
		"PING\r\nSET k \"v\\x41\" 'q'\r\n",
		"*1\r\n$-1\r\n", "*x\r\n", "*1\r\nx\r\n", "*0\r\n\n\r\n",
		"*2\r\n$1\r\na\r\n$10\r\nab", "ECHO \"unterminated\r\n",
		"*1\r\n$01\r\na\r\n", "*1\r\n$4\r\nPINGxx*1\r\n$1\r\nb\r", "*2\r\n$0\r\n\r\n$999999999\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, restW := parseStream(t, data, 0)
		// Past maxInline bytes without a line end, when the parser says
		// "too big" depends on how much it has seen, in Redis too.
		bytewise, restB := whole, restW
		if len(data) <= maxInline {
			bytewise, restB = parseStream(t, data, 1)
		}
		if diff := cmp.Diff(whole, bytewise); diff != "" {
			t.Fatalf("parse %q whole vs byte by byte (-whole +bytewise):\n%s", data, diff)
		}
		if restW != restB {
			t.Fatalf("parse %q: %d bytes left whole, %d byte by byte", data, restW, restB)
		}
		// Whole, the fast path parses most commands: the general
		// parser must agree.
		slow, restS := parseStreamWith(t, slowParser(), data, 0)
		if diff := cmp.Diff(slow, whole); diff != "" || restS != restW {
			t.Fatalf("parse %q: fast path and general parser differ (-general +fast):\n%s\n%d vs %d bytes left", data, diff, restS, restW)
		}
		for _, ev := range whole {
			if ev.Err != "" {
				if !strings.HasPrefix(ev.Err, "Protocol error: ") || strings.ContainsAny(ev.Err, "\r\n") {
					t.Fatalf("bad error %q", ev.Err)
				}
				continue
			}
			var args [][]byte
			for _, a := range ev.Args {
				args = append(args, []byte(a))
			}
			roundTrip(t, appendCommand(nil, args...), ev)
			if line := inlineQuote(args); len(line) < maxInline {
				roundTrip(t, line, ev)
			}
		}
	})
}

// roundTrip parses wire, which must be exactly the command want.
func roundTrip(t *testing.T, wire []byte, want event) {
	t.Helper()
	got, rest := parseStream(t, wire, 0)
	if diff := cmp.Diff([]event{want}, got); diff != "" || rest != 0 {
		t.Fatalf("round trip of %q (-want +got):\n%s\n%d bytes left", wire, diff, rest)
	}
}
