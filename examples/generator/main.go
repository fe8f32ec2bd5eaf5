// Command generator shows package ucontext without any networking: a lexer
// and a parser for a small calculator language, written as coroutines.
//
// The lexer is written as Rob Pike's lexer in "Lexical Scanning in Go"
// (state functions that emit tokens), and the parser is an ordinary
// recursive-descent parser that asks for the next token. In the
// "contexts" pipeline the two are user contexts of one ucontext.Run: the
// lexer's emit Swaps to the parser, the parser's next Swaps back, and each
// resumes exactly where it was, on its own stack. The same lexer and
// parser are also wired as an iterator driven by iter.Pull ("pull"), as
// goroutines and a channel ("chan", Pike's original), and as a plain state
// machine run on demand ("state", where Pike's talk ends up). All four
// print the same output; the benchmark compares what a token costs in
// each:
//
//	go test -bench . ./examples/generator
//
// The language, one statement per line or ';':
//
//	let x = 6 * 7     # prints "x = 42"
//	x / (2 - 2)       # prints "line 2: division by zero"
//
// Usage:
//
//	generator [-impl contexts|pull|chan|state] [file ...]
//
// With no file it reads standard input. Errors in the program are printed
// as "line N: message" and evaluation goes on with the next statement.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("generator: ")
	impl := flag.String("impl", "contexts", fmt.Sprintf("how tokens travel from lexer to parser: one of %v", pipelineNames))
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: generator [-impl contexts|pull|chan|state] [file ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	eval, err := lookupPipeline(*impl)
	if err != nil {
		log.Print(err)
		flag.Usage()
		os.Exit(2)
	}
	// Each input is a separate program with its own variables.
	var inputs []string
	if flag.NArg() == 0 {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			log.Fatal(err)
		}
		inputs = append(inputs, string(b))
	}
	for _, name := range flag.Args() {
		b, err := os.ReadFile(name)
		if err != nil {
			log.Fatal(err)
		}
		inputs = append(inputs, string(b))
	}
	for _, src := range inputs {
		if _, err := os.Stdout.Write(eval(src)); err != nil {
			log.Fatal(err)
		}
	}
}
