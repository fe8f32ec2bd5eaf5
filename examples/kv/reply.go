package main

import (
	"strconv"
)

// A replies buffer collects RESP2 replies; the client writes them out once
// per batch of commands.
type replies struct {
	b []byte
}

func (w *replies) ok() { w.b = append(w.b, "+OK\r\n"...) }

func (w *replies) simple(s string) {
	w.b = append(w.b, '+')
	w.b = append(w.b, s...)
	w.b = append(w.b, "\r\n"...)
}

// err appends an error reply. msg is the whole text after '-', such as
// "ERR syntax error"; CR and LF are blanked, as Redis does, so that a
// message quoting the client's input cannot break the protocol.
func (w *replies) err(msg string) {
	w.b = append(w.b, '-')
	start := len(w.b)
	w.b = append(w.b, msg...)
	for i := start; i < len(w.b); i++ {
		if w.b[i] == '\r' || w.b[i] == '\n' {
			w.b[i] = ' '
		}
	}
	w.b = append(w.b, "\r\n"...)
}

func (w *replies) int(n int64) {
	switch n {
	case 0:
		w.b = append(w.b, ":0\r\n"...)
	case 1:
		w.b = append(w.b, ":1\r\n"...)
	default:
		w.b = append(w.b, ':')
		w.b = strconv.AppendInt(w.b, n, 10)
		w.b = append(w.b, "\r\n"...)
	}
}

func (w *replies) bulk(v []byte) {
	w.b = append(w.b, '$')
	w.b = strconv.AppendInt(w.b, int64(len(v)), 10)
	w.b = append(w.b, "\r\n"...)
	w.b = append(w.b, v...)
	w.b = append(w.b, "\r\n"...)
}

func (w *replies) bulkString(s string) {
	w.b = append(w.b, '$')
	w.b = strconv.AppendInt(w.b, int64(len(s)), 10)
	w.b = append(w.b, "\r\n"...)
	w.b = append(w.b, s...)
	w.b = append(w.b, "\r\n"...)
}

func (w *replies) null() { w.b = append(w.b, "$-1\r\n"...) }

func (w *replies) array(n int) {
	w.b = append(w.b, '*')
	w.b = strconv.AppendInt(w.b, int64(n), 10)
	w.b = append(w.b, "\r\n"...)
}

// The error replies that commands share, worded as Redis words them.
const (
	errSyntax     = "ERR syntax error"
	errNotInteger = "ERR value is not an integer or out of range"
	errOverflow   = "ERR increment or decrement would overflow"
)

func (w *replies) arity(name string) {
	w.err("ERR wrong number of arguments for '" + name + "' command")
}
