package main

import "bytes"

// maxParams is RFC 2812's limit on a message's parameters.
const maxParams = 15

// A message is one parsed input line. Its byte slices point into the
// line, which is valid only until the client's next read: a command keeps
// what it needs as strings.
type message struct {
	cmd    [16]byte // the command, upper-cased; longer ones are unknown
	cmdLen int
	raw    []byte // the command as sent (for 421), at most 64 bytes
	params [maxParams][]byte
	n      int
}

// command returns the upper-cased command.
func (m *message) command() []byte { return m.cmd[:m.cmdLen] }

// param returns parameter i as a string, or "" if there is none.
func (m *message) param(i int) string {
	if i < m.n {
		return string(m.params[i])
	}
	return ""
}

// parse splits a line (without its line end) into m:
//
//	message = [ ":" prefix SPACE ] command [ params ]
//	params  = *14( SPACE middle ) [ SPACE ":" trailing ]
//
// A prefix from a client is ignored (RFC 2812 2.3: it must be the
// client's own nick, and servers drop it). Runs of spaces count as one
// separator, as most servers accept. It reports false for a line with no
// command.
func (m *message) parse(line []byte) bool {
	m.n, m.cmdLen, m.raw = 0, 0, nil
	line = bytes.TrimLeft(line, " ")
	if len(line) > 0 && line[0] == ':' {
		i := bytes.IndexByte(line, ' ')
		if i < 0 {
			return false
		}
		line = bytes.TrimLeft(line[i:], " ")
	}
	i := bytes.IndexByte(line, ' ')
	if i < 0 {
		i = len(line)
	}
	cmd := line[:i]
	if len(cmd) == 0 {
		return false
	}
	m.raw = cmd[:min(len(cmd), 64)]
	if len(cmd) <= len(m.cmd) {
		for j, c := range cmd {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			m.cmd[j] = c
		}
		m.cmdLen = len(cmd)
	} else {
		m.cmdLen = 0 // too long for any command: unknown
	}
	line = line[i:]
	for m.n < maxParams {
		line = bytes.TrimLeft(line, " ")
		if len(line) == 0 {
			break
		}
		if line[0] == ':' || m.n == maxParams-1 {
			if line[0] == ':' {
				line = line[1:]
			}
			m.params[m.n] = line
			m.n++
			break
		}
		j := bytes.IndexByte(line, ' ')
		if j < 0 {
			j = len(line)
		}
		m.params[m.n] = line[:j]
		m.n++
		line = line[j:]
	}
	return true
}
