//go:build linux

package models

import (
	"github.com/coopgo/coop/netio"
	"github.com/coopgo/coop/netio/prefork"
)

// The seed's hybrid: a pool of processes, each running an event loop.
// Here netio/prefork runs 2 worker processes of one coop scheduler each,
// a task per connection with coop-task's handler, every worker on a
// SO_REUSEPORT socket of its own that the master owns; beside coop-group
// (2 schedulers in one process) and net-2 (2 Ps in one process).
func init() {
	Register(Model{
		Name:      "hybrid",
		What:      "netio/prefork: 2 worker processes × 1 coop scheduler (a task per connection), a SO_REUSEPORT socket each, both CPUs (shared with the client)",
		MultiCore: true,
		Serve:     serveHybrid,
	})
}

func serveHybrid(opt Options) error {
	return runPool(opt, &prefork.Config{
		Workers: 2,
		Cores:   1,
		Mode:    prefork.ReusePort,
		Serve: func(w *prefork.Worker) error {
			return w.Serve(&netio.Server{Handler: func(c *netio.Conn) { poolEcho(c, opt.BufSize) }})
		},
	}, nil)
}

// poolEcho is coop-task's handler (coop.go): a Reader that borrows its
// buffer from the scheduler for each request.
func poolEcho(c *netio.Conn, size int) {
	r := netio.NewReaderSize(c, size)
	for {
		b, err := r.Fill()
		if len(b) > 0 {
			if _, werr := c.Write(b); werr != nil {
				endSession("hybrid", werr)
				return
			}
			r.Discard(len(b))
		}
		if err != nil {
			endSession("hybrid", err)
			return
		}
	}
}
