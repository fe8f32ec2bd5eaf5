package main

import (
	"bytes"
	"errors"
	"io"
)

// errLineTooLong reports an input line over the limit. The line is
// skipped up to its end; reading goes on after it.
var errLineTooLong = errors.New("input line too long")

// A lineReader splits a connection's input into lines of at most max
// bytes, the line end ("\n" or "\r\n") included, as IRC's 512.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int // buf[start:end] is read and not yet returned
	max        int
	skipping   bool // inside a line that was too long: drop up to its "\n"
}

func newLineReader(r io.Reader, limit int) *lineReader {
	return &lineReader{r: r, buf: make([]byte, max(4096, 2*limit)), max: limit}
}

// next returns the next line without its line end, valid until the next
// call. It returns errLineTooLong once for a line over the limit, then
// the lines after it; io.EOF at the end of the stream (a last line
// without a line end is dropped, as IRC servers do); or a read error.
func (lr *lineReader) next() ([]byte, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
			line := lr.buf[lr.start : lr.start+i]
			lr.start += i + 1
			if lr.skipping {
				lr.skipping = false
				continue
			}
			if len(line)+1 > lr.max {
				return nil, errLineTooLong
			}
			return bytes.TrimSuffix(line, []byte{'\r'}), nil
		}
		if lr.end-lr.start >= lr.max {
			// No line end within the limit: drop what is buffered and
			// the rest of the line as it comes.
			lr.start, lr.end = 0, 0
			if !lr.skipping {
				lr.skipping = true
				return nil, errLineTooLong
			}
		}
		if lr.start > 0 {
			lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
			lr.start = 0
		}
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if n == 0 && err != nil {
			return nil, err
		}
	}
}
