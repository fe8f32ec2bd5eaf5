package main

import (
	"fmt"
	"iter"

	ucontext "github.com/coopgo/coop/context"
)

// A pipeline evaluates a calc program and returns its output. Every
// pipeline runs the same lexer states (lex.go) and the same parser
// (parse.go); they differ only in how a token travels from one to the
// other, which is what the benchmark measures.
type pipeline func(src string) []byte

// pipelines, by the name -impl takes.
var pipelines = map[string]pipeline{
	"contexts": evalContexts,
	"pull":     evalPull,
	"chan":     evalChan,
	"state":    evalState,
}

// pipelineNames in the order the benchmark and the usage text list them.
var pipelineNames = []string{"contexts", "pull", "chan", "state"}

// evalContexts runs the lexer and the parser as two user contexts of one
// ucontext.Run. The lexer is written straight through, as if it called
// the parser; its emit stores the token and Swaps to the parser, and the
// parser's next Swaps back to the lexer, which resumes in the middle of
// its state, right after the emit. One token costs two Swaps, each one
// coroutine switch, with no scheduler and no channel in between.
func evalContexts(src string) []byte {
	var out []byte
	ucontext.Run(func() {
		parserCtx := ucontext.Current()
		var tok token
		lexerCtx := ucontext.Make(func() {
			l := newLexer(src, func(t token) bool {
				tok = t
				ucontext.Swap(parserCtx)
				return true
			})
			l.run()
			// The parser stops asking at tokEOF; should it ask again it
			// gets tokEOF again rather than a switch to a finished context.
			for {
				tok = token{typ: tokEOF, line: l.line}
				ucontext.Swap(parserCtx)
			}
		}, nil)
		p := newParser(func() token {
			ucontext.Swap(lexerCtx)
			return tok
		})
		p.parseAll()
		out = p.out
		// Returning ends the Run (this context's link is nil); the lexer,
		// suspended in its emit, is unwound.
	})
	return out
}

// lexSeq is the lexer as an iterator: the same states, with yield as emit.
func lexSeq(src string) iter.Seq[token] {
	return func(yield func(token) bool) {
		newLexer(src, yield).run()
	}
}

// evalPull drives the iterator from the parser with iter.Pull, which runs
// the lexer as a coroutine: each next is a switch into the lexer and each
// yield a switch back, the runtime's own form of what evalContexts does.
func evalPull(src string) []byte {
	next, stop := iter.Pull(lexSeq(src))
	defer stop()
	p := newParser(func() token {
		t, ok := next()
		if !ok {
			return token{typ: tokEOF}
		}
		return t
	})
	p.parseAll()
	return p.out
}

// evalChan is Rob Pike's original design: the lexer runs in its own
// goroutine and sends each token on an unbuffered channel. Each token is
// a hand-off through the Go scheduler, and a parser that stops early
// must tell the lexer so (done) or the goroutine leaks.
func evalChan(src string) []byte {
	tokens := make(chan token)
	done := make(chan struct{})
	go func() {
		defer close(tokens)
		newLexer(src, func(t token) bool {
			select {
			case tokens <- t:
				return true
			case <-done:
				return false
			}
		}).run()
	}()
	defer close(done)
	p := newParser(func() token {
		t, ok := <-tokens
		if !ok {
			return token{typ: tokEOF}
		}
		return t
	})
	p.parseAll()
	return p.out
}

// evalState is where Pike's talk ends up: no coroutine at all. The
// parser's next runs lexer states until one emits a token; the lexer's
// position between tokens is held by the state function it returned,
// its program counter made explicit. This is the baseline: every other
// pipeline adds its switching cost to it.
func evalState(src string) []byte {
	var tok token
	have := false
	l := newLexer(src, func(t token) bool {
		tok, have = t, true
		return true
	})
	state := stateFn(lexStatement)
	p := newParser(func() token {
		for !have {
			if state == nil {
				return token{typ: tokEOF, line: l.line}
			}
			state = state(l)
		}
		have = false
		return tok
	})
	p.parseAll()
	return p.out
}

func lookupPipeline(name string) (pipeline, error) {
	if p, ok := pipelines[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("unknown -impl %q (want one of %v)", name, pipelineNames)
}
