//go:build linux

package models

import (
	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/sched"
)

// The coop models: the same echo protocol on coop's scheduler and netio.
// The handler is written blocking-style, like the net model's; what
// differs is underneath: one locked thread per scheduler, raw syscalls on
// non-blocking sockets, readiness edges remembered, one read and one write
// per request.
func init() {
	Register(Model{
		Name:  "coop-task",
		What:  "coop: a task per connection (netio.Server.Handler), one scheduler",
		Serve: func(opt Options) error { return serveCoop(opt, false, 1) },
	})
	Register(Model{
		Name:  "coop-ready",
		What:  "coop: ready mode, no task or stack while idle (netio.Server.Ready), one scheduler",
		Serve: func(opt Options) error { return serveCoop(opt, true, 1) },
	})
	Register(Model{
		Name:       "coop-group",
		What:       "coop: sched.Group of 2 schedulers, a SO_REUSEPORT listener each, task per connection",
		GOMAXPROCS: 2,
		MultiCore:  true,
		Serve:      func(opt Options) error { return serveCoop(opt, false, 2) },
	})
}

// serveCoop serves echo with n schedulers made with more (and
// WithKeepAlive); ready selects ready mode.
func serveCoop(opt Options, ready bool, n int, more ...sched.Option) error {
	g := sched.NewGroup(n, append([]sched.Option{sched.WithKeepAlive()}, more...)...)
	lc := netio.ListenConfig{Backlog: Backlog}
	ls, err := lc.ListenGroup(g, "tcp4", opt.Addr)
	if err != nil {
		return err
	}
	srv := &netio.Server{}
	if ready {
		// Ready runs when the connection is readable and returns to idle
		// once it has answered what arrived. The buffer is lent by the
		// scheduler for the call: an idle connection holds none, and
		// every connection reads into the same hot buffer, as the state
		// machine's connections share its one buffer.
		srv.Ready = func(c *netio.Conn) error {
			pool := c.Scheduler().Buffers()
			buf := pool.Get(opt.BufSize)
			defer pool.Put(buf)
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return werr
				}
			}
			return err
		}
	} else {
		// A Reader borrows its buffer from the scheduler for each request
		// and gives it back before the task parks for the next one.
		srv.Handler = func(c *netio.Conn) {
			r := netio.NewReaderSize(c, opt.BufSize)
			for {
				b, err := r.Fill()
				if len(b) > 0 {
					if _, werr := c.Write(b); werr != nil {
						endSession("coop", werr)
						return
					}
					r.Discard(len(b))
				}
				if err != nil {
					endSession("coop", err)
					return
				}
			}
		}
	}
	opt.Ready(ls[0].Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeGroup(ls) }()
	if err := g.Run(); err != nil {
		return err
	}
	return <-errc
}
