package main

import (
	"fmt"
	"unicode/utf8"
)

// tokenType says what a token is.
type tokenType uint8

const (
	tokEOF    tokenType = iota // end of input; the last token
	tokError                   // a lexical error; val is the message
	tokEnd                     // end of a statement: a newline or ';'
	tokNumber                  // a decimal integer literal
	tokIdent                   // a name
	tokLet                     // the keyword "let"
	tokOp                      // one of + - * / % ( ) =
)

// A token is what the lexer hands the parser.
type token struct {
	typ  tokenType
	line int    // the line it starts on, from 1
	val  string // its text (a slice of the source), or an error message
}

func (t token) String() string {
	switch t.typ {
	case tokEOF:
		return "end of input"
	case tokEnd:
		if t.val == "\n" {
			return "end of line"
		}
		return "';'"
	}
	return fmt.Sprintf("%q", t.val)
}

// A lexer turns source text into tokens, in the style of Rob Pike's
// "Lexical Scanning in Go" (2011): the lexer is a set of state functions,
// each of which scans a little, emits what it found and returns the next
// state.
//
// How the tokens reach the parser is the driver's business (pipeline.go):
// emit may switch to the parser's context (contexts), yield to an iter.Pull
// (pull), send on a channel to the parser's goroutine (chan), or append to
// a queue that the parser drains, running the states on demand (state).
// The state functions are the same in every pipeline. Each state emits at
// most one token, so the state pipeline needs a one-token buffer, not a
// queue.
type lexer struct {
	src   string
	start int // start of the token being scanned
	pos   int // next byte to read
	line  int // line of src[start]
	// emit hands a token on; false means the consumer has gone and the
	// lexer must stop.
	emit func(token) bool
	done bool // emit returned false
}

// stateFn is a state of the lexer: it scans and returns the next state, or
// nil at the end of input.
type stateFn func(*lexer) stateFn

func newLexer(src string, emit func(token) bool) *lexer {
	return &lexer{src: src, line: 1, emit: emit}
}

// run runs the lexer to the end of its input, or until the consumer
// goes. It is the body of the contexts, pull and chan pipelines.
func (l *lexer) run() {
	for state := stateFn(lexStatement); state != nil && !l.done; {
		state = state(l)
	}
}

// put emits the token src[start:pos] of type typ.
func (l *lexer) put(typ tokenType) {
	l.send(token{typ: typ, line: l.line, val: l.src[l.start:l.pos]})
	l.start = l.pos
}

func (l *lexer) send(t token) {
	if !l.emit(t) {
		l.done = true
	}
}

// errorf emits an error token and skips what was scanned.
func (l *lexer) errorf(format string, args ...any) stateFn {
	l.send(token{typ: tokError, line: l.line, val: fmt.Sprintf(format, args...)})
	l.start = l.pos
	return lexStatement
}

// lexStatement is the state between tokens.
func lexStatement(l *lexer) stateFn {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\r':
			l.pos++
			l.start = l.pos
		case c == '#':
			return lexComment
		case c == '\n' || c == ';':
			l.pos++
			l.put(tokEnd)
			if c == '\n' {
				l.line++
			}
			return lexStatement
		case isDigit(c):
			return lexNumber
		case isLetter(c):
			return lexIdent
		case c == '+' || c == '-' || c == '*' || c == '/' || c == '%' ||
			c == '(' || c == ')' || c == '=':
			l.pos++
			l.put(tokOp)
			return lexStatement
		default:
			r, n := utf8.DecodeRuneInString(l.src[l.pos:])
			l.pos += n
			return l.errorf("bad character %q", r)
		}
	}
	l.send(token{typ: tokEOF, line: l.line})
	return nil
}

// lexComment skips a comment up to, not including, the end of the line.
func lexComment(l *lexer) stateFn {
	for l.pos < len(l.src) && l.src[l.pos] != '\n' {
		l.pos++
	}
	l.start = l.pos
	return lexStatement
}

// lexNumber scans a decimal integer.
func lexNumber(l *lexer) stateFn {
	for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
		l.pos++
	}
	l.put(tokNumber)
	return lexStatement
}

// lexIdent scans a name or the keyword let.
func lexIdent(l *lexer) stateFn {
	for l.pos < len(l.src) && (isLetter(l.src[l.pos]) || isDigit(l.src[l.pos])) {
		l.pos++
	}
	if l.src[l.start:l.pos] == "let" {
		l.put(tokLet)
	} else {
		l.put(tokIdent)
	}
	return lexStatement
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }
