//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"context"
	"os"

	"github.com/coopgo/coop/sched"
)

// The errors a dial whose context ended returns, as package net's: the
// same messages, and errors.Is matches the context's errors. (net's own
// are not exported.)
var (
	errCanceled = canceledError{}
	errTimeout  = timeoutError{}
)

type canceledError struct{}

func (canceledError) Error() string { return "operation was canceled" }

// Is reports whether target is context.Canceled.
func (canceledError) Is(target error) bool { return target == context.Canceled }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// Is reports whether target is context.DeadlineExceeded or
// os.ErrDeadlineExceeded: a dial past its context's deadline is a timeout
// in both of Go's vocabularies.
func (timeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

// mapContextErr maps a context's error to net's, as net's mapErr does.
func mapContextErr(err error) error {
	switch err {
	case context.Canceled:
		return errCanceled
	case context.DeadlineExceeded:
		return errTimeout
	}
	return err
}

// connContext returns the context of connection c accepted on a listener
// whose context is base (nil with no BaseContext).
func (srv *Server) connContext(base context.Context, c *Conn) context.Context {
	ctx := base
	if ctx == nil {
		ctx = context.Background()
	}
	if srv.ConnContext != nil {
		if ctx = srv.ConnContext(ctx, c); ctx == nil {
			panic("netio: Server.ConnContext returned a nil context")
		}
	}
	return ctx
}

// underContext runs fn, a connection's task, bound to the connection's
// context.
func underContext(ctx context.Context, fn func()) {
	release := sched.BindContext(ctx)
	defer release()
	fn()
}
