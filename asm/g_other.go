//go:build !amd64 && !arm64

package asm

import (
	"bytes"
	"runtime"
	"strconv"
)

// G returns an identity token for the calling goroutine, never 0, only to
// be compared.
//
// On this architecture there is no assembly reading the g pointer, so the
// token is the goroutine's id parsed from the header of runtime.Stack
// ("goroutine 42 [running]:"): that costs a microsecond or more, thousands
// of times the amd64/arm64 version, so do not put it on a hot path here.
// Unlike a g pointer, an id is never reused.
func G() uintptr {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil || id == 0 {
		panic("asm: G: cannot parse the goroutine id from runtime.Stack: " + strconv.Quote(string(buf[:])))
	}
	return uintptr(id)
}
