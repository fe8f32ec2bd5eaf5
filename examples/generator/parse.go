package main

import (
	"fmt"
	"math"
	"strconv"
)

// maxDepth bounds the nesting of parentheses and unary minus, so that
// hostile input cannot grow the parser's stack without bound.
const maxDepth = 200

// A parser reads statements of the calc language from a token source and
// evaluates them as it goes:
//
//	stmt    = "let" name "=" expr | expr | (nothing)
//	expr    = term { ("+" | "-") term }
//	term    = unary { ("*" | "/" | "%") unary }
//	unary   = "-" unary | primary
//	primary = number | name | "(" expr ")"
//
// Statements end at a newline or ';'. Values are int64; overflow, division
// by zero and undefined names are errors. For each statement the parser
// appends one line to out: "name = value" for let, the value for an
// expression, or "line N: message" for an error, after which it skips to
// the end of the statement.
type parser struct {
	next  func() token // the token source: the pipeline under test
	tok   token        // the current token
	vars  map[string]int64
	out   []byte
	err   string // the statement's first error; "" if none
	depth int
}

func newParser(next func() token) *parser {
	return &parser{next: next, vars: make(map[string]int64)}
}

// parseAll consumes every token up to and including tokEOF.
func (p *parser) parseAll() {
	p.advance()
	for p.tok.typ != tokEOF {
		p.statement()
	}
}

func (p *parser) advance() { p.tok = p.next() }

// fail records the statement's first error.
func (p *parser) fail(line int, format string, args ...any) {
	if p.err == "" {
		p.err = "line " + strconv.Itoa(line) + ": " + fmt.Sprintf(format, args...)
	}
}

// unexpected records an error about the current token.
func (p *parser) unexpected() {
	if p.tok.typ == tokError {
		p.fail(p.tok.line, "%s", p.tok.val)
		return
	}
	p.fail(p.tok.line, "unexpected %v", p.tok)
}

// statement parses and evaluates one statement, and leaves the current
// token after its end.
func (p *parser) statement() {
	p.err = ""
	if p.tok.typ == tokEnd {
		p.advance() // an empty statement prints nothing
		return
	}
	name := ""
	if p.tok.typ == tokLet {
		p.advance()
		if p.tok.typ != tokIdent {
			p.unexpected()
		} else {
			name = p.tok.val
			p.advance()
			if p.tok.typ != tokOp || p.tok.val != "=" {
				p.unexpected()
			} else {
				p.advance()
			}
		}
	}
	var v int64
	if p.err == "" {
		v = p.expr()
	}
	if p.err == "" && p.tok.typ != tokEnd && p.tok.typ != tokEOF {
		p.unexpected()
	}
	// Skip the rest of a bad statement.
	for p.tok.typ != tokEnd && p.tok.typ != tokEOF {
		p.advance()
	}
	if p.tok.typ == tokEnd {
		p.advance()
	}
	switch {
	case p.err != "":
		p.out = append(p.out, p.err...)
	case name != "":
		p.vars[name] = v
		p.out = append(p.out, name...)
		p.out = append(p.out, " = "...)
		p.out = strconv.AppendInt(p.out, v, 10)
	default:
		p.out = strconv.AppendInt(p.out, v, 10)
	}
	p.out = append(p.out, '\n')
}

func (p *parser) isOp(ops string) (byte, bool) {
	if p.tok.typ != tokOp {
		return 0, false
	}
	for i := 0; i < len(ops); i++ {
		if p.tok.val[0] == ops[i] {
			return ops[i], true
		}
	}
	return 0, false
}

func (p *parser) expr() int64 {
	v := p.term()
	for p.err == "" {
		op, ok := p.isOp("+-")
		if !ok {
			break
		}
		line := p.tok.line
		p.advance()
		w := p.term()
		if p.err != "" {
			break
		}
		v = p.arith(line, op, v, w)
	}
	return v
}

func (p *parser) term() int64 {
	v := p.unary()
	for p.err == "" {
		op, ok := p.isOp("*/%")
		if !ok {
			break
		}
		line := p.tok.line
		p.advance()
		w := p.unary()
		if p.err != "" {
			break
		}
		v = p.arith(line, op, v, w)
	}
	return v
}

func (p *parser) unary() int64 {
	if _, ok := p.isOp("-"); ok {
		line := p.tok.line
		if !p.enter() {
			return 0
		}
		p.advance()
		v := p.unary()
		p.depth--
		return p.arith(line, '-', 0, v)
	}
	return p.primary()
}

// enter counts one level of nesting and fails past maxDepth.
func (p *parser) enter() bool {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.tok.line, "expression nested too deeply")
		p.depth--
		return false
	}
	return true
}

func (p *parser) primary() int64 {
	t := p.tok
	switch {
	case t.typ == tokNumber:
		p.advance()
		v, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			p.fail(t.line, "number too large: %s", t.val)
		}
		return v
	case t.typ == tokIdent:
		p.advance()
		v, ok := p.vars[t.val]
		if !ok {
			p.fail(t.line, "undefined: %s", t.val)
		}
		return v
	case t.typ == tokOp && t.val == "(":
		if !p.enter() {
			return 0
		}
		p.advance()
		v := p.expr()
		p.depth--
		if p.err == "" {
			if _, ok := p.isOp(")"); !ok {
				p.unexpected()
			} else {
				p.advance()
			}
		}
		return v
	}
	p.unexpected()
	return 0
}

// arith applies op, reporting overflow and division by zero.
func (p *parser) arith(line int, op byte, a, b int64) int64 {
	if p.err != "" {
		return 0
	}
	overflow := false
	var r int64
	switch op {
	case '+':
		r = a + b
		overflow = (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b)
	case '-':
		r = a - b
		overflow = (b < 0 && a > math.MaxInt64+b) || (b > 0 && a < math.MinInt64+b)
	case '*':
		r = a * b
		overflow = a != 0 && (r/a != b || (a == -1 && b == math.MinInt64))
	case '/', '%':
		if b == 0 {
			p.fail(line, "division by zero")
			return 0
		}
		if a == math.MinInt64 && b == -1 {
			overflow = op == '/'
		} else if op == '/' {
			r = a / b
		} else {
			r = a % b
		}
	}
	if overflow {
		p.fail(line, "overflow")
		return 0
	}
	return r
}
