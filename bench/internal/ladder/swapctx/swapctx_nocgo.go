//go:build !cgo || !linux

package swapctx

import "errors"

// Available reports whether the package was built with cgo.
const Available = false

// Reason says why the row is skipped.
const Reason = "built without cgo (CGO_ENABLED=0 or no C compiler): glibc swapcontext cannot be called"

// PingPong is unavailable without cgo.
func PingPong(int) (int64, error) { return 0, errors.New("swapctx: " + Reason) }
