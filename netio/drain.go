//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package netio

import (
	"context"
	"time"

	"github.com/coopgo/coop/sched"
)

// Draining reports whether the server has begun to drain: Drain has been
// called (its delay is running, or over), or Shutdown or Close has begun.
// It may be called from any goroutine, and costs one atomic load.
//
// A server behind a load balancer uses it twice. Its health endpoint
// fails while Draining reports true, so that the balancer's health check
// takes the server out of rotation while it still serves; and a
// keep-alive session answers its next request with "Connection: close"
// (or the protocol's equivalent) and closes, so that the balancer opens
// its next connection to a server that is not going away instead of
// reusing one that Shutdown will close under it.
func (srv *Server) Draining() bool {
	return srv.draining.Load() || srv.closing.Load()
}

// Drain takes the server out of a load balancer's rotation and then shuts
// it down: from the call on, Draining reports true, while the server goes
// on accepting and serving as before for delay — the time the balancer
// needs to see the health check fail (its check interval times the
// failures it counts, plus one interval); then Drain calls Shutdown(ctx)
// and returns its result.
//
// ctx bounds the whole drain, as a termination grace period does: if it
// ends during the delay, the shutdown begins at once with ctx done, which
// closes every remaining connection, and Drain returns ctx.Err(). A delay
// of 0 is Shutdown with Draining set first.
//
// Drain may be called from any goroutine; from a task it parks the task,
// not the thread. Called from a Handler, it waits for that handler too, as
// Shutdown does: start it in a goroutine or task of its own.
func (srv *Server) Drain(ctx context.Context, delay time.Duration) error {
	srv.draining.Store(true)
	if delay > 0 {
		wait := func() {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
		// From a task, the wait must not block the scheduler's thread;
		// outside a task Offload just calls it.
		sched.Offload(wait)
	}
	cut := ctx.Err()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	// Shutdown may find nothing left to wait for even with ctx done; the
	// drain was still cut short.
	return cut
}
