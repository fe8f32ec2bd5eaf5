package main

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// The tally protocol, shared by both implementations. A line is at most
// maxLine bytes with its "\n" (a "\r" before it is dropped); commands are
// case-insensitive; every command gets exactly one reply line:
//
//	ADD <n>      add the integer n to the session's sum   OK <sum>
//	SUM          the sum                                  SUM <sum>
//	AVG          the mean of the values added, 2 decimals AVG <mean>
//	RESET        forget the values                        OK 0
//	TICK <ms>    every ms milliseconds (10..60000) send   OK
//	             "TICK <seq> <sum>"; TICK 0 stops
//	PING                                                  PONG
//	QUIT         end the session                          BYE
//
// Errors are "ERR <reason>" and the session goes on, except for a line
// over maxLine ("ERR line too long"), after which the server closes. A
// session that sends nothing for the idle timeout gets "BYE idle" and is
// closed; one that does not read its replies for as long is dropped.
// Empty lines are ignored. At end of input (the client's half-close) the
// server answers what it has read, a last line without "\n" included, and
// closes.

const (
	maxLine    = 512     // bytes per line, "\n" included
	maxPending = 1 << 20 // bytes of replies a session may have unsent
	minTick    = 10 * time.Millisecond
	maxTick    = 60 * time.Second
	// lingerTime bounds how long a closing session keeps reading (and
	// discarding) after its last reply, so that unread input does not
	// make the kernel reset the connection before that reply arrives.
	lingerTime = time.Second
)

// A tally is the state of one session.
type tally struct {
	count, sum int64
	tickEvery  time.Duration // 0: no ticks
	tickSeq    int64
}

// action tells the driver what a command changed besides the reply.
type action uint8

const (
	actNone action = iota
	actTick        // tickEvery changed
	actQuit        // close after the reply
)

// exec runs one line, without its "\n", and appends the reply to out.
// An empty line appends nothing.
func (t *tally) exec(line, out []byte) ([]byte, action) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	fields := bytes.Fields(line)
	if len(fields) == 0 {
		return out, actNone
	}
	cmd, args := fields[0], fields[1:]
	nargs := func(n int, usage string) bool {
		if len(args) != n {
			out = append(out, "ERR usage: "+usage+"\n"...)
			return false
		}
		return true
	}
	act := actNone
	switch string(bytes.ToUpper(cmd)) {
	case "ADD":
		if !nargs(1, "ADD <integer>") {
			break
		}
		n, err := strconv.ParseInt(string(args[0]), 10, 64)
		if err != nil {
			out = appendErrQuoted(out, "bad integer", args[0])
			break
		}
		if (n > 0 && t.sum > math.MaxInt64-n) || (n < 0 && t.sum < math.MinInt64-n) {
			out = append(out, "ERR overflow\n"...)
			break
		}
		t.count++
		t.sum += n
		out = appendInt(append(out, "OK "...), t.sum)
	case "SUM":
		if nargs(0, "SUM") {
			out = appendInt(append(out, "SUM "...), t.sum)
		}
	case "AVG":
		if !nargs(0, "AVG") {
			break
		}
		if t.count == 0 {
			out = append(out, "ERR no values\n"...)
			break
		}
		out = append(out, "AVG "...)
		out = strconv.AppendFloat(out, float64(t.sum)/float64(t.count), 'f', 2, 64)
		out = append(out, '\n')
	case "RESET":
		if nargs(0, "RESET") {
			t.count, t.sum = 0, 0
			out = append(out, "OK 0\n"...)
		}
	case "TICK":
		if !nargs(1, "TICK <milliseconds>") {
			break
		}
		ms, err := strconv.ParseInt(string(args[0]), 10, 64)
		d := time.Duration(ms) * time.Millisecond
		if err != nil || (ms != 0 && (d < minTick || d > maxTick)) {
			out = append(out, "ERR TICK wants 0 or 10..60000 milliseconds\n"...)
			break
		}
		t.tickEvery = d
		act = actTick
		out = append(out, "OK\n"...)
	case "PING":
		if nargs(0, "PING") {
			out = append(out, "PONG\n"...)
		}
	case "QUIT":
		act = actQuit
		out = append(out, "BYE\n"...)
	default:
		out = appendErrQuoted(out, "unknown command", cmd)
	}
	return out, act
}

// tick appends the next tick line to out.
func (t *tally) tick(out []byte) []byte {
	t.tickSeq++
	out = strconv.AppendInt(append(out, "TICK "...), t.tickSeq, 10)
	return appendInt(append(out, ' '), t.sum)
}

func appendInt(out []byte, v int64) []byte {
	return append(strconv.AppendInt(out, v, 10), '\n')
}

// appendErrQuoted appends "ERR what "word"", the word cut to 32 bytes.
func appendErrQuoted(out []byte, what string, word []byte) []byte {
	if len(word) > 32 {
		word = word[:32]
	}
	out = append(out, "ERR "+what+" "...)
	out = strconv.AppendQuote(out, string(word))
	return append(out, '\n')
}

// Replies the servers send on their own.
const (
	replyTooLong  = "ERR line too long\n"
	replyIdle     = "BYE idle\n"
	replyShutdown = "BYE shutdown\n"
)

// nextTick returns the time of the tick after the one due at prev: a
// fixed rate, skipping ticks that could not be sent in time.
func nextTick(prev, now time.Time, every time.Duration) time.Time {
	next := prev.Add(every)
	if next.Before(now) {
		next = now.Add(every)
	}
	return next
}
